import { memoryText } from './limits.js';

/**
 * What a host can take (GET /capacity): its configured limits (the agent's
 * GEAR_MAX_CONTAINERS, GEAR_MAX_MEMORY), what its containers use of them,
 * and what the host has. Memory counts the containers' memory limits
 * (--memory): a container without one reserves nothing.
 */
export interface Capacity {
  Containers: { Installed: number; Limit?: number; Free?: number };
  Memory: { Reserved: number; Limit?: number; Free?: number };
  Host: { Memory: number; Cpus: number };
}

/** What one container asks of a host: one container, and its memory limit (0 without one). */
export interface Demand {
  Memory: number;
}

/** A capacity from its parts, with Free worked out where there is a limit. */
export function capacityOf(installed: number, reserved: number, limits: { maxContainers?: number; maxMemory?: number }, host: Capacity['Host']): Capacity {
  const c: Capacity = { Containers: { Installed: installed }, Memory: { Reserved: reserved }, Host: host };
  if (limits.maxContainers !== undefined) c.Containers = { ...c.Containers, Limit: limits.maxContainers, Free: Math.max(0, limits.maxContainers - installed) };
  if (limits.maxMemory !== undefined) c.Memory = { ...c.Memory, Limit: limits.maxMemory, Free: Math.max(0, limits.maxMemory - reserved) };
  return c;
}

/**
 * Why `c` cannot take `d`, or undefined when it can. `replacing`: the
 * container is installed already (a re-install): it counts once, and its
 * earlier memory limit is given back first.
 */
export function refusal(c: Capacity, d: Demand, replacing?: Demand): string | undefined {
  const { Installed, Limit: maxContainers } = c.Containers;
  if (!replacing && maxContainers !== undefined && Installed + 1 > maxContainers)
    return `the host is full: ${Installed} of ${maxContainers} containers installed (GEAR_MAX_CONTAINERS)`;
  const { Reserved, Limit: maxMemory } = c.Memory;
  const after = Reserved - (replacing?.Memory ?? 0) + d.Memory;
  // A re-install that asks no more than it had is never refused (even on a host whose limit was lowered since).
  const grows = d.Memory > (replacing?.Memory ?? 0);
  if (maxMemory !== undefined && grows && after > maxMemory)
    return `the host has no memory for it: ${memoryText(d.Memory)} asked, ${memoryText(Math.max(0, maxMemory - Reserved + (replacing?.Memory ?? 0)))} of ${memoryText(maxMemory)} free (GEAR_MAX_MEMORY)`;
  return undefined;
}

/** `c` after it took `d` (for placing several instances on one host). */
export function taken(c: Capacity, d: Demand): Capacity {
  const { Containers: k, Memory: m } = c;
  return {
    ...c,
    Containers: { ...k, Installed: k.Installed + 1, ...(k.Limit !== undefined ? { Free: Math.max(0, k.Limit - k.Installed - 1) } : {}) },
    Memory: { ...m, Reserved: m.Reserved + d.Memory, ...(m.Limit !== undefined ? { Free: Math.max(0, m.Limit - m.Reserved - d.Memory) } : {}) },
  };
}
