import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { JobQueue } from '../agent/jobs.js';
import type { Outcome, RequestLog } from '../agent/requests.js';
import type { Host } from '../host/context.js';
import { GearError, invalid, statusOfKind } from '../model/errors.js';
import { operations, type Operation, type Progress, type RawRequest } from '../operations/index.js';
import { journalLine, pullLine } from '../operations/text.js';
import { tokenMatches } from './listen.js';
import { openApiDocument } from './openapi.js';

export interface ServerOptions {
  host: Host;
  jobs: JobQueue;
  requests: RequestLog;
  /** Bearer token every TCP request must carry; unix-socket requests are trusted (file permissions). */
  token?: string;
  /** How long a streamed log follows the journal before it ends (the seed: 30 s). */
  logStreamMs?: number;
  bodyLimit?: number;
  log?: (line: string) => void;
}

type AnyOperation = Operation<unknown, unknown>;

/** What the client asked for in Accept. */
function negotiate(request: FastifyRequest): { stream: boolean; text: boolean; json: boolean } {
  // X-Accept overrides Accept, as in the seed.
  const accept = String(request.headers['x-accept'] ?? request.headers.accept ?? '');
  const stream = /stream=true/.test(accept);
  // A streamed answer is always text, whatever type it names (the seed's clients send application/json;stream=true).
  return { stream, text: stream || /text\/plain/.test(accept), json: !stream && /application\/json/.test(accept) };
}

/**
 * Render a result as the seed's API did, as the client asked:
 *   Accept: application/json   200 with the result as JSON
 *   a change, no Accept        204, headers only (e.g. X-PortMapping)
 *   a read with a text form    200 text/plain when asked, or by default if it prefers text (status, env)
 *   otherwise                  200 JSON
 */
function outcomeOf(op: AnyOperation, result: unknown, request: FastifyRequest): Outcome {
  const headers = { ...(op.http?.headers?.(result) ?? {}) };
  const want = negotiate(request);
  const json = (): Outcome => ({ status: op.http?.status ?? 200, headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(result) });
  if (result === undefined) return { status: 204, headers, body: '' };
  if (want.json) return json();
  if (op.mutates) return { status: 204, headers, body: '' };
  const text = op.http?.text;
  if (text && (want.text || op.http?.preferText)) return { status: want.stream ? 202 : 200, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' }, body: text(result) };
  return json();
}

const send = (reply: FastifyReply, o: Outcome) => reply.code(o.status).headers(o.headers).send(o.body || undefined);

/** ajv's first complaint, naming the offending field ("body/Ports/0/Internal must be integer", "unknown field Bogus"). */
function validationMessage(e: { validation?: unknown; validationContext?: string; message?: string }): string {
  const first = (e.validation as { instancePath?: string; keyword?: string; params?: { additionalProperty?: string } }[])[0];
  if (first?.keyword === 'additionalProperties') {
    const where = `${e.validationContext ?? 'body'}${first.instancePath ?? ''}`;
    return `${where} has an unknown field ${JSON.stringify(first.params?.additionalProperty)}`;
  }
  return e.message ?? 'invalid';
}

function errorBody(err: unknown): { status: number; message: string } {
  if (err instanceof GearError) return { status: statusOfKind[err.kind], message: err.hint ? `${err.message} (${err.hint})` : err.message };
  const e = err as { validation?: unknown; validationContext?: string; statusCode?: number; message?: string; code?: string };
  if (e.validation) return { status: 400, message: `invalid request: ${validationMessage(e)}` };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { status: e.statusCode, message: e.message ?? 'bad request' };
  return { status: 500, message: 'internal error' };
}

/**
 * The agent's HTTP API, built from the operation definitions: one route
 * per operation, validated by its schemas, answered by its run(). Returned
 * ready but not listening; tests call inject() on it.
 */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const log = opts.log ?? (() => undefined);
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });

  // Bodies are JSON whatever the Content-Type says (curl -d sends form type);
  // an empty body is no body.
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
    void reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ Message: message }));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ Message: `no such route: ${request.method} ${request.url.split('?')[0]}` }));
  });

  if (opts.token) {
    const token = opts.token;
    app.addHook('onRequest', async (request, reply) => {
      if (request.socket.remoteAddress === undefined) return; // unix socket: guarded by its file mode
      const header = String(request.headers.authorization ?? '');
      const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
      if (!tokenMatches(given, token)) {
        return reply.code(401).header('www-authenticate', 'Bearer').header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ Message: 'authentication required' }));
      }
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    log(`${request.method} ${request.url.split('?')[0]} ${reply.statusCode} ${reply.elapsedTime.toFixed(0)}ms`);
  });

  for (const op of Object.values(operations) as AnyOperation[]) {
    app.route({
      method: op.method,
      url: op.path,
      schema: { ...(op.body ? { body: op.body } : {}), ...(op.query ? { querystring: op.query } : {}) },
      handler: (request, reply) => (op === (operations.logs as unknown) ? streamLogs(opts, request, reply) : handle(opts, op, request, reply)),
    });
  }
  const spec = JSON.stringify(openApiDocument());
  app.get('/openapi.json', (_req, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(spec));
  app.get('/health', (_req, reply) => reply.send({ Status: 'ok', Jobs: opts.jobs.load }));
  return app;
}

