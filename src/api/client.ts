import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GearError, failed, invalid, kindOfStatus } from '../model/errors.js';
import type { Operation, Progress, RawRequest } from '../operations/index.js';
import { parseAgentAddressText } from '../model/address.js';
import { isLoopback } from './listen.js';

/** How the CLI checks an agent's TLS certificate. */
export interface TlsTrust {
  /** PEM of the CA (or the self-signed certificate) that signed the agent's certificate. */
  ca?: Buffer;
  /** `sha256:HEX` of the agent's certificate: pinned, whoever signed it. */
  fingerprint?: string;
}

/** Where an agent listens, as the CLI reaches it. */
export interface AgentAddress {
  /** How the user named it: "hostA", "10.0.0.2:43273", "unix:///run/gear/gear.sock". */
  label: string;
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
  /** TLS to this agent (hosts beyond loopback, when the user gave --ca/--fingerprint or https://). */
  tls?: TlsTrust;
  /** The user allowed the token in clear text beyond loopback (--insecure-plaintext). */
  insecurePlaintext?: boolean;
}

export interface ClientSecurity {
  token?: string;
  /** The token for agents on this machine's loopback when no token was given (the agent's own). */
  localToken?: () => string | undefined;
  tls?: TlsTrust;
  insecurePlaintext?: boolean;
}

/** An agent address (`unix:///PATH`, `https://HOST[:PORT]`, `HOST[:PORT]`: model/address.ts) with the security that goes with it. */
export function parseAgentAddress(text: string, security: ClientSecurity = {}): AgentAddress {
  const a = parseAgentAddressText(text);
  if (a.kind === 'unix') return { label: a.label, socketPath: a.path, token: security.token };
  const local = isLoopback(a.host);
  return {
    label: a.label,
    host: a.host,
    port: a.port,
    // The agent's own token goes only to this machine's loopback, never to a host the user named.
    token: security.token ?? (local ? security.localToken?.() : undefined),
    tls: a.https || (!local && (security.tls?.ca || security.tls?.fingerprint)) ? (security.tls ?? {}) : undefined,
    insecurePlaintext: security.insecurePlaintext,
  };
}

const normalFingerprint = (f: string) => f.replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();

/** `sha256:HEX` (colons allowed), as `openssl x509 -fingerprint -sha256` prints it or bare. */
export function parseFingerprint(text: string): string {
  const hex = normalFingerprint(text);
  if (!/^[0-9a-f]{64}$/.test(hex)) throw invalid(`fingerprint ${JSON.stringify(text)} must be sha256:HEX (64 hexadecimal digits)`);
  return hex;
}

/**
 * A TLS connection whose certificate is checked before any byte of the
 * request (and its token) is written: against the CA, and/or the pinned
 * fingerprint (then the CA chain is not needed).
 */
function secureConnection(a: AgentAddress, trust: TlsTrust) {
  return (_opts: unknown, done: (err: Error | null, socket?: Socket) => void): undefined => {
    const socket = tlsConnect({
      host: a.host,
      port: a.port,
      servername: a.host && !isIP(a.host) ? a.host : undefined,
      ca: trust.ca,
      rejectUnauthorized: !trust.fingerprint || trust.ca !== undefined,
    });
    socket.once('error', (err) => done(err));
    socket.once('secureConnect', () => {
      const seen = normalFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
      if (trust.fingerprint && seen !== trust.fingerprint) {
        const err = Object.assign(new Error(`its certificate (sha256:${seen}) does not match the pinned fingerprint`), { code: 'ERR_GEAR_FINGERPRINT' });
        socket.destroy();
        return done(err);
      }
      done(null, socket);
    });
    return undefined;
  };
}

const newRequestId = () => randomBytes(16).toString('hex');

/**
 * TCP keepalive on the connections to agents, after this long without a
 * packet: an answer can wait minutes (a start waiting for its health check),
 * and an agent whose end of the connection is gone without its close reaching
 * here (its host rebooted, a network that lost the FIN or RST) is then found
 * when its kernel refuses the probe: the request fails (and a mutating one
 * is retried once, with its request id) instead of waiting forever.
 */
const KEEPALIVE_MS = 15_000;

/**
 * The HTTP client of the agent, derived from the same operation
 * definitions the server routes: method, path and body come from the
 * operation and the raw request.
 */
export class AgentClient {
  constructor(readonly address: AgentAddress) {}

