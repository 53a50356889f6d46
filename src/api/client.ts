import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { GearError, failed, invalid, kindOfStatus } from '../model/errors.js';
import type { Operation, RawRequest } from '../operations/index.js';
import { DEFAULT_PORT } from './listen.js';

/** Where an agent listens, as the CLI reaches it. */
export interface AgentAddress {
  /** How the user named it: "hostA", "10.0.0.2:43273", "unix:///run/gear/gear.sock". */
  label: string;
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
}

/** `unix:///PATH`, `http://HOST[:PORT]` or `HOST[:PORT]`. */
export function parseAgentAddress(text: string, token?: string): AgentAddress {
  if (text.startsWith('unix://')) return { label: text, socketPath: text.slice('unix://'.length), token };
  const bare = text.replace(/^http:\/\//, '').replace(/\/$/, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(bare);
  if (!m) throw invalid(`agent address ${JSON.stringify(text)} must look like HOST[:PORT] or unix:///PATH`);
  return { label: bare, host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : DEFAULT_PORT, token };
}

const newRequestId = () => randomBytes(16).toString('hex');

/**
 * The HTTP client of the agent, derived from the same operation
 * definitions the server routes: method, path and body come from the
 * operation and the raw request.
 */
export class AgentClient {
  constructor(readonly address: AgentAddress) {}

  private send(method: string, path: string, opts: { body?: unknown; accept: string; requestId?: string; signal?: AbortSignal }): Promise<IncomingMessage> {
    const a = this.address;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: opts.accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (opts.requestId) headers['x-request-id'] = opts.requestId;
    if (a.token) headers.authorization = `Bearer ${a.token}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { socketPath: a.socketPath, host: a.host, port: a.port, method, path, headers, signal: opts.signal },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.name === 'AbortError' ? err : failed(`cannot reach the agent at ${a.label}: ${err.code ?? err.message}`)),
      );
      req.end(body);
    });
  }

  private static pathOf(op: Operation<unknown, unknown>, raw: RawRequest): string {
    const path = op.path.replace(/:([A-Za-z]+)/g, (_, k: string) => encodeURIComponent(raw.params[k] ?? ''));
    const query = new URLSearchParams(Object.entries(raw.query).filter((e): e is [string, string] => e[1] !== undefined));
    return query.size ? `${path}?${query}` : path;
  }

  /** Run an operation on the agent; its JSON answer is the result. */
  async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
    const path = AgentClient.pathOf(op as Operation<unknown, unknown>, raw);
    // Mutating requests carry an id, so the one retry after a dropped connection cannot act twice.
    const requestId = op.mutates ? newRequestId() : undefined;
    let res: IncomingMessage;
    try {
      res = await this.send(op.method, path, { body: raw.body, accept: 'application/json', requestId });
    } catch (err) {
      if (!(err instanceof GearError) || !/ECONNRESET|EPIPE/.test(err.message)) throw err;
      res = await this.send(op.method, path, { body: raw.body, accept: 'application/json', requestId });
    }
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (status === 204 || text === '' ? undefined : JSON.parse(text)) as Res;
    throw errorFrom(status, text, this.address.label);
  }

  /** Text lines of a streamed answer (logs), as they arrive. */
  async *lines(op: Operation<unknown, unknown>, raw: RawRequest, signal?: AbortSignal): AsyncIterable<string> {
    const accept = raw.query.follow ? 'text/plain;stream=true' : 'text/plain';
    const res = await this.send(op.method, AgentClient.pathOf(op, raw), { accept, signal });
    const status = res.statusCode ?? 0;
    if (status >= 300) throw errorFrom(status, await readAll(res), this.address.label);
    try {
      for await (const line of createInterface({ input: res })) yield line;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += chunk;
  return text;
}

function errorFrom(status: number, text: string, label: string): GearError {
  let message = text.trim() || `HTTP ${status}`;
  try {
    message = (JSON.parse(text) as { Message?: string }).Message ?? message;
  } catch {
    // not JSON: keep the text
  }
  if (status === 401) message = `${message}: the agent at ${label} wants a token (--token-file or GEAR_TOKEN_FILE)`;
  return new GearError(kindOfStatus(status), message);
}
