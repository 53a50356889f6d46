import type { Command } from 'commander';
import { parseCpusFlag, parseMemoryFlag, parsePidsFlag } from '../model/limits.js';

/** install's resource limit flags; "none" removes a limit the container has (absent keeps it). */
export function addLimitOptions(cmd: Command): Command {
  return cmd
    .option('--memory <size>', 'memory limit (K, M, G; e.g. 256M), swap included: the container is OOM-killed beyond it, and restarted; on a re-install, limits not given are kept, none removes one')
    .option('--cpus <n>', 'CPU limit in CPUs (e.g. 0.5; none)')
    .option('--pids <n>', 'the most processes and threads the container may have at once (none)');
}

/** The install body's Memory, Cpus and Pids from those flags (checked here too: a bad value sends nothing). */
export function limitFields(o: Record<string, unknown>): Record<string, unknown> {
  return {
    ...(o.memory === undefined ? {} : { Memory: parseMemoryFlag(o.memory as string) }),
    ...(o.cpus === undefined ? {} : { Cpus: parseCpusFlag(o.cpus as string) }),
    ...(o.pids === undefined ? {} : { Pids: parsePidsFlag(o.pids as string) }),
  };
}
