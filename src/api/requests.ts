import { createHash } from 'node:crypto';
import { conflict, invalid } from '../model/errors.js';
import type { HostFs } from '../host/fs.js';

/** A finished HTTP answer, as sent and as replayed. */
export interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Record_ {
  /** Method, path and a digest of the body (requestFingerprint): an id cannot be reused for another request. */
  fingerprint: string;
  /** The container the request named, if any: its records go with it on delete. */
  container?: string;
  outcome: Outcome;
  time: number;
}

/** JSON with object keys sorted, so that key order does not make two bodies differ. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(value ?? null);
}

/** What makes two requests the same request: method, path (with query) and body. */
export const requestFingerprint = (method: string, url: string, body: unknown) =>
  `${method} ${url} ${createHash('sha256').update(canonical(body)).digest('hex')}`;

/** What a run stores: whether the outcome may be kept (not when it carries env values), and under which container. */
export interface RunOptions {
  store?: boolean;
  container?: string;
}

/** 16 bytes: 32 hex digits, or base64url (22 unpadded or 24 padded characters), as the seed's clients send. */
export const REQUEST_ID = /^(?:[0-9a-fA-F]{32}|[A-Za-z0-9_-]{22}(?:==)?)$/;
const KEEP_MS = 24 * 3600_000;

/** The same 16 bytes however they were written: lower-case hex, usable as a file name. */
function requestKey(id: string): string {
  return id.length === 32 ? id.toLowerCase() : Buffer.from(id.replace(/=+$/, ''), 'base64url').toString('hex');
}

/**
 * X-Request-Id makes a request idempotent: a repeat while the first runs
 * joins it, a repeat after it finished gets the same answer. Finished
 * answers are kept on disk (state dir, requests/), so they survive an
 * agent restart, for a day.
 */
export class RequestLog {
  private readonly inFlight = new Map<string, { fingerprint: string; done: Promise<Outcome> }>();

  constructor(
    private readonly fs: HostFs,
    private readonly dir: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  async run(id: string, fingerprint: string, work: () => Promise<Outcome>, opts: RunOptions = {}): Promise<Outcome> {
    if (!REQUEST_ID.test(id)) throw invalid('X-Request-Id must be 32 hexadecimal characters (or 16 bytes in base64url)');
    const key = requestKey(id);
    const running = this.inFlight.get(key);
    if (running) {
      if (running.fingerprint !== fingerprint) throw reused(id);
      return running.done;
    }
    // Registered before the first await, so a repeat arriving meanwhile joins this one.
    const done = this.answer(key, id, fingerprint, work, opts);
    this.inFlight.set(key, { fingerprint, done });
    try {
      return await done;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async answer(key: string, id: string, fingerprint: string, work: () => Promise<Outcome>, opts: RunOptions): Promise<Outcome> {
    const record = await this.record(`${key}.json`);
    if (record) {
      if (record.fingerprint !== fingerprint) throw reused(id);
      return record.outcome;
    }
    const outcome = await work();
    // Only answers that did something are worth replaying (errors may be retried),
    // and none that carry environment values: those stay out of the store.
    if (outcome.status < 400 && opts.store !== false) {
      const record: Record_ = { fingerprint, container: opts.container, outcome, time: Date.now() };
      await this.fs.writeAtomic(`${this.dir}/${key}.json`, JSON.stringify(record), 0o600);
    }
    return outcome;
  }

  /** A stored record; a corrupt one is removed (and logged), as if it were not there. */
  private async record(name: string): Promise<Record_ | undefined> {
    const text = await this.fs.read(`${this.dir}/${name}`);
    if (text === undefined) return undefined;
    try {
      const r = JSON.parse(text) as Record_;
      if (typeof r.fingerprint !== 'string' || typeof r.time !== 'number' || typeof r.outcome?.status !== 'number') throw new Error('not a record');
      return r;
    } catch {
      this.log(`request ids: removed the corrupt record ${name}`);
      await this.fs.remove(`${this.dir}/${name}`);
      return undefined;
    }
  }

  /** Forget answers older than a day, and those `drop` selects. */
  async prune(now = Date.now(), drop: (r: Record_) => boolean = () => false): Promise<void> {
    for (const name of await this.fs.list(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const r = await this.record(name);
      if (r && (now - r.time > KEEP_MS || drop(r))) await this.fs.remove(`${this.dir}/${name}`);
    }
  }

  /** Forget the answers about a container (it was deleted). */
  forget(container: string): Promise<void> {
    return this.prune(Date.now(), (r) => r.container === container);
  }
}

const reused = (id: string) => conflict(`X-Request-Id ${id} was already used for another request (other method, path or body): send a new id`);
