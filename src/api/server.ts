import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Callbacks } from './callbacks.js';
import type { JobQueue } from './jobs.js';
import { requestFingerprint, type Outcome, type RequestLog } from './requests.js';
import type { Host } from '../host/context.js';
import { GearError, busy, hostFault, invalid, statusOfKind } from '../model/errors.js';
import { operations, type Operation, type Progress, type RawRequest } from '../operations/index.js';
import { openStream, type StreamingOperation, type StreamRequest } from '../operations/operation.js';
import { pullLine } from '../operations/text.js';
import { allowedNames, refusal } from './guard.js';
import { registerImageRoutes } from './images.js';
import { AgentMetrics } from './metrics.js';
import { EXPOSITION_TYPE } from '../model/metrics.js';
import { openApiDocument } from './openapi.js';
import { registerRegistryRoutes } from './registry.js';
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
  /** What GET /metrics counts (made here when not given). */
  metrics?: AgentMetrics;
}

/** The options as the routes see them: the metrics made when not given. */
type Served = ServerOptions & { metrics: AgentMetrics };

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

function negotiate(request: FastifyRequest): Wanted {
  // X-Accept overrides Accept, as in the seed.
  const accept = String(request.headers['x-accept'] ?? request.headers.accept ?? '');
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

/** An answer ready to send: its body as bytes. */
interface Rendered {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: Buffer | undefined;
}

// A Buffer: Fastify would add "; charset=utf-8" to a JSON type sent with a string.
const bytes = (o: Outcome): Rendered => ({ status: o.status, headers: o.headers, body: o.body ? Buffer.from(o.body) : undefined });
const sendBytes = (reply: FastifyReply, r: Rendered) => reply.code(r.status).headers(r.headers).send(r.body);
const send = (reply: FastifyReply, o: Outcome) => sendBytes(reply, bytes(o));

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
const sendJson = (reply: FastifyReply, status: number, value: unknown, headers: Record<string, string> = {}) =>
  send(reply, { status, headers: { ...headers, 'content-type': JSON_TYPE }, body: JSON.stringify(value) });

function errorBody(err: unknown): { status: number; message: string } {
  if (err instanceof GearError) return { status: statusOfKind[err.kind], message: err.hint ? `${err.message} (${err.hint})` : err.message };
  const fault = hostFault(err);
  if (fault) return { status: statusOfKind[fault.kind], message: fault.message };
  const e = err as { statusCode?: number; message?: string };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { status: e.statusCode, message: e.message ?? 'bad request' };
  return { status: 500, message: 'internal error' };
}

/** Called by Fastify only for a route with a schema: gear declares none, and a new one should validate in its operation's parse. */
const noFastifySchemas = (): never => {
  throw new Error('gear routes declare no Fastify schema: validate in the operation\'s parse (src/operations/operation.ts)');
};

/**
 * The agent's HTTP API, built from the operation definitions: one route
 * per operation, validated by its parse() (its schemas, then its own
 * checks: Fastify validates nothing itself, so nothing is checked twice),
 * answered by its run(). Returned ready but not listening; tests call
 * inject() on it.
 */
export async function buildServer(given: ServerOptions): Promise<FastifyInstance> {
  const opts = { ...given, metrics: given.metrics ?? new AgentMetrics() };
  const log = opts.log ?? (() => undefined);
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? BODY_LIMIT,
    return503OnClosing: true,
    // No route declares a Fastify schema (operations validate in parse()).
    // Fastify's default compilers would load Ajv, ajv-formats and
    // fast-json-stringify at start all the same (1.6 MiB of the idle
    // agent's RSS in the benchmark; 7.5 MiB of an unbundled Fastify app).
    schemaController: { compilersFactory: { buildValidator: noFastifySchemas, buildSerializer: noFastifySchemas } },
  });

  // Bodies are JSON, sent as application/json or with no type (the seed's
  // client); the onRequest guard refused every other type. An empty body is no body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(invalid('request body is not valid JSON'), undefined);
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, message } = errorBody(err);
    if (status >= 500 && !(err instanceof GearError)) log(`error in ${request.method} ${request.url}: ${(err as Error).stack ?? err}`);
    void sendJson(reply, status, { Message: message });
  });
  app.setNotFoundHandler((request, reply) => {
    void sendJson(reply, 404, { Message: `no such route: ${request.method} ${request.url.split('?')[0]}` });
  });

  // Every request passes the guard of the listener that accepted it (token, Host, Origin, Content-Type).
  const names = allowedNames(opts.serverNames);
  app.addHook('onRequest', async (request, reply) => {
    const no = refusal(request.raw, names);
    if (no && isV2Path(request.raw.url))
      return send(reply, { status: no.status, headers: { ...no.headers, ...API_VERSION_HEADER, 'content-type': 'application/json; charset=utf-8' }, body: registryErrorBody(codeOfRefusal(no.status), no.message) });
    if (no) return sendJson(reply, no.status, { Message: no.message }, no.headers);
  });
  // Changes and refusals are logged; answered reads are not (a line per listing cost the agent and journald more than the listing itself).
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode < 400 && (request.method === 'GET' || request.method === 'HEAD')) return;
    log(`${request.method} ${request.url.split('?')[0]} ${reply.statusCode} ${reply.elapsedTime.toFixed(0)}ms`);
  });

  const active = { streams: 0 };
  for (const op of Object.values(operations) as AnyOperation[]) {
    const streaming = op.stream ? (op as StreamingOperation<StreamRequest, unknown>) : undefined;
    app.route({
      method: op.method,
      url: op.path,
      handler: (request, reply) =>
        streaming ? streamAnswer(opts, active, streaming, request, reply) : op.http?.output ? outputAnswer(opts, op, request, reply) : handle(opts, op, request, reply),
    });
  }
  registerImageRoutes(app, { host: opts.host, jobs: opts.jobs, log, metrics: opts.metrics });
  registerRegistryRoutes(app, { host: opts.host, jobs: opts.jobs, log });
  const spec = JSON.stringify(openApiDocument());
  app.get('/openapi.json', (_req, reply) => send(reply, { status: 200, headers: { 'content-type': JSON_TYPE }, body: spec }));
  // Behind the listener's guard like every route: the token on TCP.
  app.get('/metrics', async (_req, reply) =>
    send(reply, { status: 200, headers: { 'content-type': EXPOSITION_TYPE }, body: await opts.metrics.scrape(opts.host, opts.jobs) }),
  );
  app.get('/health', (_req, reply) => sendJson(reply, 200, { Status: 'ok', Jobs: opts.jobs.load }));
  return app;
}

