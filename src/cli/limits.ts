import { parseCpusFlag, parseMemoryFlag, parsePidsFlag } from '../model/limits.js';

/** The install body's Memory, Cpus and Pids from those flags (checked here too: a bad value sends nothing). */
export function limitFields(o: Record<string, unknown>): Record<string, unknown> {
  return {
    ...(o.memory === undefined ? {} : { Memory: parseMemoryFlag(o.memory as string) }),
    ...(o.cpus === undefined ? {} : { Cpus: parseCpusFlag(o.cpus as string) }),
    ...(o.pids === undefined ? {} : { Pids: parsePidsFlag(o.pids as string) }),
  };
}
