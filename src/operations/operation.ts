import type { Static, TSchema } from '@sinclair/typebox';
import type { Host } from '../host/context.js';
import type { PullProgress } from '../host/docker.js';
import { invalid } from '../model/errors.js';
import { validateName } from '../model/names.js';
import { SchemaCheck } from '../model/schema.js';

/**
 * An operation is defined once: how it is addressed over HTTP, how its
 * input is validated, and what it does. The CLI's local mode calls parse()
 * and run() directly; the agent's routes and the HTTP client (issue 3) are
 * derived from the same definition.
 */
export interface RawRequest {
  /** Path parameters, e.g. { id } for /container/:id. */
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body?: unknown;
}

/** Where an operation reports progress while it runs (pull progress, lines of a log). */
export interface Progress {
  pull?(ref: string, p: PullProgress): void;
  note?(message: string): void;
}

/** How a result travels over HTTP. */
export interface HttpSpec<Res> {
  /** Status of a successful JSON answer (default 200; 204 when the result is undefined). */
  status?: number;
  /** Headers derived from the result, e.g. X-PortMapping. */
  headers?: (res: Res) => Record<string, string>;
  /** The plain-text rendering: streamed answers end with it; reads send it when text/plain is asked. */
  text?: (res: Res) => string;
  /** A read whose default answer (no Accept) is its text, like status: systemctl status's text. */
  preferText?: boolean;
}

export interface Operation<Req, Res> {
  name: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  /** Route, with :params (":id" is always a container name). */
  path: string;
  summary: string;
  /** JSON schemas of its body and query: parse() checks requests against them; the agent publishes them in /openapi.json. */
  body?: TSchema;
  query?: TSchema;
  /** Changes the host: its result is remembered under the request's X-Request-Id. */
  mutates: boolean;
  /** Its result carries environment values (secrets): never kept in the X-Request-Id store. */
  secretResult?: boolean;
  /** Removes the container named by the request's Id: its answers in the X-Request-Id store go with it. */
  forgetsContainer?: boolean;
  http?: HttpSpec<Res>;
  /** Validation of a raw request, the one path for the CLI and the agent: the schemas, then the operation's own checks. */
  parse(raw: RawRequest): Req;
  run(host: Host, req: Req, progress: Progress): Promise<Res>;
}

/** What its schemas let through: Static<> of each, undefined for a part the operation does not take. */
type Checked<S> = S extends TSchema ? Static<S> : undefined;

/** A request that passed an operation's schemas. */
export interface CheckedRequest<Q, B> {
  params: Record<string, string>;
  query: Q;
  body: B;
}

/** An operation as written: its parse() reads a request its schemas have checked. */
export interface OperationSpec<Req, Res, Q extends TSchema | undefined, B extends TSchema | undefined>
  extends Omit<Operation<Req, Res>, 'body' | 'query' | 'parse'> {
  body?: B;
  query?: Q;
  /** What a schema cannot say: name rules, path normal form, duplicates, cross-field checks; and defaults. */
  parse(req: CheckedRequest<Checked<Q>, Checked<B>>): Req;
}

const PREFIX = 'invalid request: ';

/**
 * An operation whose parse() runs its schemas (each compiled once, on first
 * use) before its own checks. A part it declares no schema for (most
 * operations take no body) is not read. Messages name the field:
 * "invalid request: body/Ports[0].Internal must be <= 65535".
 */
export function defineOperation<Req, Res, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined>(
  spec: OperationSpec<Req, Res, Q, B>,
): Operation<Req, Res> {
  const query = spec.query && new SchemaCheck(spec.query);
  const body = spec.body && new SchemaCheck(spec.body);
  return {
    ...spec,
    parse: (raw) =>
      spec.parse({
        params: raw.params,
        query: query?.check(raw.query, 'query/', PREFIX) as Checked<Q>,
        body: body?.check(raw.body, 'body/', PREFIX) as Checked<B>,
      }),
  };
}

/** Requests that name just one container. */
export interface IdRequest {
  Id: string;
}
export const parseId = (req: { params: Record<string, string> }): IdRequest => ({ Id: validateName(req.params.id) });

/** A yes/no query parameter: absent or "0"/"false" is false; "", "1" or "true" is true. */
export function queryFlag(value: string | undefined, key: string): boolean {
  if (value !== undefined && !['', '0', '1', 'true', 'false'].includes(value)) throw invalid(`${key} must be 1 or 0 (true or false)`);
  return value === '' || value === '1' || value === 'true';
}