  /**
   * One request; its answer once its headers are in. `upload` streams the
   * body (typed `uploadType`); when it fails the request is destroyed, so
   * the agent sees a cut body, never one that ends.
   */
  send(method: string, path: string, opts: { body?: unknown; upload?: Readable; uploadType?: string; accept: string; requestId?: string; signal?: AbortSignal }): Promise<IncomingMessage> {
    const a = this.address;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: opts.accept };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      // Framed by its length: Node sends a DELETE's body neither chunked nor with a length of its own, and the agent would read it as the next request (DELETE /keys has one).
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (opts.upload && opts.uploadType) headers['content-type'] = opts.uploadType;
    if (opts.requestId) headers['x-request-id'] = opts.requestId;
    if (a.token) {
      // The token travels only over the unix socket, loopback or TLS.
      if (!a.socketPath && !a.tls && !isLoopback(a.host ?? '') && !a.insecurePlaintext)
        return Promise.reject(invalid(`refusing to send the token in clear text to ${a.label}: give --ca FILE or --fingerprint sha256:HEX for TLS (or --insecure-plaintext)`));
      headers.authorization = `Bearer ${a.token}`;
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: a.socketPath,
          host: a.host,
          port: a.port,
          method,
          path,
          headers,
          signal: opts.signal,
          ...(a.tls ? { createConnection: secureConnection(a, a.tls) as never } : {}),
        },
        resolve,
      );
      req.on('socket', (socket) => socket.setKeepAlive(true, KEEPALIVE_MS));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.name === 'AbortError' ? err : failed(`cannot reach the agent at ${a.label}: ${err.code && !/CERT|SIGNATURE|TLS|SSL|GEAR|ALTNAME/.test(err.code) ? err.code : err.message}`)),
      );
      // An upload that fails fails the request here too: destroyed before its socket was connected, the
      // request may never emit 'error', and the command would wait on nothing (ci29: exit 70).
      if (opts.upload) pipeline(opts.upload, req).catch(reject);
      else req.end(body);
    });
  }

  private static pathOf(op: Operation<unknown, unknown>, raw: RawRequest): string {
    // A trailing `:name*` param may hold "/" (a git ref): sent as path segments, each encoded.
    const path = op.path.replace(/:([A-Za-z]+)(\*?)/g, (_, k: string, rest: string) => (rest ? (raw.params[k] ?? '').split('/').map(encodeURIComponent).join('/') : encodeURIComponent(raw.params[k] ?? '')));
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

  /**
   * An operation whose answer is output (a job, a build: op.http.output):
   * the output to `progress.output` as it comes, the result from the
   * answer's trailer. `progress.signal` aborting drops the request, and the
   * agent stops the run.
   */
  async output<Res>(op: Operation<unknown, Res>, raw: RawRequest, progress: Progress): Promise<Res> {
    const res = await this.send(op.method, AgentClient.pathOf(op as Operation<unknown, unknown>, raw), {
      body: raw.body,
      accept: 'text/plain;stream=true',
      signal: progress.signal,
    });
    const status = res.statusCode ?? 0;
    if (status >= 300) throw errorFrom(status, await readAll(res), this.address.label);
    try {
      for await (const chunk of res) progress.output?.(chunk as Buffer, 'stdout');
    } catch (err) {
      if ((err as Error).name === 'AbortError' || progress.signal?.aborted) throw failed('cancelled');
      throw failed(`the agent at ${this.address.label} went away: ${(err as Error).message}`);
    }
    if (progress.signal?.aborted) throw failed('cancelled');
    const error = res.trailers['x-gear-error'];
    if (error !== undefined) throw failed(decodeURIComponent(error));
    const result = res.trailers['x-gear-result'];
    if (result === undefined) throw failed(`the agent at ${this.address.label} ended the answer without a result`);
    return JSON.parse(result) as Res;
  }

  /** Text lines of a streaming operation's answer (logs), as they arrive; streamed (and followed) when `raw.stream`. */
  async *lines(op: Operation<unknown, unknown>, raw: RawRequest, signal?: AbortSignal): AsyncIterable<string> {
    const accept = raw.stream ? 'text/plain;stream=true' : 'text/plain';
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

export async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += chunk;
  return text;
}

export function errorFrom(status: number, text: string, label: string): GearError {
  let message = text.trim() || `HTTP ${status}`;
  try {
    message = (JSON.parse(text) as { Message?: string }).Message ?? message;
  } catch {
    // not JSON: keep the text
  }
  if (status === 401) message = `${message}: the agent at ${label} wants a token (--token-file, GEAR_TOKEN_FILE or GEAR_TOKEN)`;
  return new GearError(kindOfStatus(status), message);
}
