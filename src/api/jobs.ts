import { ConcurrencyLimit } from '../lib/concurrency.js';
import { unavailable } from '../model/errors.js';

/**
 * The agent's bounded job queue: at most `maxRunning` operations run at once
 * (different containers in parallel; one container's operations are
 * serialised by its lock), at most `maxWaiting` wait, and beyond that a
 * request is refused at once (503) instead of piling up.
 */
export class JobQueue {
  private readonly limit: ConcurrencyLimit;

  constructor(
    readonly maxRunning = 32,
    readonly maxWaiting = 256,
  ) {
    this.limit = new ConcurrencyLimit(maxRunning);
  }

  get load(): { running: number; waiting: number } {
    return { running: this.limit.running, waiting: this.limit.waiting };
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    const { running, waiting } = this.load;
    if (running >= this.maxRunning && waiting >= this.maxWaiting)
      return Promise.reject(unavailable(`the agent is busy: ${running} jobs running and ${waiting} waiting; retry later`));
    return this.limit.run(job);
  }
}