function rawOf(request: FastifyRequest): RawRequest {
  return {
    params: (request.params ?? {}) as Record<string, string>,
    query: (request.query ?? {}) as Record<string, string | undefined>,
    body: request.body,
  };
}

async function handle(opts: ServerOptions, op: AnyOperation, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const req = op.parse(rawOf(request));
  const id = request.headers['x-request-id'];
  const want = negotiate(request);

  if (want.stream && op.mutates) return streamProgress(opts, op, req, reply);

  const execute = async () => outcomeOf(op, await opts.jobs.run(() => op.run(opts.host, req, {})), request);
  if (op.mutates && typeof id === 'string') {
    const fingerprint = `${request.method} ${request.url.split('?')[0]}`;
    return send(reply, await opts.requests.run(id, fingerprint, execute));
  }
  return send(reply, await execute());
}

/**
 * A mutating operation with Accept: text/plain;stream=true: 202 at once,
 * then its progress as lines while it runs, then its outcome as the last
 * line ("error: ..." when it failed: the status is already sent).
 */
async function streamProgress(opts: ServerOptions, op: AnyOperation, req: unknown, reply: FastifyReply): Promise<void> {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(202, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  out.flushHeaders();
  const progress: Progress = {
    note: (m) => out.write(`${m}\n`),
    pull: (ref, p) => out.write(pullLine(ref, p)),
  };
  try {
    const result = await opts.jobs.run(() => op.run(opts.host, req, progress));
    const headers = op.http?.headers?.(result) ?? {};
    for (const [k, v] of Object.entries(headers)) out.write(`${k}: ${v}\n`);
    const text = op.http?.text?.(result);
    out.write(text ?? (result === undefined ? 'done\n' : `${JSON.stringify(result)}\n`));
  } catch (err) {
    out.write(`error: ${errorBody(err).message}\n`);
  }
  out.end();
}

/**
 * GET /container/:id/log. Streamed (Accept: text/plain;stream=true): 202 and
 * the journal followed until the client goes away or the time limit; else
 * the last lines at once, as text or as JSON entries.
 */
async function streamLogs(opts: ServerOptions, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const want = negotiate(request);
  const abort = new AbortController();
  const parsed = operations.logs.parse(rawOf(request));
  const req = { ...parsed, follow: parsed.follow || want.stream, lines: parsed.lines ?? (want.stream ? 10 : 100), signal: abort.signal };
  const entries = await operations.logs.run(opts.host, req, {});
  if (!want.stream && want.json) {
    const all = [];
    for await (const e of entries) all.push(e);
    return void send(reply, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ Entries: all }) });
  }
  reply.hijack();
  const out = reply.raw;
  out.writeHead(want.stream ? 202 : 200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  out.flushHeaders();
  const limit = setTimeout(() => abort.abort(), opts.logStreamMs ?? 30_000);
  // The response's close (not the request's: that fires once the request is read) means the client left.
  out.on('close', () => abort.abort());
  try {
    for await (const e of entries) out.write(journalLine(e));
  } catch (err) {
    if (!abort.signal.aborted) out.write(`error: ${errorBody(err).message}\n`);
  } finally {
    clearTimeout(limit);
    out.end();
  }
}
