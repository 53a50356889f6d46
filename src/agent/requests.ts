import { invalid } from '../model/errors.js';
import type { HostFs } from '../host/fs.js';

/** A finished HTTP answer, as sent and as replayed. */
export interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Record_ {
  /** method and path of the request, so an id cannot be reused for another request. */
  fingerprint: string;
  outcome: Outcome;
  time: number;
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
  ) {}

  async run(id: string, fingerprint: string, work: () => Promise<Outcome>): Promise<Outcome> {
    if (!REQUEST_ID.test(id)) throw invalid('X-Request-Id must be 32 hexadecimal characters (or 16 bytes in base64url)');
    const key = requestKey(id);
    const running = this.inFlight.get(key);
    if (running) {
      if (running.fingerprint !== fingerprint) throw invalid(`X-Request-Id ${id} belongs to another request`);
      return running.done;
    }
    // Registered before the first await, so a repeat arriving meanwhile joins this one.
    const done = this.answer(key, id, fingerprint, work);
    this.inFlight.set(key, { fingerprint, done });
    try {
      return await done;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async answer(key: string, id: string, fingerprint: string, work: () => Promise<Outcome>): Promise<Outcome> {
    const stored = await this.fs.read(`${this.dir}/${key}.json`);
    if (stored) {
      const record = JSON.parse(stored) as Record_;
      if (record.fingerprint !== fingerprint) throw invalid(`X-Request-Id ${id} belongs to another request`);
      return record.outcome;
    }
    const outcome = await work();
    // Only answers that did something are worth replaying; errors may be retried.
    if (outcome.status < 400) {
      const record: Record_ = { fingerprint, outcome, time: Date.now() };
      await this.fs.writeAtomic(`${this.dir}/${key}.json`, JSON.stringify(record), 0o600);
    }
    return outcome;
  }

  /** Forget answers older than a day. */
  async prune(now = Date.now()): Promise<void> {
    for (const name of await this.fs.list(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const text = await this.fs.read(`${this.dir}/${name}`);
      const time = text ? (JSON.parse(text) as Record_).time : 0;
      if (now - time > KEEP_MS) await this.fs.remove(`${this.dir}/${name}`);
    }
  }
}
