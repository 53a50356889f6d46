import type { Host } from '../host/context.js';
import { containerNameOf, unitNameOf } from '../model/names.js';
import { requireDefinition } from './common.js';
import { stopUnit } from './lifecycle.js';
import { defineOperation, parseId, type IdRequest } from './operation.js';

/**
 * Remove a container completely: stop and disable its unit, then remove the
 * definition (from then on it counts as absent), the unit file, the env file
 * and its port reservations, and any container Docker still has by its name.
 */
export async function deleteContainer(host: Host, id: string): Promise<void> {
  const def = await requireDefinition(host, id);
  await stopUnit(host, id);
  await host.store.remove(id);
  await host.units.remove(id);
  await host.ports.release(id, def.Ports.map((p) => p.External));
  await host.docker.remove(containerNameOf(id));
  // Forget a failed state, so systemd can drop the unit now that its file is gone.
  await host.systemd.resetFailed(unitNameOf(id));
}

export const remove = defineOperation<IdRequest, void>({
  name: 'delete',
  method: 'DELETE',
  path: '/container/:id',
  summary: 'Stop a container and remove its unit, state, env file and port reservations',
  mutates: true,
  parse: parseId,
  run: async (host, req) => {
    await host.locks.with(req.Id, () => deleteContainer(host, req.Id));
    await host.removeTargetIfUnused();
  },
});
