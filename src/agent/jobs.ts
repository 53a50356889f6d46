import { unavailable } from '../model/errors.js';

/**
 * The agent's bounded job queue: at most `maxRunning` operations run at once
 * (different containers in parallel; one container's operations are
 * serialised by its lock), at most `maxWaiting` wait, and beyond that a
 * request is refused at once (503) instead of piling up.
 */
export class JobQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxRunning = 32,
    readonly maxWaiting = 256,
  ) {}

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxRunning) {
      if (this.waiting.length >= this.maxWaiting) throw unavailable(`the agent is busy: ${this.running} jobs running and ${this.waiting.length} waiting; retry later`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
