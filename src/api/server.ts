import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { BodyError, hasBody, readJsonBody } from './body.js';
import type { Callbacks } from './callbacks.js';
import type { JobQueue } from './jobs.js';
import { requestFingerprint, type Outcome, type RequestLog } from './requests.js';
import type { Host } from '../host/context.js';
import { GearError, busy, hostFault, invalid, statusOfKind, unavailable } from '../model/errors.js';
import { operations, type Operation, type Progress, type RawRequest } from '../operations/index.js';
import { openStream, type StreamingOperation, type StreamRequest } from '../operations/operation.js';
import { pullLine } from '../operations/text.js';
import { allowedNames, isPeerOrigin, refusal } from './guard.js';
import { registerConsoleRoutes } from './console.js';
import { registerImageRoutes } from './images.js';
import { AgentMetrics } from './metrics.js';
import { EXPOSITION_TYPE } from '../model/metrics.js';
import { openApiDocument } from './openapi.js';
import { registerRegistryRoutes } from './registry.js';
import { Router, type Call } from './router.js';
import type { CallbackPayload } from '../model/callback.js';
import { API_VERSION_HEADER, codeOfRefusal, errorBody as registryErrorBody, isV2Path } from '../model/registry.js';

export interface ServerOptions {
  host: Host;
  jobs: JobQueue;
  requests: RequestLog;
  /** Names the Host header may carry beside IP literals, localhost and this machine's hostname (--server-name). */
  serverNames?: string[];
  /** How long the answer of a streaming operation (logs) may last before it ends (the seed: 30 s). */
  logStreamMs?: number;
  /** Requests of streaming operations (logs) served at once (MAX_LOG_STREAMS). */
  maxLogStreams?: number;
  bodyLimit?: number;
  log?: (line: string) => void;
  /** Job callbacks (a request's Callback URL); without them a request naming one is refused. */
  callbacks?: Callbacks;
  /** Origins of peer agents' consoles (--console-peer): this console may call them, and they may call this agent (CORS). */
  consolePeers?: string[];
  /** Aborted when the agent stops: open event streams end then (they would hold its stop for their whole 10 minutes). */
  stopping?: AbortSignal;
  /** What GET /metrics counts (made here when not given). */
  metrics?: AgentMetrics;
}

/** The options as the routes see them: the metrics made when not given, and who is told when a change ends (the console's event streams). */
type Served = ServerOptions & { metrics: AgentMetrics; changed: Set<() => void> };

/**
 * The type of every JSON answer: exactly this, without `; charset=utf-8`
 * (JSON is UTF-8 by definition), because geard's client takes an answer
 * as JSON only when its type is exactly `application/json`.
 */
const JSON_TYPE = 'application/json';

/** The largest request body the agent reads. */
export const BODY_LIMIT = 1024 * 1024;

type AnyOperation = Operation<unknown, unknown>;

/** What the client asked for in Accept. */
interface Wanted {
  stream: boolean;
  text: boolean;
  json: boolean;
  jsonStream: boolean;
}

function negotiate(req: IncomingMessage): Wanted {
  // X-Accept overrides Accept, as in the seed.
  const accept = String(req.headers['x-accept'] ?? req.headers.accept ?? '');
  const stream = /stream=true/.test(accept);
  // A streamed answer is text, whatever type it names (the seed's clients send application/json;stream=true),
  // except data (below): jsonStream remembers that JSON was named.
  return { stream, text: stream || /text\/plain/.test(accept), json: !stream && /application\/json/.test(accept), jsonStream: stream && /application\/json/.test(accept) };
}

/**
 * Render a result as the seed's API did, as the client asked:
 *   Accept: application/json   200 with the result as JSON
 *   a change, no Accept        204, headers only (e.g. X-PortMapping)
 *   a read with a text form    200 text/plain when asked, or by default if it prefers text (status, env);
 *                              202 when streamed
 *   data, application/json;stream=true   200 JSON, as geard answered its client (list-units)
 *   otherwise                  200 JSON
 */
