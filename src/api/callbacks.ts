import { callbackTarget, signature, SIGNATURE_HEADER, type CallbackPayload } from '../model/callback.js';

export interface CallbackOptions {
  /** Tries in all (the first and the retries). */
  attempts?: number;
  /** Wait before the first retry, doubled at each next one. */
  retryMs?: number;
  /** One try's time limit. */
  timeoutMs?: number;
}

/**
 * Sends job callbacks: POST of the JSON payload with its signature in
 * X-Gear-Signature (never the secret). A try fails on a network error, a
 * timeout or a status that is not 2xx; failures are logged (target without
 * query) and retried with growing waits, and never reach the job, which has
 * already answered. The secret is held in memory only.
 */
export class Callbacks {
  private readonly attempts: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;
  /** Callbacks under way, so a test or a shutdown can wait for them. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly secret: Buffer,
    private readonly log: (line: string) => void,
    opts: CallbackOptions = {},
  ) {
    this.attempts = opts.attempts ?? 4;
    this.retryMs = opts.retryMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Start sending; returns at once. */
  notify(url: string, payload: CallbackPayload): void {
    const p = this.send(url, payload).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Wait for every callback under way. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async send(url: string, payload: CallbackPayload): Promise<void> {
    const body = JSON.stringify(payload);
    const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature(this.secret, body), 'user-agent': 'gear-agent' };
    const target = callbackTarget(url);
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let problem: string;
      try {
        const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) return;
        problem = `answered ${res.status}`;
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        problem = e.cause?.code ?? e.message;
      }
      const last = attempt === this.attempts;
      this.log(`callback of job ${payload.JobId} to ${target} failed (try ${attempt} of ${this.attempts}): ${problem}${last ? '; giving up' : ''}`);
      if (!last) await new Promise((r) => setTimeout(r, this.retryMs * 2 ** (attempt - 1)));
    }
  }
}
