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

export const REQUEST_ID = /^[0-9a-fA-F]{32}$/;
const KEEP_MS = 24 * 3600_000;

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
    if (!REQUEST_ID.test(id)) throw invalid('X-Request-Id must be 32 hexadecimal characters');
    const key = id.toLowerCase();
    const running = this.inFlight.get(key);
    if (running) {
      if (running.fingerprint !== fingerprint) throw invalid(`X-Request-Id ${id} belongs to another request`);
      return running.done;
    }
    const stored = await this.fs.read(`${this.dir}/${key}.json`);
    if (stored) {
      const record = JSON.parse(stored) as Record_;
      if (record.fingerprint !== fingerprint) throw invalid(`X-Request-Id ${id} belongs to another request`);
      return record.outcome;
    }
    const done = work().then(async (outcome) => {
      // Only answers that did something are worth replaying; errors may be retried.
      if (outcome.status < 400) {
        const record: Record_ = { fingerprint, outcome, time: Date.now() };
        await this.fs.writeAtomic(`${this.dir}/${key}.json`, JSON.stringify(record), 0o600);
      }
      return outcome;
    });
    this.inFlight.set(key, { fingerprint, done });
    try {
      return await done;
    } finally {
      this.inFlight.delete(key);
    }
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
