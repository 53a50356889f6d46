import { promises as fsp } from 'node:fs';
import type { HostFs } from '../host/fs.js';
import { callbackTarget, signature, SIGNATURE_HEADER, type CallbackPayload } from '../model/callback.js';

export interface CallbackOptions {
  /** Tries in all (the first and the retries). */
  attempts?: number;
  /** Wait before the first retry, doubled at each next one. */
  retryMs?: number;
  /** One try's time limit. */
  timeoutMs?: number;
  /** Where callbacks owed are recorded, so that a restarted agent still sends them (host directory; made 0700). */
  outbox?: { fs: HostFs; dir: string };
}

/** A job's callback as recorded in the outbox: its target, and its payload once the job has ended. */
interface Owed {
  Url: string;
  Job: Pick<CallbackPayload, 'JobId' | 'Operation' | 'Container'>;
  Payload?: CallbackPayload;
}

/** What a restarted agent reports for a job it was running when it stopped. */
export const INTERRUPTED = 'the agent stopped before this job ended; it repaired the host at its next start (the container is either fully installed or absent): check its state';

/**
 * Sends job callbacks: POST of the JSON payload with its signature in
 * X-Gear-Signature (never the secret). A try fails on a network error, a
 * timeout or a status that is not 2xx; failures are logged (target without
 * query) and retried with growing waits, and never reach the job, which has
 * already answered. The secret is held in memory only.
 *
 * With an outbox, every callback owed is recorded (0600, atomically) before
 * its job runs and until it is delivered or given up, so an agent that is
 * killed or restarted still sends it at its next start: the job's outcome,
 * or, for a job it never finished, "failed" and why. Delivery is at least
 * once (a callback sent just before a kill is sent again): receivers tell
 * duplicates by JobId.
 */
export class Callbacks {
  private readonly attempts: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;
  private readonly outbox?: { fs: HostFs; dir: string };
  /** Callbacks under way, so a test or a shutdown can wait for them. */
  private readonly pending = new Set<Promise<void>>();
  /** Aborted when the agent stops: tries and waits end, and what is owed stays in the outbox. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly secret: Buffer,
    private readonly log: (line: string) => void,
    opts: CallbackOptions = {},
  ) {
    this.attempts = opts.attempts ?? 4;
    this.retryMs = opts.retryMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.outbox = opts.outbox;
  }

  /** Record a callback owed, before its job runs (a job that cannot be recorded does not run). */
  async begin(url: string, job: Owed['Job']): Promise<void> {
    await this.record({ Url: url, Job: job });
  }

  /** Start sending a job's outcome; returns at once. */
  notify(url: string, payload: CallbackPayload): void {
    this.track(this.deliver({ Url: url, Job: payload, Payload: payload }, false));
  }

  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /**
   * At the agent's start: send what the outbox holds from before (outcomes
   * not yet delivered, and jobs that never ended, as failed). Returns how
   * many; the sending goes on in the background.
   */
  async resume(): Promise<number> {
    if (!this.outbox) return 0;
    const { fs, dir } = this.outbox;
    await fsp.mkdir(fs.local(dir), { recursive: true, mode: 0o700 });
    await fs.removeStaleTemps(dir, 0);
    let count = 0;
    for (const name of await fs.list(dir)) {
      if (!name.endsWith('.json')) continue;
      const owed = parseOwed(await fs.read(`${dir}/${name}`));
      if (!owed) {
        this.log(`callbacks: ${dir}/${name} is not a callback record; removed`);
        await fs.remove(`${dir}/${name}`);
        continue;
      }
      // An outcome already recorded is sent as it is, without writing its record again.
      const payload = owed.Payload ?? { ...owed.Job, Result: 'failed' as const, Error: INTERRUPTED };
      this.track(this.deliver({ Url: owed.Url, Job: owed.Job, Payload: payload }, owed.Payload !== undefined));
      count++;
    }
    return count;
  }

  /** Wait for every callback under way. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /**
   * The agent stops: no more tries. A callback not yet delivered keeps its
   * outbox record, for the next agent to send (retrying to the end here
   * would hold the stop up, then drop the callback as given up).
   */
  stop(): number {
    const owed = this.pending.size;
    this.stopping.abort();
    return owed;
  }

  private fileOf(jobId: string): string | undefined {
    return this.outbox && `${this.outbox.dir}/${jobId}.json`;
  }

  private async record(owed: Owed): Promise<void> {
    const file = this.fileOf(owed.Job.JobId);
    if (file) await this.outbox!.fs.writeAtomic(file, JSON.stringify(owed), 0o600);
  }

  /** Record the outcome, send it (with retries), then forget it: delivered or given up. */
  private async deliver(owed: Owed & { Payload: CallbackPayload }, recorded: boolean): Promise<void> {
    const file = this.fileOf(owed.Job.JobId);
    try {
      if (!recorded) await this.record(owed);
    } catch (err) {
      this.log(`callback of job ${owed.Job.JobId}: could not record it (${(err as Error).message}); sending it anyway`);
    }
    const ended = await this.send(owed.Url, owed.Payload);
    if (ended === 'stopped') return;
    if (file) await this.outbox!.fs.remove(file).catch((err) => this.log(`callback of job ${owed.Job.JobId}: could not remove ${file}: ${err}`));
  }

  /** Try until delivered, given up, or the agent stops. */
  private async send(url: string, payload: CallbackPayload): Promise<'delivered' | 'given up' | 'stopped'> {
    const body = JSON.stringify(payload);
    const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature(this.secret, body), 'user-agent': 'gear-agent' };
    const target = callbackTarget(url);
    const stopping = this.stopping.signal;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (stopping.aborted) return 'stopped';
      let problem: string;
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), stopping]);
        const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) return 'delivered';
        problem = `answered ${res.status}`;
      } catch (err) {
        if (stopping.aborted) return 'stopped';
        const e = err as Error & { cause?: { code?: string } };
        problem = e.cause?.code ?? e.message;
      }
      const last = attempt === this.attempts;
      this.log(`callback of job ${payload.JobId} to ${target} failed (try ${attempt} of ${this.attempts}): ${problem}${last ? '; giving up' : ''}`);
      if (!last) await waitOrStop(this.retryMs * 2 ** (attempt - 1), stopping);
    }
    return stopping.aborted ? 'stopped' : 'given up';
  }
}

/** An outbox file's record, or undefined when it is not one (a torn write cannot happen: records are written atomically). */
function parseOwed(text: string | undefined): Owed | undefined {
  try {
    const o = JSON.parse(text ?? '') as Owed;
    if (typeof o.Url === 'string' && typeof o.Job?.JobId === 'string' && typeof o.Job.Operation === 'string') return o;
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function waitOrStop(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
