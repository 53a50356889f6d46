import type { Host } from '../host/context.js';
import { containerNameOf, unitNameOf } from '../model/names.js';
import { volumesNotIn } from '../model/volumes.js';
import { reservedPortsOf } from '../model/definition.js';
import { activationUnitsOf } from '../model/socket-activation.js';
import { envIdOf, readersOf } from './env-ids.js';
import { stopUnit } from './lifecycle.js';
import { defineOperation, parseId, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { dropFailure, dropVolumes, recordVolumes } from './volumes.js';
import { releaseIsolation } from './isolation.js';

export interface DeleteRequest {
  Id: string;
  /** Keep the container's named volumes (recorded as kept: a reinstall of the name takes them back). */
  KeepVolumes: boolean;
}

/**
 * Remove a container completely: stop and disable its unit, then remove the
 * definition (from then on it counts as absent), the unit file, its own env
 * file unless another container reads it (a shared environment, of another
 * id, is left: `gear clean` removes it once no container reads it), its port
 * reservations, any container Docker still has by its name, and
 * last its named volumes, unless they are kept: then they are recorded as
 * kept first, and `gear clean` leaves them alone.
 *
 * A name that is not installed but has kept volumes: `gear delete NAME`
 * removes those. A name with neither is no error (as in the seed: scripts
 * delete what may not be there): false, nothing done.
 */
export async function deleteContainer(host: Host, id: string, keepVolumes = false): Promise<boolean> {
  const def = await host.store.read(id);
  const keptFile = host.store.keptVolumesFile(id);
  if (!def) {
    const kept = keepVolumes ? [] : await host.store.readVolumes(keptFile, id);
    if (!kept.length) return false;
    const failure = dropFailure(id, await dropVolumes(host, id, kept));
    if (failure) throw failure;
    // The uid its kept volumes belonged to (below) goes with them.
    await releaseIsolation(host, id, undefined);
    return true;
  }
  await stopUnit(host, def);
  const record = host.store.volumesFile(id);
  const recorded = await host.store.readVolumes(record, id);
  const owned = [...recorded, ...volumesNotIn(def.NamedVolumes ?? [], recorded)];
  if (keepVolumes) await recordVolumes(host, keptFile, id, owned);
  await host.store.remove(id);
  const envId = envIdOf(def);
  if (envId === id)
    await host.envLocks.with(envId, async () => {
      if ((await readersOf(host, envId, id)).length === 0) await host.store.removeEnv(envId);
    });
  await host.units.remove(id);
  await host.ports.release(id, reservedPortsOf(def));
  await host.docker.remove(containerNameOf(id));
  // Forget a failed state, so systemd can drop the unit now that its file is gone.
  await host.systemd.resetFailed(unitNameOf(id));
  for (const unit of activationUnitsOf(def)) await host.systemd.resetFailed(unit);
  if (keepVolumes) {
    // An isolated container's uid (and host user) stays reserved with its kept volumes,
    // which it owns: a re-install of the name gets them back with the same uid.
    await host.store.writeVolumes(record, id, []);
    return true;
  }
  const failure = dropFailure(id, await dropVolumes(host, id, owned));
  if (failure) throw failure;
  await releaseIsolation(host, id, def.Isolation);
  return true;
}

export interface DeleteResult {
  Id: string;
  /** Something was there to delete (false: not installed, nothing done; not an error). */
  Deleted: boolean;
}

export const remove = defineOperation({
  name: 'delete',
  method: 'DELETE',
  path: '/container/:id',
  summary: 'Stop a container and remove its unit, state, env file, port reservations and volumes (?keep-volumes=true keeps the volumes)',
  query: querySchema('keep-volumes'),
  mutates: true,
  forgetsContainer: true,
  http: { text: (r: DeleteResult) => `Container ${r.Id} ${r.Deleted ? 'is deleted' : 'is not installed, nothing to delete'}\n` },
  parse: (req): DeleteRequest => ({ ...parseId(req), KeepVolumes: queryFlag(req.query['keep-volumes'], 'keep-volumes') }),
  run: async (host, req): Promise<DeleteResult> => {
    const deleted = await host.locks.with(req.Id, () => deleteContainer(host, req.Id, req.KeepVolumes));
    await host.removeTargetIfUnused();
    return { Id: req.Id, Deleted: deleted };
  },
});
