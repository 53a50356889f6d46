import { CONTAINER_UNITS, nameOfUnit } from '../model/names.js';
import { activatedPorts, socketStateWord, socketsActiveState, socketUnitOf } from '../model/socket-activation.js';
import type { ContainerDefinition } from '../model/definition.js';
import { defineOperation, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { table } from './text.js';
import type { UnitState } from '../host/systemd.js';
import type { Host } from '../host/context.js';
import { compareNames } from '../lib/name-order.js';

export interface ContainerSummary {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
  Description?: string;
  /**
   * With a health check: "healthy" while its unit is active (its start
   * passed the readiness gate and the watcher has not restarted it),
   * "starting" while it is activating; otherwise absent. `gear status` asks Docker.
   */
  Health?: string;
  /** Socket-activated: "idle" (socket listening, no container), "waking", "awake", "stopped" or "failed" (model/socket-activation.ts). */
  Socket?: string;
}

/** localeCompare's order, without ICU's collation data (lib/name-order.ts): the agent sorts at every change. */
const byName = compareNames;

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
  http: { text: listText },
  parse: ({ query }) => ({ all: queryFlag(query.all, 'all') }),
  async run(host, req): Promise<ListAnswer> {
    const [loaded, stored] = await Promise.all([host.systemd.list([CONTAINER_UNITS]), host.store.ids()]);
    const { checked, activated } = await definitionFacts(host, stored);
    // Socket-activated containers: their sockets' states too (one more call), and an answer made afresh.
    if (activated.size) return withSockets(answer(loaded, stored, req.all, checked), activated, await host.systemd.list([SOCKET_UNITS]));
    // Both are the same arrays while nothing changed (UnitTable.list, ContainerStore.ids): so is the answer.
    let byStored = answers.get(loaded);
    if (!byStored) answers.set(loaded, (byStored = new WeakMap()));
    let known = byStored.get(stored);
    if (!known) byStored.set(stored, (known = {}));
    const key = req.all ? 'all' : 'loaded';
    return (known[key] ??= answer(loaded, stored, req.all, checked));
  },
});

export type ListAnswer = Readonly<{ Containers: readonly Readonly<ContainerSummary>[] }>;

/** Answers by the arrays they were made from; frozen, so the server may reuse their serialized form. */
const answers = new WeakMap<readonly object[], WeakMap<readonly string[], { all?: ListAnswer; loaded?: ListAnswer }>>();

function answer(loaded: readonly Readonly<UnitState>[], stored: readonly string[], all: boolean, checked: ReadonlySet<string>): ListAnswer {
  const installed = new Set(stored);
  const rows = new Map<string, ContainerSummary>();
  for (const u of loaded) {
    const id = nameOfUnit(u.Id);
    // A unit file without a definition is the leftover of a crashed install, not a container.
    if (id === undefined || !installed.has(id)) continue;
    const health = checked.has(id) ? healthOfUnit(u) : undefined;
    rows.set(id, { Id: id, ActiveState: u.ActiveState, SubState: u.SubState, LoadState: u.LoadState, Description: u.Description, ...(health ? { Health: health } : {}) });
  }
  if (all) {
    for (const id of stored) {
      if (!rows.has(id)) rows.set(id, { Id: id, ActiveState: 'inactive', SubState: 'dead', LoadState: 'not-loaded' });
    }
  }
  const sorted = [...rows.values()].sort((a, b) => byName(a.Id, b.Id));
  return Object.freeze({ Containers: Object.freeze(sorted.map((row) => Object.freeze(row))) });
}

/** The table; a HEALTH column only when a container has a health check, a SOCKET column only when one is socket-activated (other listings stay as they were). */
function listText(r: ListAnswer): string {
  const health = r.Containers.some((c) => c.Health !== undefined);
  const socket = r.Containers.some((c) => c.Socket !== undefined);
  const row = (c: ContainerSummary) => [c.Id, c.ActiveState, c.SubState, c.LoadState, ...(health ? [c.Health ?? '-'] : []), ...(socket ? [c.Socket ?? '-'] : [])];
  return table(['ID', 'ACTIVE', 'SUB', 'LOAD', ...(health ? ['HEALTH'] : []), ...(socket ? ['SOCKET'] : [])], r.Containers.map(row));
}

const SOCKET_UNITS = 'ctr-*.socket';

/** The answer with each socket-activated container's socket in a word; its socket unloaded or absent: stopped. */
function withSockets(a: ListAnswer, activated: ReadonlyMap<string, string[]>, sockets: readonly Readonly<UnitState>[]): ListAnswer {
  const active = new Map(sockets.map((u) => [u.Id, u.ActiveState]));
  const rows = a.Containers.map((c) =>
    activated.has(c.Id) ? Object.freeze({ ...c, Socket: socketStateWord(socketsActiveState(activated.get(c.Id)!.map((u) => active.get(u) ?? 'inactive')), c.ActiveState) }) : c,
  );
  return Object.freeze({ Containers: Object.freeze(rows) });
}

const healthOfUnit = (u: UnitState): string | undefined =>
  u.ActiveState === 'active' ? 'healthy' : u.ActiveState === 'activating' ? 'starting' : undefined;

/** What the listing needs of the definitions: the ids with a health check, and the socket-activated ones. */
interface DefinitionFacts {
  checked: ReadonlySet<string>;
  /** By id, its sockets (one per published port). */
  activated: ReadonlyMap<string, string[]>;
}

/**
 * Its socket units, one per published port. A definition whose ports and
 * private ports disagree (edited by hand; `gear status NAME` says what is
 * wrong) lists by its first socket rather than failing the whole listing.
 */
function socketsOf(def: ContainerDefinition): string[] {
  try {
    return activatedPorts(def).map((p) => p.Socket);
  } catch {
    return [socketUnitOf(def.Id)];
  }
}

/** Read once per listing of the definitions (the same array while none changed), for both facts. */
const factsBy = new WeakMap<readonly string[], Promise<DefinitionFacts>>();
function definitionFacts(host: Host, stored: readonly string[]): Promise<DefinitionFacts> {
  let known = factsBy.get(stored);
  if (!known) {
    known = Promise.all(stored.map((id) => host.store.read(id).catch(() => undefined))).then((defs) => ({
      checked: new Set(defs.filter((d) => d?.Health).map((d) => d!.Id)),
      activated: new Map(defs.filter((d) => d?.SocketActivation).map((d) => [d!.Id, socketsOf(d!)])),
    }));
    factsBy.set(stored, known);
    known.catch(() => factsBy.delete(stored));
  }
  return known;
}
