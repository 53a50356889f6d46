/**
 * One round trip shared by every caller that can share it, and by none that
 * cannot: `after()` resolves once a call that was *sent after after() was
 * called* has been answered. That is the agent's freshness barrier for
 * listings (host/unit-watch.ts): a Ping to systemd answered after a request
 * arrived proves that every signal systemd sent before the request arrived
 * has been read, because systemd answers a message only after it has sent
 * the signals of the changes it made before reading it, and the bus keeps
 * one sender's messages in order. A Ping sent *before* a request arrived
 * proves nothing about changes made between its sending and the request,
 * so a caller never joins a call already on its way.
 *
 * Coalescing, without weakening that:
 * - at most one call in flight; callers arriving meanwhile wait for the next
 *   one, which is sent when the one in flight is answered;
 * - a call is sent at the end of the event-loop turn in which its first
 *   caller arrived (setImmediate: after the poll phase's callbacks), so the
 *   callers of one turn (the requests read from many sockets at once, or
 *   the next requests of clients answered together) share one call. That
 *   adds no wait beyond the turn: the call could not be answered sooner
 *   than the turn ends anyway, as its reply is read in a later poll.
 *
 * Each call's callers are the ones that arrived before it was sent (they are
 * taken when it is sent, not when it is scheduled): the invariant is
 * arrival < send for every caller a reply releases, checked by
 * tests/unit/round-trip.test.ts. A failed call rejects exactly its callers.
 */
export class RoundTrip {
  /** Callers that arrived since the last call was sent. */
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private inFlight = false;
  private scheduled = false;
  /** Calls sent so far, and callers released by them (for tests and measurements). */
  readonly counts = { calls: 0, callers: 0 };

  constructor(
    private readonly call: () => Promise<unknown>,
    private readonly defer: (send: () => void) => void = setImmediate,
  ) {}

  after(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      void this.send();
    });
  }

  private async send(): Promise<void> {
    // Taken now, at the send: every one of them arrived before this call left.
    const callers = this.waiting;
    this.waiting = [];
    if (callers.length === 0) return;
    this.inFlight = true;
    this.counts.calls++;
    this.counts.callers += callers.length;
    try {
      await this.call();
      for (const c of callers) c.resolve();
    } catch (err) {
      for (const c of callers) c.reject(err);
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}
