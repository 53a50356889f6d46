import type { Host } from '../host/context.js';
import type { ContainerDefinition } from '../model/definition.js';
import { notFound } from '../model/errors.js';

/** The stored definition, or a 404-kind error naming the container. */
export async function requireDefinition(host: Host, id: string): Promise<ContainerDefinition> {
  const def = await host.store.read(id);
  if (!def) throw notFound(`container ${id} is not installed`);
  return def;
}

/**
 * Make systemd see the current unit file. A unit it has never loaded is read
 * from disk on first use; only a loaded unit whose file changed needs the
 * (expensive, manager-wide) reload.
 */
export async function reloadIfNeeded(host: Host, ...units: string[]): Promise<void> {
  const stale = await Promise.all(units.map((unit) => host.systemd.needsReload(unit)));
  if (stale.some(Boolean)) await host.systemd.reload();
}

/** Run a clean-up step, swallowing its failure (sync or async): the original error is what matters. */
export async function attempt(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch {
    // `gear clean` removes whatever is left.
  }
}
