import { CONTAINER_UNITS, nameOfUnit } from '../model/names.js';
import { defineOperation, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { table } from './text.js';

export interface ContainerSummary {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
  Description?: string;
}

/** localeCompare's order (default locale and options), with the collator made once instead of per comparison: the agent sorts at every listing. */
const byName = new Intl.Collator().compare;

/**
 * Containers systemd has loaded (running, failed, or recently stopped), and
 * with `all` also those installed but not loaded (never started, or stopped
 * long enough for systemd to unload them).
 */
export const list = defineOperation({
  name: 'list-units',
  method: 'GET',
  path: '/containers',
  summary: 'List containers with their unit states',
  query: querySchema('all'),
  mutates: false,
  http: { text: (r: { Containers: ContainerSummary[] }) => table(['ID', 'ACTIVE', 'SUB', 'LOAD'], r.Containers.map((c) => [c.Id, c.ActiveState, c.SubState, c.LoadState])) },
  parse: ({ query }) => ({ all: queryFlag(query.all, 'all') }),
  async run(host, req): Promise<{ Containers: ContainerSummary[] }> {
    const [loaded, stored] = await Promise.all([host.systemd.list([CONTAINER_UNITS]), host.store.ids()]);
    const installed = new Set(stored);
    const rows = new Map<string, ContainerSummary>();
    for (const u of loaded) {
      const id = nameOfUnit(u.Id);
      // A unit file without a definition is the leftover of a crashed install, not a container.
      if (id === undefined || !installed.has(id)) continue;
      rows.set(id, { Id: id, ActiveState: u.ActiveState, SubState: u.SubState, LoadState: u.LoadState, Description: u.Description });
    }
    if (req.all) {
      for (const id of stored) {
        if (!rows.has(id)) rows.set(id, { Id: id, ActiveState: 'inactive', SubState: 'dead', LoadState: 'not-loaded' });
      }
    }
    return { Containers: [...rows.values()].sort((a, b) => byName(a.Id, b.Id)) };
  },
});
