import type { Host } from '../host/context.js';
import { unitNameOf, validateName } from '../model/names.js';
import { volumesNotIn, type NamedVolume } from '../model/volumes.js';
import { defineOperation, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { dropVolumes } from './volumes.js';

export interface KeptVolume extends NamedVolume {
  /** The deleted container it was kept from. */
  Id: string;
}

export interface CleanResult {
  /** What was removed; with DryRun, what would have been (nothing was). */
  Removed: string[];
  /** What it found but could not remove (e.g. a volume still in use), with why; a later clean retries. */
  NotRemoved: string[];
  /** Volumes `gear delete --keep-volumes` kept: never removed here (`gear delete NAME` does). */
  Kept: KeptVolume[];
  /** Nothing was removed: Removed lists what a clean would remove now. */
  DryRun?: boolean;
}

/**
 * Repair: remove what a crashed or killed install left behind without
 * reaching its commit point (the definition file): orphan unit files, env
 * files, port reservations, and the volumes in its volume record (also
 * those of a delete killed before it removed them), except kept ones. Each
 * candidate is re-checked under its container's lock, so an install in
 * progress is never touched. Volumes gear has no record of are never
 * touched, whatever their labels say.
 *
 * `dryRun` (the seed's `clean --dry-run`): the same checks, and nothing
 * stopped, released or removed; Removed lists what would have been.
 */
export async function cleanHost(host: Host, dryRun = false): Promise<CleanResult> {
  const removed: string[] = [];
  const notRemoved: string[] = [];
  const installed = new Set(await host.store.ids());
  const suspects = new Set<string>();
  for (const id of await host.units.installedIds()) if (!installed.has(id)) suspects.add(id);
  for (const f of await host.fs.list(`${host.store.stateDir}/env`)) {
    const id = /^(.+)\.env$/.exec(f)?.[1];
    if (id && !installed.has(id)) suspects.add(id);
  }
  for (const id of await host.store.idsIn('links')) if (!installed.has(id)) suspects.add(id);
  for (const id of await host.store.idsIn('volumes')) if (!installed.has(id)) suspects.add(id);
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
        if (!dryRun) {
          await host.systemd.stop(unitNameOf(id)).catch(() => undefined);
          await host.units.remove(id);
        }
        removed.push(host.units.path(id));
      }
      const leftovers = [];
      for (const file of [host.store.envFile(id), host.store.linksFile(id)]) if (await host.fs.exists(file)) leftovers.push(file);
      if (leftovers.length) {
        if (!dryRun) await host.store.remove(id);
        removed.push(...leftovers);
      }
      const ports = [...reservations].filter(([, owner]) => owner === id).map(([port]) => port);
      if (!dryRun) await host.ports.release(id, ports);
      removed.push(...ports.map((p) => `port ${p} (reserved by ${id})`));
      const kept = await host.store.readVolumes(host.store.keptVolumesFile(id), id);
      const recorded = await host.store.readVolumes(host.store.volumesFile(id), id);
      if (dryRun) {
        removed.push(...volumesNotIn(recorded, kept).map((v) => `volume ${v.Name} (${id} ${v.Path})`));
        return;
      }
      const dropped = await dropVolumes(host, id, volumesNotIn(recorded, kept));
      removed.push(...dropped.removed.map((v) => `volume ${v.Name} (${id} ${v.Path})`));
      // Kept ones stay kept; only the record of this (never finished) install or (finished) delete goes.
      await host.store.writeVolumes(host.store.volumesFile(id), id, dropped.failed.map((f) => f.volume));
      for (const f of dropped.failed) notRemoved.push(`volume ${f.volume.Name} (${id} ${f.volume.Path}): ${f.error}`);
    });
  }
  // Temp files of writers killed mid-write (older than a minute: never one in flight).
  for (const dir of ['containers', 'env', 'ports', 'links', 'volumes', 'kept-volumes']) removed.push(...(await host.fs.removeStaleTemps(`${host.store.stateDir}/${dir}`, 60_000, dryRun)));
  removed.push(...(await host.fs.removeStaleTemps(host.config.unitDir, 60_000, dryRun)));
  const kept: KeptVolume[] = [];
  for (const id of await host.store.idsIn('kept-volumes')) {
    try {
      validateName(id);
    } catch {
      continue;
    }
    for (const v of await host.store.readVolumes(host.store.keptVolumesFile(id), id)) kept.push({ Id: id, ...v });
  }
  return { Removed: removed, NotRemoved: notRemoved, Kept: kept, ...(dryRun ? { DryRun: true } : {}) };
}

export const clean = defineOperation({
  name: 'clean',
  method: 'POST',
  path: '/clean',
  summary: 'Remove what interrupted installs and deletes left behind; list kept volumes (?dry-run=1: only list what it would remove)',
  query: querySchema('dry-run'),
  mutates: true,
  parse: (req): { DryRun: boolean } => ({ DryRun: queryFlag(req.query['dry-run'], 'dry-run') }),
  run: (host, req): Promise<CleanResult> => cleanHost(host, req.DryRun),
});
