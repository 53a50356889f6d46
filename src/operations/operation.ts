import type { TSchema } from '@sinclair/typebox';
import type { Host } from '../host/context.js';
import type { PullProgress } from '../host/docker.js';
import { invalid } from '../model/errors.js';
import { validateName } from '../model/names.js';

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

/**
 * An operation whose result is a stream of items (the journal): run returns
 * them as they come, and ends them when the request's signal aborts. The
 * agent, the HTTP client and the CLI's local backend all read it through
 * this spec, so every path shows the same lines with the same defaults.
 */
export interface StreamSpec<Item> {
  /** One item as a line of text, newline included. */
  line(item: Item): string;
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
  /** JSON schemas the agent validates requests against and publishes in /openapi.json. */
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
  parse(raw: RawRequest): Req;
  run(host: Host, req: Req, progress: Progress): Promise<Res>;
}

export const defineOperation = <Req, Res>(op: Operation<Req, Res>) => op;

/** A streaming operation: its result is a stream of Items. */
export type StreamingOperation<Req extends StreamRequest, Item> = Operation<Req, AsyncIterable<Item>> & { stream: StreamSpec<Item> };

export const defineStreamingOperation = <Req extends StreamRequest, Item>(op: StreamingOperation<Req, Item>) => op;

/** Open a streaming operation's stream for a raw request: parsed (defaults and all), run, ended by `signal`. */
export async function openStream<Item>(op: StreamingOperation<StreamRequest, Item>, host: Host, raw: RawRequest, signal: AbortSignal): Promise<AsyncIterable<Item>> {
  return op.run(host, { ...op.parse(raw), signal }, {});
}

/** Object bodies only, and no fields the operation does not know: typos must not pass silently. */
export function bodyObject(body: unknown, known: string[]): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  return body as Record<string, unknown>;
}

export function boolField(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`${field} must be true or false`);
  return value;
}

/** Requests that name just one container. */
export interface IdRequest {
  Id: string;
}
export const parseId = (raw: RawRequest): IdRequest => ({ Id: validateName(raw.params.id) });

/** A yes/no query parameter: absent or "0"/"false" is false; "", "1" or "true" is true. */
export function queryFlag(raw: RawRequest, key: string): boolean {
  const value = raw.query[key];
  if (value !== undefined && !['', '0', '1', 'true', 'false'].includes(value)) throw invalid(`${key} must be 1 or 0 (true or false)`);
  return value === '' || value === '1' || value === 'true';
}
