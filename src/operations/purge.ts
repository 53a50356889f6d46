import { failed } from '../model/errors.js';
import { stopUnit } from './lifecycle.js';
import { defineOperation } from './operation.js';

export interface PurgeResult {
  /** The containers stopped and disabled. */
  Stopped: string[];
}

/**
 * geard's purge: every container stopped and disabled, so that none runs
 * now or comes back at boot. Nothing is removed: definitions, env files,
 * ports and volumes stay (data is sacred; `gear delete` removes a
 * container), and `gear start` brings one back. Each container under its
 * own lock; one that fails does not stop the others.
 */
export const purge = defineOperation({
  name: 'purge',
  method: 'DELETE',
  path: '/containers',
  summary: 'Stop and disable every container (nothing is removed: definitions and volumes stay)',
  mutates: true,
  http: { text: (r: PurgeResult) => `${r.Stopped.length} container${r.Stopped.length === 1 ? '' : 's'} stopped and disabled (definitions and volumes kept)\n` },
  parse: (): Record<string, never> => ({}),
  async run(host): Promise<PurgeResult> {
    const ids = await host.store.ids();
    const results = await Promise.allSettled(
      ids.map((id) =>
        host.locks.with(id, async () => {
          const def = await host.store.read(id);
          if (def) await stopUnit(host, def);
        }),
      ),
    );
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${ids[i]}: ${(r.reason as Error).message}`] : []));
    if (failures.length) throw failed(`purge did not stop every container: ${failures.join('; ')}`);
    return { Stopped: [...ids].sort() };
  },
});
