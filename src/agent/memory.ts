import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * One memory-reducing collection, when the agent's start-up is done.
 *
 * The start-up (repair, volume migration, the first sync of every unit)
 * makes garbage fast enough that V8 grows the young generation to 8 MiB per
 * semi-space, and nothing shrinks it again while the agent idles: V8's
 * memory reducer was not seen to run in 45 s of idling. A last-resort
 * collection (what V8 does before giving up on memory) frees that garbage
 * and shrinks the young generation back to its start: the idle agent's
 * resident memory went from 72.2 to 68.1-68.8 MiB by hand in a test host,
 * 68.2-68.8 to 64.4-65.0 MiB in the benchmark (BENCHMARKS.md, session 9). Under load the young
 * generation grows again as V8 sees fit, so no listing pays for it.
 *
 * V8 has no API for this but its gc extension; turned on for the moment
 * it is fetched (the pattern of Node's own v8.setFlagsFromString docs), so
 * no flag is needed wherever the agent is started from (bin/gear, the SPC
 * image, systemd-run in tests).
 */
export function shedStartupGarbage(): void {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: object) => void;
    setFlagsFromString('--no-expose-gc');
    // Compiled code is kept (bytecode flushing off for this one collection): code flushed here is
    // compiled again at its next call, and in-process, a collection that flushed a warmed listing
    // path made the next seconds' listings cost 1.4-2.6x the CPU. The memory saved is the same.
    setFlagsFromString('--no-flush-bytecode');
    try {
      gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    } finally {
      setFlagsFromString('--flush-bytecode');
    }
  } catch {
    // A Node without the extension: the agent only keeps more memory.
  }
}
