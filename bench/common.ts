/** Timing helpers shared by the benchmarks. */
import { existsSync } from 'node:fs';
import { REPO, run } from '../tests/integration/harness.js';

/**
 * The node binary gear runs on in a test host, as bin/gear picks it (the
 * checkout's pinned Node 24, else PATH's): baselines run on the same one.
 */
export const NODE = existsSync(`${REPO}/node_modules/.bin/node`) ? `${REPO}/node_modules/.bin/node` : 'node';

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Milliseconds `work` takes. */
export async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** Median milliseconds of `repeat` runs of argv inside a test host; a failing run aborts the benchmark. */
export async function timeInHost(host: string, argv: string[], repeat: number, input?: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    times.push(
      await timed(async () => {
        const r = await run(host, argv, { input });
        if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
      }),
    );
  }
  return median(times);
}

/** One result line: the value, then its ratio against the baseline. */
export function ratioLine(what: string, ms: number, baseline: string, baseMs: number, width: number): void {
  console.log(`${what.padEnd(width)} ${seconds(ms).padStart(9)}   ${(ms / baseMs).toFixed(2)}x ${baseline} (${seconds(baseMs)})`);
}
