import type { Host } from '../host/context.js';
import type { ContainerDefinition } from '../model/definition.js';
import { conflict, failed } from '../model/errors.js';
import { unitNameOf } from '../model/names.js';
import { imageVolumePath, isVolumeOf, planVolumes, volumeLabels, volumesNotIn, type NamedVolume } from '../model/volumes.js';
import { attempt, reloadIfNeeded } from './common.js';
import { ownVolumes } from './isolation.js';

/**
 * A container's named volumes on the host. Which volumes are gear's to
 * remove is decided twice: a volume must be recorded in gear's state (the
 * volume record, volumes/NAME.json, written before gear creates them) and,
 * in Docker, carry gear's labels for that container and path under the name
 * gear gives them. A volume someone made by hand, labels and all, is never
 * in a record; one in a record that Docker reports without gear's labels was
 * replaced by someone else's. Both are left alone.
 */

/** Every volume of an image's definition: its -v paths and the image's VOLUMEs (undefined: the image is not here). */
export async function imageVolumePlan(host: Host, id: string, def: Pick<ContainerDefinition, 'Image' | 'VolumeConfig'>): Promise<NamedVolume[] | undefined> {
  const declared = await host.docker.imageVolumes(def.Image);
  return declared && planVolumes(id, def.VolumeConfig, declared.map((p) => imageVolumePath(p, def.Image)));
}

/**
 * Make sure each volume exists, creating the missing ones with gear's
 * labels (pushed to `created` as they are made, for the caller to undo).
 * `adopt: false` (install, migration): an existing volume of the name must
 * be gear's for this container and path, never someone else's. `adopt:
 * true` (a start of an installed container): its unit mounts the name
 * anyway, and `docker run` itself creates a missing one without labels.
 */
export async function createVolumes(host: Host, id: string, volumes: NamedVolume[], created: NamedVolume[], adopt = false): Promise<void> {
  const results = await Promise.allSettled(
    volumes.map(async (v) => {
      const found = await host.docker.volume(v.Name);
      if (found) {
        if (!adopt && !isVolumeOf(found, id, v.Path))
          throw conflict(`a volume named ${v.Name} exists and is not gear's volume of ${id} (${v.Path}); gear does not take over a volume it did not create`);
        return;
      }
      await host.docker.createVolume(v.Name, volumeLabels(id, v.Path));
      created.push(v);
    }),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

export interface Dropped {
  removed: NamedVolume[];
  /** Same name, but not gear's volume of this container (no or other labels): left alone. */
  foreign: NamedVolume[];
  failed: { volume: NamedVolume; error: string }[];
}

/**
 * Remove the volumes that are gear's of this container; forget them in its
 * volume record and kept record, except the ones that could not be removed
 * (still recorded, so `gear clean` retries). The caller holds the lock.
 */
export async function dropVolumes(host: Host, id: string, volumes: NamedVolume[]): Promise<Dropped> {
  const out: Dropped = { removed: [], foreign: [], failed: [] };
  await Promise.all(
    volumes.map(async (v) => {
      try {
        const found = await host.docker.volume(v.Name);
        if (found && !isVolumeOf(found, id, v.Path)) return void out.foreign.push(v);
        if (found) await host.docker.removeVolume(v.Name);
        out.removed.push(v);
      } catch (err) {
        out.failed.push({ volume: v, error: (err as Error).message });
      }
    }),
  );
  const done = [...out.removed, ...out.foreign];
  if (!done.length) return out;
  for (const file of [host.store.volumesFile(id), host.store.keptVolumesFile(id)])
    await host.store.writeVolumes(file, id, volumesNotIn(await host.store.readVolumes(file, id), done));
  return out;
}

/** An error for volumes a delete could not remove. */
export function dropFailure(id: string, dropped: Dropped): Error | undefined {
  if (!dropped.failed.length) return undefined;
  return failed(
    `${id} is deleted, but ${dropped.failed.map((f) => `volume ${f.volume.Name} could not be removed (${f.error})`).join('; ')}`,
    'gear clean removes it once nothing uses it',
  );
}

/** Add volumes to a record (volumes or kept-volumes file), each name once. */
export async function recordVolumes(host: Host, file: string, id: string, volumes: NamedVolume[]): Promise<NamedVolume[]> {
  const earlier = await host.store.readVolumes(file, id);
  await host.store.writeVolumes(file, id, [...earlier, ...volumesNotIn(volumes, earlier)]);
  return earlier;
}

/**
 * Before a start through gear: a container installed before gear named its
 * volumes gets them now (migration: record, create, re-render the unit,
 * store the definition, reload if systemd had the old unit loaded); an
 * installed one gets back any named volume removed by hand, with gear's
 * labels. A container whose image is not on the host is left as it is
 * (its start pulls the image; the next start migrates). The caller holds
 * the container's lock. Returns the definition as it is now.
 */
export async function prepareVolumes(host: Host, def: ContainerDefinition): Promise<ContainerDefinition> {
  if (def.NamedVolumes) {
    if (def.NamedVolumes.length) await createVolumes(host, def.Id, def.NamedVolumes, [], true);
    // One removed by hand and made again is given to an isolated container's uid again.
    await ownVolumes(host, def, def.NamedVolumes);
    return def;
  }
  const volumes = await imageVolumePlan(host, def.Id, def);
  if (!volumes) return def;
  const migrated: ContainerDefinition = { ...def, NamedVolumes: volumes };
  const record = host.store.volumesFile(def.Id);
  const earlier = await recordVolumes(host, record, def.Id, volumes);
  const created: NamedVolume[] = [];
  try {
    await createVolumes(host, def.Id, volumes, created);
    await host.units.write(migrated);
    await host.store.write(migrated);
  } catch (err) {
    await attempt(() => host.units.write(def));
    await attempt(() => dropVolumes(host, def.Id, created));
    await attempt(() => host.store.writeVolumes(record, def.Id, earlier));
    throw err;
  }
  await reloadIfNeeded(host, unitNameOf(def.Id));
  return migrated;
}

/**
 * At the agent's start: migrate every container installed before gear named
 * volumes, so that a start by systemd alone (a reboot, Restart=) mounts
 * them too. One line per container migrated or failed.
 */
export async function migrateVolumes(host: Host): Promise<string[]> {
  const lines: string[] = [];
  for (const id of await host.store.ids()) {
    // Almost always nothing to migrate: a plain read, and the lock only when there is.
    if ((await host.store.read(id))?.NamedVolumes) continue;
    await host.locks
      .with(id, async () => {
        const def = await host.store.read(id);
        if (!def || def.NamedVolumes) return;
        const now = await prepareVolumes(host, def);
        if (now.NamedVolumes) lines.push(`${id}: named volumes ${now.NamedVolumes.map((v) => `${v.Name} (${v.Path})`).join(', ') || '(none)'}`);
      })
      .catch((err: Error) => lines.push(`${id}: volumes not migrated: ${err.message}`));
  }
  return lines;
}
