import { Type } from '@sinclair/typebox';
import { cpus, totalmem } from 'node:os';
import type { Host } from '../host/context.js';
import { capacityOf, refusal, type Capacity } from '../model/capacity.js';
import type { ContainerDefinition } from '../model/definition.js';
import { full, invalid } from '../model/errors.js';
import { memoryText, type ContainerLimits } from '../model/limits.js';
import { closed } from '../model/schema.js';
import { defineOperation } from './operation.js';
import { table } from './text.js';

/** What the machine has: its memory and CPUs (the agent shares the host's kernel, also in the SPC). */
const hostFacts = (): Capacity['Host'] => ({ Memory: totalmem(), Cpus: cpus().length });

/** This host's capacity now: its configured limits, and its containers' count and memory limits. */
export async function readCapacity(host: Host): Promise<Capacity> {
  const ids = await host.store.ids();
  const defs = await Promise.all(ids.map((id) => host.store.read(id).catch(() => undefined)));
  const reserved = defs.reduce((sum, d) => sum + (d?.Limits?.Memory ?? 0), 0);
  return capacityOf(ids.length, reserved, host.config.capacity ?? {}, hostFacts());
}

const limited = (host: Host) => host.config.capacity?.maxContainers !== undefined || host.config.capacity?.maxMemory !== undefined;

/**
 * Run `write` (an install's, up to its definition) only if the host has
 * room for the container with `limits`; 412 otherwise, before anything is
 * changed. With capacity limits configured, one install at a time holds
 * the host's capacity lock from the check to the definition, so two
 * installs cannot both take the last place. The caller holds the
 * container's lock (taken before this one, never after).
 */
export async function withRoom<T>(host: Host, id: string, limits: ContainerLimits | undefined, old: ContainerDefinition | undefined, write: () => Promise<T>): Promise<T> {
  if (!limited(host)) {
    await checkRoom(host, id, limits, old);
    return write();
  }
  // ".capacity" is no container name (names start with a letter or digit): it cannot clash with one.
  return host.locks.with('.capacity', async () => {
    await checkRoom(host, id, limits, old);
    return write();
  });
}

/** 412 (400 for more CPUs than the host has) when the host has no room for the container; also run before an install pulls. */
export async function checkRoom(host: Host, id: string, limits: ContainerLimits | undefined, old: ContainerDefinition | undefined): Promise<void> {
  const cpusAsked = limits?.Cpus;
  const cpusHad = cpus().length;
  if (cpusAsked !== undefined && cpusAsked > cpusHad) throw invalid(`Cpus ${cpusAsked} is more than this host has (${cpusHad} CPUs)`);
  if (!limited(host)) return;
  const why = refusal(await readCapacity(host), { Memory: limits?.Memory ?? 0 }, old ? { Memory: old.Limits?.Memory ?? 0 } : undefined);
  if (why) throw full(`cannot install ${id}: ${why}`);
}

const limitText = (n: number | undefined, f: (n: number) => string = String) => (n === undefined ? '-' : f(n));

/** The table `gear capacity` and the agent's text answer print, one row per host. */
export function capacityTable(rows: [string, Capacity][]): string {
  return table(
    ['HOST', 'CONTAINERS', 'MEMORY RESERVED', 'FREE', 'HOST MEMORY', 'CPUS'],
    rows.map(([name, c]) => [
      name,
      `${c.Containers.Installed}/${limitText(c.Containers.Limit)}`,
      `${memoryText(c.Memory.Reserved)}/${limitText(c.Memory.Limit, memoryText)}`,
      [c.Containers.Free !== undefined ? `${c.Containers.Free} containers` : '', c.Memory.Free !== undefined ? memoryText(c.Memory.Free) : ''].filter(Boolean).join(', ') || 'no limit',
      memoryText(c.Host.Memory),
      String(c.Host.Cpus),
    ]),
  );
}

export const capacity = defineOperation({
  name: 'capacity',
  method: 'GET',
  path: '/capacity',
  summary: 'What this host can still take: containers installed/limit, memory reserved/limit (GEAR_MAX_CONTAINERS, GEAR_MAX_MEMORY), host memory and CPUs',
  query: Type.Object({}, closed),
  mutates: false,
  http: { text: (c: Capacity) => capacityTable([['this host', c]]) },
  parse: () => ({}),
  run: (host) => readCapacity(host),
});