function outcomeOf(op: AnyOperation, result: unknown, want: Wanted): Outcome {
  const headers = { ...(op.http?.headers?.(result) ?? {}) };
  const json = (): Outcome => ({ status: op.http?.status ?? 200, headers: { ...headers, 'content-type': JSON_TYPE }, body: JSON.stringify(result) });
  if (result === undefined) return { status: 204, headers, body: '' };
  if (want.json) return json();
  if (op.mutates) return { status: 204, headers, body: '' };
  const text = op.http?.text;
  if (want.jsonStream && !op.http?.preferText) return json();
  if (text && (want.text || op.http?.preferText)) return { status: want.stream ? 202 : 200, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' }, body: text(result) };
  return json();
}

/** An answer ready to send: its body as bytes, its headers with their Content-Length. */
interface Rendered {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: Buffer | undefined;
}

// A 204 has no body and no length; every other answer says its length (a HEAD's too, without the body).
function bytes(o: Outcome): Rendered {
  const body = o.body ? Buffer.from(o.body) : undefined;
  return { status: o.status, headers: o.status === 204 ? o.headers : { ...o.headers, 'content-length': String(body?.length ?? 0) }, body };
}
const sendBytes = (res: ServerResponse, r: Rendered) => {
  res.writeHead(r.status, r.headers);
  res.end(r.body);
};
const send = (res: ServerResponse, o: Outcome) => sendBytes(res, bytes(o));

/**
 * Rendered answers of frozen results, by operation and form. A frozen
 * result is its operation's promise that it stands for one state (the
 * listing's: the same object while systemd's units and the store are
 * unchanged), so its bytes are made once per form, not at every request.
 */
const rendered = new WeakMap<object, Map<string, Rendered>>();

function render(op: AnyOperation, result: unknown, want: Wanted): Rendered {
  if (typeof result !== 'object' || result === null || !Object.isFrozen(result)) return bytes(outcomeOf(op, result, want));
  let forms = rendered.get(result);
  if (!forms) rendered.set(result, (forms = new Map()));
  const key = `${op.name} ${+want.stream}${+want.text}${+want.json}${+want.jsonStream}`;
  let r = forms.get(key);
  if (!r) forms.set(key, (r = bytes(outcomeOf(op, result, want))));
  return r;
}

/** A JSON answer, typed exactly application/json. */
const sendJson = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
  send(res, { status, headers: { ...headers, 'content-type': JSON_TYPE }, body: JSON.stringify(value) });

function errorBody(err: unknown): { status: number; message: string } {
  if (err instanceof GearError) return { status: statusOfKind[err.kind], message: err.hint ? `${err.message} (${err.hint})` : err.message };
  const fault = hostFault(err);
  if (fault) return { status: statusOfKind[fault.kind], message: fault.message };
  const e = err as { statusCode?: number; message?: string };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { status: e.statusCode, message: e.message ?? 'bad request' };
  return { status: 500, message: 'internal error' };
}

/** The answer to a peer console's preflight: what its requests may use (no cookies: the token is a header). */
const CORS_PREFLIGHT = {
  'access-control-allow-methods': 'GET, PUT, POST, DELETE, PATCH',
  'access-control-allow-headers': 'authorization, accept, content-type, x-request-id',
  'access-control-max-age': '600',
};

/** The agent's API: its routes as one request handler for every listener (each tags its requests first). */
export interface ApiServer {
  routing(req: IncomingMessage, res: ServerResponse): void;
}

/** The handler of one route, with what the server read for it. */
type Route = (call: Request) => unknown;

/** A request as the routes see it: the call, its query and its body (JSON, or the request itself for a streamed upload). */
export interface Request extends Call {
  query: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * The agent's HTTP API, built from the operation definitions: one route
 * per operation, validated by its parse() (its schemas, then its own
 * checks: nothing else validates, so nothing is checked twice), answered
 * by its run(). Every request passes its listener's guard first, then the
 * route is found and the body read (JSON up to the body limit; an image
 * upload is handed over as a stream), then its handler runs; an error is a
 * JSON {Message}. Tests call routing() through light-my-request's inject().
 */
export function buildServer(given: ServerOptions): ApiServer {
  const opts: Served = { ...given, metrics: given.metrics ?? new AgentMetrics(), changed: new Set() };
  const log = opts.log ?? (() => undefined);
  const limit = opts.bodyLimit ?? BODY_LIMIT;
  const router = new Router();
  /** Routes whose body, when it has the given type, is the request itself (an image archive), never held. */
  const streamed = new Map<Route, string>();
  const route = (methods: string | string[], path: string, handler: Route, streamedType?: string) => {
    router.add(methods, path, handler as (call: Call) => unknown);
    if (streamedType) streamed.set(handler, streamedType);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    const { status, message } = errorBody(err);
    if (status >= 500 && !(err instanceof GearError)) log(`error in ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
    sendJson(res, status, { Message: message });
  };

  const names = allowedNames(opts.serverNames);
  const peers = new Set(opts.consolePeers ?? []);
  const routing = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Changes and refusals are logged; answered reads are not (a line per listing cost the agent and journald more than the listing itself).
    res.once('finish', () => {
      if (res.statusCode < 400 && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS')) return;
      log(`${method} ${path} ${res.statusCode} ${(performance.now() - started).toFixed(0)}ms`);
    });
    // A peer's console: CORS headers first, so that its refusals (a 401 to a token this agent
    // does not take) are readable by the page, and streamed answers carry them too.
    const peer = isPeerOrigin(req, peers);
    if (peer) {
      res.setHeader('access-control-allow-origin', req.headers.origin!);
      res.setHeader('vary', 'Origin');
    }
    // Every request passes the guard of the listener that accepted it (token, Host, Origin, Content-Type), before its body is read.
    const no = refusal(req, names, peers);
    if (no && isV2Path(url))
      return send(res, { status: no.status, headers: { ...no.headers, ...API_VERSION_HEADER, 'content-type': 'application/json; charset=utf-8' }, body: registryErrorBody(codeOfRefusal(no.status), no.message) });
    if (no) return sendJson(res, no.status, { Message: no.message }, no.headers);
    if (peer && method === 'OPTIONS') return void res.writeHead(204, CORS_PREFLIGHT).end();
    let found;
    try {
      found = router.find(method, path);
    } catch (err) {
      return fail(req, res, err);
    }
    if (!found) return sendJson(res, 404, { Message: `no such route: ${method} ${path}` });
    const handler = found.handler as Route;
    const call: Request = { req, res, params: found.params, path, search: q < 0 ? '' : url.slice(q + 1), query: {}, body: undefined };
    if (call.search) call.query = { ...parseQuery(call.search) };
    const type = streamed.get(handler);
    if (type !== undefined && req.headers['content-type']?.toLowerCase().split(';')[0]!.trim() === type) {
      call.body = req;
      return run(handler, call);
    }
    if (!hasBody(req)) return run(handler, call); // a GET's listing waits for no read
    readJsonBody(req, limit).then(
      (body) => {
        call.body = body;
        run(handler, call);
      },
      (err: unknown) => {
        // The client may be sending still: the connection ends with this answer.
        if (!res.headersSent) res.setHeader('connection', 'close');
        fail(req, res, err instanceof BodyError || err instanceof GearError ? err : new BodyError(String(err), 400));
      },
    );
  };
  const run = (handler: Route, call: Request) => {
    try {
      const done = handler(call);
      if (done instanceof Promise) done.catch((err: unknown) => fail(call.req, call.res, err));
    } catch (err) {
      fail(call.req, call.res, err);
    }
  };

  const active = { streams: 0 };
  for (const op of Object.values(operations) as AnyOperation[]) {
    const streaming = op.stream ? (op as StreamingOperation<StreamRequest, unknown>) : undefined;
    route(op.method, op.path, (call) =>
      streaming ? streamAnswer(opts, active, streaming, call) : op.http?.output ? outputAnswer(opts, op, call) : handle(opts, op, call),
    );
  }
  registerImageRoutes(route, { host: opts.host, jobs: opts.jobs, log, metrics: opts.metrics });
  registerRegistryRoutes(route, { host: opts.host, jobs: opts.jobs, log });
  registerConsoleRoutes(route, {
    host: opts.host,
    log,
    peers: opts.consolePeers ?? [],
    stopping: opts.stopping,
    onChange: (listener) => {
      const own = () => listener();
      opts.changed.add(own);
      return () => void opts.changed.delete(own);
    },
  });
  const spec = JSON.stringify(openApiDocument());
  route('GET', '/openapi.json', ({ res }) => send(res, { status: 200, headers: { 'content-type': JSON_TYPE }, body: spec }));
  // Behind the listener's guard like every route: the token on TCP.
  route('GET', '/metrics', async ({ res }) =>
    send(res, { status: 200, headers: { 'content-type': EXPOSITION_TYPE }, body: await opts.metrics.scrape(opts.host, opts.jobs) }),
  );
  route('GET', '/health', ({ res }) => sendJson(res, 200, { Status: 'ok', Jobs: opts.jobs.load }));
  return { routing };
}

/** How image and registry routes are added: methods, path, handler, and the body type handed over as a stream. */
export type AddRoute = (methods: string | string[], path: string, handler: Route, streamedType?: string) => void;

function rawOf(call: Request, want: Wanted): RawRequest {
  return { params: call.params, query: call.query as Record<string, string | undefined>, body: call.body, stream: want.stream };
}

async function handle(opts: Served, op: AnyOperation, call: Request): Promise<unknown> {
  const { req: request, res } = call;
  const want = negotiate(request);
  const req = op.parse(rawOf(call, want));
  if (!op.mutates) return sendBytes(res, render(op, await runOp(opts, op, req, {}), want));

  if (want.stream) return streamProgress(opts, op, req, res, want.jsonStream);
  const id = request.headers['x-request-id'];
  const container = containerOf(req);
  const execute = async () => outcomeOf(op, await runOp(opts, op, req, {}), want);
  if (typeof id === 'string') {
    const fingerprint = requestFingerprint(request.method ?? '', request.url ?? '', call.body);
    return send(res, await opts.requests.run(id, fingerprint, execute, { store: !op.secretResult, container }));
  }
  return send(res, await execute());
}

/**
 * Run an operation in the job queue; a deleted container's remembered
 * answers go with it. A request naming a Callback gets it called when the
 * job ends, whatever its outcome (after the outcome is known, never
 * delaying or changing it).
 */
async function runOp(opts: Served, op: AnyOperation, req: unknown, progress: Progress): Promise<unknown> {
  const callback = callbackOf(req);
  if (callback && !opts.callbacks) throw invalid('body/Callback: this agent has no callback secret to sign with (start it with --callback-secret-file FILE)');
  // A job's id is only told to its callback (made only then: crypto's first load costs the idle agent about 3 MiB).
  const JobId = callback ? randomUUID() : '';
  const container = containerOf(req);
  const job = { JobId, Operation: op.name, ...(container ? { Container: container } : {}) };
  const report = (outcome: Pick<CallbackPayload, 'Result' | 'Error'>) => callback && opts.callbacks?.notify(callback, { ...job, ...outcome });
  if (callback) await opts.callbacks?.begin(callback, job);
  try {
    const result = await opts.metrics.timed(op.name, () => opts.jobs.run(() => op.run(opts.host, req, progress)));
    if (op.forgetsContainer && container) await opts.requests.forget(container);
    report({ Result: 'ok' });
    return result;
  } catch (err) {
    report({ Result: 'failed', Error: errorBody(err).message });
    throw err;
  } finally {
    // A change may touch what systemd does not signal (an install without a start, a delete of an unloaded unit).
    if (op.mutates) for (const l of opts.changed) l();
  }
}

/** The Callback URL a parsed request names (install's, validated by its parse), if any. */
const callbackOf = (req: unknown) => (req as { Callback?: unknown } | undefined)?.Callback as string | undefined;

/** The container a parsed request names (its validated Id), if any. */
const containerOf = (req: unknown) => (req as { Id?: unknown } | undefined)?.Id as string | undefined;

/**
 * A mutating operation with Accept: text/plain;stream=true: 202 at once,
 * then its progress as lines while it runs, then its outcome as the last
 * line ("error: ..." when it failed: the status is already sent).
 *
 * With geard's client's application/json;stream=true (`late`), the head
 * waits until the operation reports its headers (install, once its ports
 * are reserved: X-PortMapping is in the head, where that client reads it)
 * or ends: an error before then is a plain error answer with its status
 * (404, 409, ...), which that client prints. Notes until then are held;
 * pull progress is not (there may be thousands of lines).
 */
async function streamProgress(opts: Served, op: AnyOperation, req: unknown, out: ServerResponse, late: boolean): Promise<void> {
  const held: string[] = [];
  const head = (headers: Record<string, string> = {}) => {
    if (out.headersSent) return;
    out.writeHead(202, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    out.flushHeaders();
    for (const line of held.splice(0)) out.write(line);
  };
  if (!late) head();
  const write = (line: string) => void (out.headersSent ? out.write(line) : held.push(line));
  const progress: Progress = {
    note: (m) => write(`${m}\n`),
    pull: (ref, p) => void (out.headersSent && out.write(pullLine(ref, p))),
    headers: (h) => head(h),
  };
  try {
    const result = await runOp(opts, op, req, progress);
    const headers = op.http?.headers?.(result) ?? {};
    head(headers);
    // In the head for geard's client (it prints the body as is); also as lines for a text/plain stream, whose head went out first.
    if (!late) for (const [k, v] of Object.entries(headers)) out.write(`${k}: ${v}\n`);
    const text = op.http?.text?.(result);
    out.write(text ?? (result === undefined ? 'done\n' : `${JSON.stringify(result)}\n`));
  } catch (err) {
    const { status, message } = errorBody(err);
    if (!out.headersSent) {
      out.writeHead(status, { 'content-type': JSON_TYPE });
      return void out.end(JSON.stringify({ Message: message }));
    }
    out.write(`error: ${message}\n`);
  }
  out.end();
}

/** The trailers of an output answer (jobs, builds): the result as JSON, or the error after the head went out. */
export const RESULT_TRAILER = 'X-Gear-Result';
export const ERROR_TRAILER = 'X-Gear-Error';

/**
 * An operation that runs something whose output is its answer (a job, a
 * build): 202 text/plain once the first output (or the end) comes, the
 * output as it comes (stdout and stderr alike: a caller who wants them
 * apart runs the CLI locally), then the result as JSON in the
 * X-Gear-Result trailer, or the error in X-Gear-Error. An error before any
 * output is a plain error answer (400, 404, ...). The client going away
 * aborts the run (the operation stops its unit).
 */
async function outputAnswer(opts: Served, op: AnyOperation, call: Request): Promise<void> {
  const req = op.parse(rawOf(call, negotiate(call.req)));
  const out = call.res;
  const abort = new AbortController();
  const gone = () => abort.abort();
  out.on('close', gone);
  const head = () => {
    if (out.headersSent) return;
    out.writeHead(202, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', trailer: `${RESULT_TRAILER}, ${ERROR_TRAILER}` });
  };
  const progress: Progress = {
    // Backpressure is not waited for: the container writes at its own pace and the journal keeps it all.
    output: (chunk) => {
      head();
      out.write(chunk);
    },
    note: (m) => {
      head();
      out.write(`${m}\n`);
    },
    signal: abort.signal,
  };
  try {
    const result = await runOp(opts, op, req, progress);
    head();
    out.addTrailers({ [RESULT_TRAILER]: JSON.stringify(result) });
  } catch (err) {
    const { status, message } = errorBody(err);
    if (!out.headersSent) {
      out.writeHead(status, { 'content-type': JSON_TYPE });
      out.end(JSON.stringify({ Message: message }));
      return;
    }
    out.addTrailers({ [ERROR_TRAILER]: encodeURIComponent(message) });
  } finally {
    out.off('close', gone);
  }
  out.end();
}

/** Requests of streaming operations served at once beyond which a new one gets 429 (each may hold a journalctl). */
const MAX_LOG_STREAMS = 64;

/**
 * A streaming operation (GET /container/:id/log). Streamed (Accept:
 * text/plain;stream=true): 202 and its items as they come (the operation's
 * parse makes a streamed request follow); else 200 with them as text lines
 * or, for JSON, gathered (at most the operation's maxItems); as server-sent
 * events (Accept: text/event-stream) when its items have ids. Every form
 * ends at the agent's time limit, when the client goes away or when the
 * agent stops, whichever is first, and the operation's reader with it.
 */
async function streamAnswer(opts: Served, active: { streams: number }, op: StreamingOperation<StreamRequest, unknown>, call: Request): Promise<void> {
  const asked = negotiate(call.req);
  // Server-sent events (an operation whose items have ids): streamed and followed, each item an event whose id is its resume point.
  const events = op.stream.id !== undefined && /text\/event-stream/.test(String(call.req.headers['x-accept'] ?? call.req.headers.accept ?? ''));
  const want = events ? { ...asked, stream: true, text: true, json: false, jsonStream: false } : asked;
  const req = op.parse(rawOf(call, want)); // bad input is a 400 before any limit is counted
  // A stopping agent starts no new stream (a reader's next one would arrive on a connection still open, and hold the stop).
  if (opts.stopping?.aborted) throw unavailable('the agent is stopping');
  const max = opts.maxLogStreams ?? MAX_LOG_STREAMS;
  if (active.streams >= max) throw busy(`${max} log requests are being served; retry later`);
  active.streams++;
  const abort = new AbortController();
  const stop = () => abort.abort();
  const limit = setTimeout(stop, opts.logStreamMs ?? 30_000);
  // The agent stopping ends the stream now, as a complete answer: not cut after the stop's 10 s grace, and a
  // reader that resumes (after=CURSOR) loses nothing by it.
  opts.stopping?.addEventListener('abort', stop, { once: true });
  // The response's close (not the request's: that fires once the request is read) means the client left.
  const out = call.res;
  out.on('close', stop);
  try {
    // Where an event stream starts is read before its reader opens: nothing written in between can fall before it unseen.
    const start = events ? await op.stream.start?.(opts.host, req) : undefined;
    const items = await openStream(op, opts.host, req, abort.signal);
    if (!want.stream && want.json) {
      // Gathered in memory: no more than the most items one may ask for, followed or not.
      const all: unknown[] = [];
      for await (const e of items) if (all.push(e) >= op.stream.maxItems) break;
      if (out.destroyed) return; // the client left: nobody to answer
      return void send(out, { status: 200, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(op.stream.json(all)) });
    }
    if (events) {
      out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
      if (start !== undefined) out.write(`id: ${start}\n\n`);
    } else out.writeHead(want.stream ? 202 : 200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    out.flushHeaders();
    const render = events ? (e: unknown) => sseEvent(op.stream.line(e), op.stream.id!(e)) : (e: unknown) => op.stream.line(e);
    try {
      for await (const e of items) {
        // Backpressure: a client that reads slowly is waited for, not buffered for.
        if (!out.write(render(e))) await drained(out, abort.signal);
        if (abort.signal.aborted) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) out.write(events ? sseEvent(errorBody(err).message, undefined, 'error') : `error: ${errorBody(err).message}\n`);
    }
    out.end();
  } finally {
    clearTimeout(limit);
    opts.stopping?.removeEventListener('abort', stop);
    out.off('close', stop);
    stop(); // whatever ended the answer, the reader ends with it
    active.streams--;
  }
}

/**
 * One server-sent event: its data line by line (a line break of any kind
 * starts a new data line: CR alone would too, to the reader), then its id.
 * A reader takes the id when the event ends (its blank line): one that
 * lost the end keeps the id before it, and is sent the event again.
 */
export function sseEvent(text: string, id: string | undefined, event?: string): string {
  const data = text.replace(/\r?\n$/, '').split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`).join('');
  return `${event ? `event: ${event}\n` : ''}${data}${id !== undefined && !/[\r\n\0]/.test(id) ? `id: ${id}\n` : ''}\n`;
}

/** Until the response drains or the stream is aborted. */
function drained(out: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
