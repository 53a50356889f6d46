import { createHash } from 'node:crypto';
import type { ContainerDefinition } from '../definition.js';
import { DEFAULT_SLICE } from '../definition.js';
import type { EnvVar } from '../env.js';
import type { HealthCheck } from '../health.js';
import type { ContainerLimits } from '../limits.js';
import type { PortPair } from '../ports.js';
import type { BindMount } from '../volumes.js';

/**
 * An instance's resolved definition: what gear would install, in one
 * canonical shape, so that what a descriptor asks for and what a host has
 * installed compare field by field, and hash to the same value when equal.
 * Ports are as asked (External 0: the host picks one), so a port the host
 * allocated does not count as a difference. Environment values appear only
 * as digests: the definition travels over the API and is printed by
 * `deploy --plan`, and values are often secrets. Links are not part of it:
 * deploy sets them on a running container without a restart (their own
 * route), so they never make an instance "changed". See docs/decisions.md,
 * "Definition hashes".
 */
export interface ResolvedDefinition {
  Image: string;
  /** Sorted by Internal. */
  Ports: PortPair[];
  /** Id only when it reads a shared environment (not its own). Variables: name → digest of the value. */
  Environment: { Id?: string; Variables: Record<string, string> };
  Limits: ContainerLimits;
  Health?: HealthCheck;
  /** Sorted; WaitHealthy only with After. */
  After?: string[];
  WaitHealthy?: boolean;
  Isolated: boolean;
  SocketActivation?: { IdleAfterMs?: number };
  Slice: string;
  /** Sorted paths. */
  Volumes: string[];
  BindMounts: BindMount[];
}

/** A value's digest: enough to tell values apart, nothing of what they are. */
export const valueDigest = (name: string, value: string): string =>
  createHash('sha256').update(`${name}\0${value}`).digest('hex').slice(0, 16);

/** JSON with every object's keys sorted (arrays keep their order): equal values give equal text, however they were built. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/** "sha256:" and the hex digest of the definition's canonical JSON. */
export const definitionHash = (d: ResolvedDefinition): string => `sha256:${createHash('sha256').update(canonicalJson(d)).digest('hex')}`;

/** What a resolved definition is built from (an install request's parts, or a stored definition's). */
export interface DefinitionParts {
  Image: string;
  Ports: PortPair[];
  EnvId?: string;
  Variables: EnvVar[];
  Limits?: ContainerLimits;
  Health?: HealthCheck;
  After?: string[];
  WaitHealthy?: boolean;
  Isolated?: boolean;
  SocketActivation?: { IdleAfterMs?: number };
  Slice?: string;
  Volumes?: string[];
  BindMounts?: BindMount[];
}

export function resolvedDefinition(p: DefinitionParts): ResolvedDefinition {
  const after = [...(p.After ?? [])].sort();
  const limits: ContainerLimits = {};
  if (p.Limits?.Memory !== undefined) limits.Memory = p.Limits.Memory;
  if (p.Limits?.Cpus !== undefined) limits.Cpus = p.Limits.Cpus;
  if (p.Limits?.Pids !== undefined) limits.Pids = p.Limits.Pids;
  return {
    Image: p.Image,
    Ports: p.Ports.map((x) => ({ Internal: x.Internal, External: x.External })).sort((a, b) => a.Internal - b.Internal),
    Environment: {
      ...(p.EnvId ? { Id: p.EnvId } : {}),
      Variables: Object.fromEntries(p.Variables.map((v) => [v.Name, valueDigest(v.Name, v.Value)])),
    },
    Limits: limits,
    ...(p.Health ? { Health: { ...p.Health } } : {}),
    ...(after.length ? { After: after } : {}),
    ...(after.length && p.WaitHealthy ? { WaitHealthy: true } : {}),
    Isolated: p.Isolated === true,
    ...(p.SocketActivation ? { SocketActivation: p.SocketActivation.IdleAfterMs === undefined ? {} : { IdleAfterMs: p.SocketActivation.IdleAfterMs } } : {}),
    Slice: p.Slice || DEFAULT_SLICE,
    Volumes: [...(p.Volumes ?? [])].sort(),
    BindMounts: [...(p.BindMounts ?? [])].map((b) => ({ ...b })).sort((a, b) => canonicalJson(a).localeCompare(canonicalJson(b))),
  };
}

/**
 * The resolved definition of an installed container, from its stored
 * definition and the variables of the environment it reads. Its ports as
 * asked at install (AskedPorts; a definition written before gear kept them
 * has only the allocated ones, which then count as asked).
 */
export function installedDefinition(def: ContainerDefinition, variables: EnvVar[]): ResolvedDefinition {
  return resolvedDefinition({
    Image: def.Image,
    Ports: def.AskedPorts ?? def.Ports,
    ...(def.EnvId ? { EnvId: def.EnvId } : {}),
    Variables: variables,
    ...(def.Limits ? { Limits: def.Limits } : {}),
    ...(def.Health ? { Health: def.Health } : {}),
    ...(def.After ? { After: def.After } : {}),
    ...(def.WaitHealthy ? { WaitHealthy: true } : {}),
    Isolated: def.Isolation !== undefined,
    ...(def.SocketActivation ? { SocketActivation: def.SocketActivation } : {}),
    Slice: def.SystemdSlice,
    Volumes: def.VolumeConfig.Volumes,
    BindMounts: def.VolumeConfig.BindMounts,
  });
}

/**
 * The fields that differ between two resolved definitions, by name
 * ("Image", "Ports", "Environment.DB_URL", "Limits.Memory"), sorted: what
 * `deploy --plan` prints after "changed". Empty: the same definition.
 */
export function definitionDiff(a: ResolvedDefinition, b: ResolvedDefinition): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ResolvedDefinition>;
  for (const k of keys) {
    if (k === 'Environment') {
      if (a.Environment.Id !== b.Environment.Id) out.push('Environment.Id');
      const va = a.Environment.Variables;
      const vb = b.Environment.Variables;
      for (const n of new Set([...Object.keys(va), ...Object.keys(vb)])) if (va[n] !== vb[n]) out.push(`Environment.${n}`);
    } else if (k === 'Limits') {
      for (const n of ['Memory', 'Cpus', 'Pids'] as const) if (a.Limits[n] !== b.Limits[n]) out.push(`Limits.${n}`);
    } else if (canonicalJson(a[k]) !== canonicalJson(b[k])) out.push(k);
  }
  return out.sort();
}
