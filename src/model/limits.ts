import { Type } from '@sinclair/typebox';
import { invalid } from './errors.js';

/**
 * Resource limits of a container (install's Memory, Cpus, Pids). Docker
 * enforces them on the container's own cgroup, where its processes are
 * (see unitLimitArgs and docs/decisions.md); the unit shows them.
 */
export interface ContainerLimits {
  /** Bytes; the container's memory and swap together (no swap beyond it). */
  Memory?: number;
  /** CPUs' worth of time, in hundredths (0.5: half of one CPU). */
  Cpus?: number;
  /** The most processes and threads at once. */
  Pids?: number;
}

export const LIMIT_FIELDS = ['Memory', 'Cpus', 'Pids'] as const;

/** "none" in a request removes that limit; absent keeps it (on a re-install). */
export const NO_LIMIT = 'none';

/** Docker refuses less (its own floor is 6 MiB). */
export const MIN_MEMORY = 6 * 1024 * 1024;
const MAX_MEMORY = 2 ** 50;
const MAX_CPUS = 1024;
/** The kernel's pid_max ceiling. */
const MAX_PIDS = 4194304;
const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Install body fields: Memory "256M" or bytes, Cpus 0.5, Pids 200; each may be "none". */
export const LimitFieldsSchema = {
  Memory: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer()])),
  Cpus: Type.Optional(Type.Union([Type.Number(), Type.Literal(NO_LIMIT)])),
  Pids: Type.Optional(Type.Union([Type.Integer(), Type.Literal(NO_LIMIT)])),
};

/** A memory size: bytes, or a whole number with K, M, G or T (powers of 1024). */
export function parseMemory(value: unknown, field = 'Memory'): number {
  let bytes: number | undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) bytes = value;
  else if (typeof value === 'string') {
    const m = /^([0-9]{1,16})([KMGT]?)$/i.exec(value);
    if (m) bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  }
  if (bytes === undefined) throw invalid(`${field} ${JSON.stringify(value)} is not a memory size: a whole number with K, M, G or T (e.g. 256M), or bytes`);
  if (bytes < MIN_MEMORY) throw invalid(`${field} ${JSON.stringify(value)} is below the least Docker allows (6M)`);
  if (bytes > MAX_MEMORY) throw invalid(`${field} ${JSON.stringify(value)} is too large`);
  return bytes;
}

export function validateCpus(value: unknown, field = 'Cpus'): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= MAX_CPUS && Math.abs(value * 100 - Math.round(value * 100)) < 1e-9;
  if (!ok) throw invalid(`${field} ${JSON.stringify(value)} must be a number of CPUs above 0, in hundredths (e.g. 0.5, 2), at most ${MAX_CPUS}`);
  return Math.round(value * 100) / 100;
}

export function validatePids(value: unknown, field = 'Pids'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PIDS)
    throw invalid(`${field} ${JSON.stringify(value)} must be a whole number of processes, 1 to ${MAX_PIDS}`);
  return value;
}

/** The CLI's --cpus text as a number, strictly ("0.5", "2"; not "1e3", "0x1", " 1"). */
export function parseCpusFlag(text: string): number | typeof NO_LIMIT {
  if (text === NO_LIMIT) return NO_LIMIT;
  if (!/^[0-9]{1,4}(\.[0-9]{1,2})?$/.test(text)) throw invalid(`--cpus ${JSON.stringify(text)} must be a number of CPUs above 0 (e.g. 0.5, 2), or none`);
  return validateCpus(Number(text), '--cpus');
}

export function parsePidsFlag(text: string): number | typeof NO_LIMIT {
  if (text === NO_LIMIT) return NO_LIMIT;
  if (!/^[0-9]{1,7}$/.test(text)) throw invalid(`--pids ${JSON.stringify(text)} must be a whole number of processes (at least 1), or none`);
  return validatePids(Number(text), '--pids');
}

export function parseMemoryFlag(text: string): string {
  if (text === NO_LIMIT) return NO_LIMIT;
  parseMemory(text, '--memory');
  return text;
}

/** What a request says of each limit: a value, "none" (remove), or nothing (keep what it has). */
export type LimitChanges = { [K in keyof ContainerLimits]?: number | typeof NO_LIMIT };

export function parseLimitFields(body: { Memory?: unknown; Cpus?: unknown; Pids?: unknown }): LimitChanges {
  const out: LimitChanges = {};
  if (body.Memory !== undefined) out.Memory = body.Memory === NO_LIMIT ? NO_LIMIT : parseMemory(body.Memory, 'body/Memory');
  if (body.Cpus !== undefined) out.Cpus = body.Cpus === NO_LIMIT ? NO_LIMIT : validateCpus(body.Cpus, 'body/Cpus');
  if (body.Pids !== undefined) out.Pids = body.Pids === NO_LIMIT ? NO_LIMIT : validatePids(body.Pids, 'body/Pids');
  return out;
}

/** The limits after a request's changes: given values replace, "none" removes, absent ones stay. Undefined when none is left. */
export function applyLimits(old: ContainerLimits | undefined, changes: LimitChanges): ContainerLimits | undefined {
  const out: ContainerLimits = { ...old };
  for (const f of LIMIT_FIELDS) {
    const c = changes[f];
    if (c === NO_LIMIT) delete out[f];
    else if (c !== undefined) out[f] = c;
  }
  return Object.keys(out).length ? out : undefined;
}

/** 268435456 → "256M"; sizes that are not whole K/M/G/T stay bytes. */
export function formatMemory(bytes: number): string {
  for (const u of ['T', 'G', 'M', 'K']) if (bytes % UNITS[u]! === 0) return `${bytes / UNITS[u]!}${u}`;
  return String(bytes);
}

/** For people: 25274851328 → "23.5G" (one decimal in the largest unit that fits). */
export function memoryText(bytes: number): string {
  for (const u of ['T', 'G', 'M', 'K']) if (bytes >= UNITS[u]!) return `${Number((bytes / UNITS[u]!).toFixed(1))}${u}`;
  return String(bytes);
}

/** "memory=256M cpus=0.5 pids=200", or "" without limits. */
export function limitsText(l: ContainerLimits | undefined): string {
  if (!l) return '';
  return [
    l.Memory !== undefined ? `memory=${formatMemory(l.Memory)}` : '',
    l.Cpus !== undefined ? `cpus=${l.Cpus}` : '',
    l.Pids !== undefined ? `pids=${l.Pids}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * `docker run` flags that enforce the limits on the container's cgroup.
 * --memory-swap equal to --memory: no swap beyond the limit, so a hog is
 * killed rather than swapped out (Docker's default allows as much swap again).
 */
export function dockerLimitArgs(l: ContainerLimits | undefined): string[] {
  if (!l) return [];
  const args: string[] = [];
  if (l.Memory !== undefined) args.push('--memory', String(l.Memory), '--memory-swap', String(l.Memory));
  if (l.Cpus !== undefined) args.push('--cpus', String(l.Cpus));
  if (l.Pids !== undefined) args.push('--pids-limit', String(l.Pids));
  return args;
}
