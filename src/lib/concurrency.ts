/**
 * Joins requests into as few calls as possible: at most one call is in
 * flight, and every request made meanwhile goes into the next one. Thirty
 * concurrent `enable`s become two or three EnableUnitFiles calls instead of
 * thirty, each of which costs systemd a scan of its unit paths.
 *
 * Should a joint call fail, its requests are retried one by one, so that an
 * error reaches only the request that caused it.
 */
export class Batch<T> {
  private queued: { items: T[]; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private inFlight = false;

  constructor(private readonly call: (items: T[]) => Promise<unknown>) {}

  add(items: T[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ items, resolve, reject });
      if (!this.inFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    while (this.queued.length > 0) {
      const requests = this.queued;
      this.queued = [];
      try {
        await this.call([...new Set(requests.flatMap((r) => r.items))]);
        for (const r of requests) r.resolve();
      } catch (err) {
        if (requests.length === 1) requests[0]!.reject(err);
        else await Promise.all(requests.map((r) => this.call(r.items).then(r.resolve, r.reject)));
      }
    }
    this.inFlight = false;
  }
}

/**
 * Wrap an async function so that callers arriving while a call runs share
 * its result instead of repeating the work; the first caller after it ends
 * starts a fresh call. For checks that are costly and that concurrent
 * operations all need at about the same moment.
 */
export function shareInFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= fn().finally(() => {
      running = undefined;
    }));
}

/** At most `max` tasks run at once; the rest wait their turn in order. */
export class ConcurrencyLimit {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly max: number) {}

  get running(): number {
    return this.active;
  }
  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}