function rawOf(request: FastifyRequest, want: Wanted): RawRequest {
  return {
    params: (request.params ?? {}) as Record<string, string>,
    query: (request.query ?? {}) as Record<string, string | undefined>,
    body: request.body,
    stream: want.stream,
  };
}

async function handle(opts: Served, op: AnyOperation, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const want = negotiate(request);
  const req = op.parse(rawOf(request, want));
  if (!op.mutates) return sendBytes(reply, render(op, await runOp(opts, op, req, {}), want));

  if (want.stream) return streamProgress(opts, op, req, reply, want.jsonStream);
  const id = request.headers['x-request-id'];
  const container = containerOf(req);
  const execute = async () => outcomeOf(op, await runOp(opts, op, req, {}), want);
  if (typeof id === 'string') {
    const fingerprint = requestFingerprint(request.method, request.url, request.body);
    return send(reply, await opts.requests.run(id, fingerprint, execute, { store: !op.secretResult, container }));
  }
  return send(reply, await execute());
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
  const JobId = randomUUID();
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
async function streamProgress(opts: Served, op: AnyOperation, req: unknown, reply: FastifyReply, late: boolean): Promise<void> {
  reply.hijack();
  const out = reply.raw;
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
async function outputAnswer(opts: Served, op: AnyOperation, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const req = op.parse(rawOf(request, negotiate(request)));
  reply.hijack();
  const out = reply.raw;
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
 * or, for JSON, gathered (at most the operation's maxItems). Every form ends
 * at the agent's time limit or when the client goes away, whichever is
 * first, and the operation's reader with it.
 */
async function streamAnswer(opts: Served, active: { streams: number }, op: StreamingOperation<StreamRequest, unknown>, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const want = negotiate(request);
  const req = op.parse(rawOf(request, want)); // bad input is a 400 before any limit is counted
  const max = opts.maxLogStreams ?? MAX_LOG_STREAMS;
  if (active.streams >= max) throw busy(`${max} log requests are being served; retry later`);
  active.streams++;
  const abort = new AbortController();
  const stop = () => abort.abort();
  const limit = setTimeout(stop, opts.logStreamMs ?? 30_000);
  // The response's close (not the request's: that fires once the request is read) means the client left.
  const out = reply.raw;
  out.on('close', stop);
  try {
    const items = await openStream(op, opts.host, req, abort.signal);
    if (!want.stream && want.json) {
      // Gathered in memory: no more than the most items one may ask for, followed or not.
      const all: unknown[] = [];
      for await (const e of items) if (all.push(e) >= op.stream.maxItems) break;
      if (out.destroyed) return void reply.hijack(); // the client left: nobody to answer
      return void send(reply, { status: 200, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(op.stream.json(all)) });
    }
    reply.hijack();
    out.writeHead(want.stream ? 202 : 200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    out.flushHeaders();
    try {
      for await (const e of items) {
        // Backpressure: a client that reads slowly is waited for, not buffered for.
        if (!out.write(op.stream.line(e))) await drained(out, abort.signal);
        if (abort.signal.aborted) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) out.write(`error: ${errorBody(err).message}\n`);
    }
    out.end();
  } finally {
    clearTimeout(limit);
    out.off('close', stop);
    stop(); // whatever ended the answer, the reader ends with it
    active.streams--;
  }
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
