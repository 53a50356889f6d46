import type { Host } from '../host/context.js';
import { unitNameOf, validateName } from '../model/names.js';
import { defineOperation } from './operation.js';

/**
 * Repair: remove what a crashed or killed install left behind without
 * reaching its commit point (the definition file): orphan unit files, env
 * files and port reservations. Each candidate is re-checked under its
 * container's lock, so an install in progress is never touched.
 */
export async function cleanHost(host: Host): Promise<string[]> {
  const removed: string[] = [];
  const installed = new Set(await host.store.ids());
  const suspects = new Set<string>();
  for (const id of await host.units.installedIds()) if (!installed.has(id)) suspects.add(id);
  for (const f of await host.fs.list(`${host.store.stateDir}/env`)) {
    const id = /^(.+)\.env$/.exec(f)?.[1];
    if (id && !installed.has(id)) suspects.add(id);
  }
  for (const f of await host.fs.list(`${host.store.stateDir}/links`)) {
    const id = /^([^.].*)\.json$/.exec(f)?.[1];
    if (id && !installed.has(id)) suspects.add(id);
  }
  const reservations = await host.ports.all();
  for (const owner of reservations.values()) if (!installed.has(owner)) suspects.add(owner);

  for (const id of suspects) {
    try {
      validateName(id);
    } catch {
      continue; // not a name gear would have written: not ours to remove
    }
    await host.locks.with(id, async () => {
      if (await host.store.read(id)) return; // finished installing meanwhile
      if (await host.fs.exists(host.units.path(id))) {
        await host.systemd.stop(unitNameOf(id)).catch(() => undefined);
        await host.units.remove(id);
        removed.push(host.units.path(id));
      }
      const leftovers = [];
      for (const file of [host.store.envFile(id), host.store.linksFile(id)]) if (await host.fs.exists(file)) leftovers.push(file);
      if (leftovers.length) {
        await host.store.remove(id);
        removed.push(...leftovers);
      }
      const ports = [...reservations].filter(([, owner]) => owner === id).map(([port]) => port);
      await host.ports.release(id, ports);
      removed.push(...ports.map((p) => `port ${p} (reserved by ${id})`));
    });
  }
  // Temp files of writers killed mid-write (older than a minute: never one in flight).
  for (const dir of ['containers', 'env', 'ports', 'links']) removed.push(...(await host.fs.removeStaleTemps(`${host.store.stateDir}/${dir}`, 60_000)));
  removed.push(...(await host.fs.removeStaleTemps(host.config.unitDir, 60_000)));
  return removed;
}

export const clean = defineOperation<Record<string, never>, { Removed: string[] }>({
  name: 'clean',
  method: 'POST',
  path: '/clean',
  summary: 'Remove what interrupted installs left behind',
  mutates: true,
  parse: () => ({}),
  run: async (host) => ({ Removed: await cleanHost(host) }),
});
