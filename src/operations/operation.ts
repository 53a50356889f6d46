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
  /**
   * The client asked for a streamed answer (HTTP: Accept: ...;stream=true;
   * the CLI: --follow). A streaming operation's parse gives it its defaults
   * (logs: followed, the last 10 lines), the same on every path.
   */
  stream?: boolean;
}

/** Where an operation reports progress while it runs (pull progress, lines of a log). */
export interface Progress {
  pull?(ref: string, p: PullProgress): void;
  note?(message: string): void;
  /** The answer's headers are known (install: once its ports are reserved): a streamed answer for geard's client sends its head then. */
  headers?(headers: Record<string, string>): void;
  /** Output of what the operation runs (a job's, a build's), as it comes: the caller's stdout or stderr. */
  output?(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  /** Aborted when the caller goes away (Ctrl-C, the client disconnected): the operation stops what it runs. */
  signal?: AbortSignal;
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
  /**
   * The operation runs something whose output is its answer (jobs, builds):
   * over HTTP always 202 text/plain, the output streamed as it comes, the
   * result as JSON in the X-Gear-Result trailer (X-Gear-Error when it
   * failed after the head went out); an error before any output is a plain
   * error answer with its status. The client disconnecting aborts it.
   */
  output?: true;
}

/**
 * An operation whose result is a stream of items (the journal): run returns
 * them as they come, and ends them when the request's signal aborts. The
 * agent, the HTTP client and the CLI's local backend all read it through
 * this spec, so every path shows the same lines with the same defaults.
 */
export interface StreamSpec<Item, Req = unknown> {
  /** One item as a line of text, newline included. */
  line(item: Item): string;
  /**
   * Where a reader resumes after this item (the journal's cursor): a
   * text/event-stream answer sends it as the event's id, and the reader
   * asks for what follows it (logs: after=ID). Without it, no such form.
   */
  id?(item: Item): string | undefined;
  /** The resume point the answer starts from, before any item: sent first as a bare id (undefined: none). */
  start?(host: Host, req: Req): Promise<string | undefined>;
  /** The JSON answer (Accept: application/json) of the items read at once. */
  json(items: Item[]): unknown;
  /** The most items gathered in memory for a JSON answer. */
  maxItems: number;
}

/** What a streaming operation's request carries beside its fields: the signal that ends the stream. */
export interface StreamRequest {
  signal?: AbortSignal;
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
  /** Its result is a stream of items (Res is an AsyncIterable of them, Req a StreamRequest). */
  stream?: StreamSpec<unknown>;
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
  /** As RawRequest.stream: the client asked for a streamed answer. */
  stream?: boolean;
}

/** An operation as written: its parse() reads a request its schemas have checked. */
export interface OperationSpec<Req, Res, Q extends TSchema | undefined, B extends TSchema | undefined>
  extends Omit<Operation<Req, Res>, 'body' | 'query' | 'parse'> {
  body?: B;
  query?: Q;
  /** What a schema cannot say: name rules, path normal form, duplicates, cross-field checks; and defaults. */
  parse(req: CheckedRequest<Checked<Q>, Checked<B>>): Req;
  /** A request without a body (the seed's clients send none) is read as no body at all (parse sees undefined). */
  optionalBody?: true;
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
        body: (spec.optionalBody && raw.body == null ? undefined : body?.check(raw.body, 'body/', PREFIX)) as Checked<B>,
        stream: raw.stream,
      }),
  };
}

/** A streaming operation: its result is a stream of Items. */
export type StreamingOperation<Req extends StreamRequest, Item> = Operation<Req, AsyncIterable<Item>> & { stream: StreamSpec<Item> };

/** defineOperation for an operation whose result is a stream of Items (its `stream` spec says how they travel). */
export function defineStreamingOperation<Req extends StreamRequest, Item, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined>(
  spec: OperationSpec<Req, AsyncIterable<Item>, Q, B> & { stream: StreamSpec<Item, NoInfer<Req>> },
): StreamingOperation<Req, Item> {
  return { ...defineOperation(spec), stream: spec.stream };
}

/** Open a streaming operation's stream for a request its parse gave (defaults and all): run, ended by `signal`. */
export async function openStream<Item>(op: StreamingOperation<StreamRequest, Item>, host: Host, req: StreamRequest, signal: AbortSignal): Promise<AsyncIterable<Item>> {
  return op.run(host, { ...req, signal }, {});
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
