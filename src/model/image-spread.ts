/**
 * Who sends an image to whom when a deploy spreads it over its hosts: pure
 * logic, driven by the CLI (cli/spread.ts), which runs the transfers.
 *
 * - Every host that has the image (a holder) sends to one host at a time;
 *   a host that received it becomes a holder and sends to the next ones.
 *   With one holder at the start this is a binomial tree (1, 2, 4, ...
 *   transfers at once), never one sender to all.
 * - An idle holder that has sent the least goes first (ties: the one that
 *   received it last), so the work spreads over the tree.
 * - A failed transfer marks its sender suspect: a suspect sends only when
 *   no holder that has not failed is left (it may be the only one). The
 *   receiver tries again from another holder, one it has not tried: from
 *   at most MAX_TRIES senders in all. A receiver with no holder left to try
 *   while nothing is in flight fails, with every reason it was given.
 * - No holder at all: the first host that wants the image pulls it from
 *   its registry (once; `pullOn`), and is then the only holder.
 */

export const MAX_TRIES = 2;

export interface SpreadStep {
  from: string;
  to: string;
}

interface Holder {
  sent: number;
  /** Order of becoming a holder (later: larger). */
  since: number;
  busy: boolean;
  suspect: boolean;
}

export class SpreadPlan {
  private readonly holders = new Map<string, Holder>();
  /** Receivers not served yet, in the order given, with the senders each tried and why they failed. */
  private readonly pending = new Map<string, { tried: Map<string, string>; busy: boolean }>();
  private readonly lost = new Map<string, string>();
  private readonly sources = new Map<string, string>();
  private clock = 0;

  /**
   * `holders`: hosts that have the image (any host named, wanting it or
   * not). `wanting`: hosts that need it; those that hold it already are
   * not sent anything.
   */
  constructor(holders: string[], wanting: string[]) {
    for (const h of holders) this.addHolder(h);
    for (const w of wanting) if (!this.holders.has(w) && !this.pending.has(w)) this.pending.set(w, { tried: new Map(), busy: false });
  }

  /** The host that pulls the image from its registry, when no host has it (undefined: nobody needs to). */
  get pullOn(): string | undefined {
    return this.holders.size === 0 ? this.pending.keys().next().value : undefined;
  }

  /** The pull on `pullOn` succeeded: it is the first holder. */
  pulled(host: string): void {
    this.pending.delete(host);
    this.sources.set(host, 'registry');
    this.addHolder(host);
  }

  /** The pull failed: every host that wants the image fails with this reason (the registry is not asked again). */
  pullFailed(host: string, reason: string): void {
    for (const w of this.pending.keys()) this.lost.set(w, w === host ? `pulling it failed: ${reason}` : `no named host has it, and pulling it on ${host} failed: ${reason}`);
    this.pending.clear();
  }

  /** Transfers to start now (each marks its sender and receiver busy until received() or failed()). */
  next(): SpreadStep[] {
    // Before the pull (pulled() or pullFailed()), nothing can be sent, and nobody has failed yet.
    if (this.holders.size === 0) return [];
    const steps: SpreadStep[] = [];
    for (const [to, p] of this.pending) {
      if (p.busy) continue;
      const from = this.senderFor(p.tried);
      if (!from) continue;
      p.busy = true;
      this.holders.get(from)!.busy = true;
      steps.push({ from, to });
    }
    this.failStuck();
    return steps;
  }

  /** `step` succeeded: its receiver is a holder now. */
  received(step: SpreadStep): void {
    const sender = this.holders.get(step.from)!;
    sender.busy = false;
    sender.sent++;
    this.pending.delete(step.to);
    this.sources.set(step.to, step.from);
    this.addHolder(step.to);
  }

  /** `step` failed: its sender becomes suspect; its receiver waits for another sender, or fails. */
  failed(step: SpreadStep, reason: string): void {
    const sender = this.holders.get(step.from)!;
    sender.busy = false;
    sender.suspect = true;
    const p = this.pending.get(step.to)!;
    p.busy = false;
    p.tried.set(step.from, reason);
    if (p.tried.size >= MAX_TRIES) this.fail(step.to);
  }

  /** Nothing in flight and nothing left to do. */
  get done(): boolean {
    return this.pending.size === 0;
  }

  /** Hosts that will not get the image, and why. */
  get failures(): ReadonlyMap<string, string> {
    return this.lost;
  }

  /** Where each host that got the image got it from: a host, or "registry". */
  get from(): ReadonlyMap<string, string> {
    return this.sources;
  }

  private addHolder(host: string): void {
    this.holders.set(host, { sent: 0, since: this.clock++, busy: false, suspect: false });
  }

  /** An idle holder this receiver has not tried; suspects only when every holder is one. */
  private senderFor(tried: Map<string, string>): string | undefined {
    const all = [...this.holders].filter(([h]) => !tried.has(h));
    const trusted = all.filter(([, s]) => !s.suspect);
    // A trusted holder, even a busy one, is worth waiting for.
    const pool = trusted.length ? trusted : all;
    const idle = pool.filter(([, s]) => !s.busy).sort(([, a], [, b]) => a.sent - b.sent || b.since - a.since);
    return idle[0]?.[0];
  }

  /** With nothing in flight, a receiver that has no sender left fails now. */
  private failStuck(): void {
    if ([...this.pending.values()].some((p) => p.busy)) return;
    for (const [to, p] of this.pending) if (!this.senderFor(p.tried)) this.fail(to);
  }

  private fail(to: string): void {
    const tried = this.pending.get(to)!.tried;
    this.pending.delete(to);
    const reasons = [...tried].map(([from, why]) => `from ${from}: ${why}`);
    this.lost.set(to, reasons.length ? `not received (${reasons.join('; ')})` : 'no host that has it is left to send it');
  }
}
