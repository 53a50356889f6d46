import { CONTAINER_UNITS, nameOfUnit, unitNameOf } from '../model/names.js';
import type { NetworkLink } from '../model/links.js';
import type { PortPair } from '../model/ports.js';
import { requireDefinition } from './common.js';
import { defineOperation, parseId } from './operation.js';
import { table } from './text.js';

/**
 * What the web console (issue 16) reads that no other route gives in one
 * request: every container with what its table shows, and a unit's files as
 * systemd loaded them. Both are public routes like any other (docs/api.md).
 */

export interface ContainerOverview {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
  Image: string;
  Ports: PortPair[];
  NetworkLinks: NetworkLink[];
  /** Since when its unit is in its ActiveState, ms since the epoch; absent when never or unknown. */
  Since?: number;
  /** systemd's automatic restarts of its unit (NRestarts); absent when the unit is not loaded. */
  Restarts?: number;
}

export type OverviewAnswer = { Containers: ContainerOverview[] };

/**
 * Every installed container with its unit's states (the agent's in-memory
 * table, as GET /containers), image, ports, links, and for loaded units
 * their restarts and the time they entered the active state. One request
 * for the console's first render, whatever the number of containers.
 */
export const overview = defineOperation({
  name: 'overview',
  method: 'GET',
  path: '/containers/overview',
  summary: 'Every container with its unit state, image, ports, links, restarts and since when it is active (the web console)',
  mutates: false,
  http: { text: overviewText },
  parse: () => ({}),
  async run(host): Promise<OverviewAnswer> {
    const [loaded, ids] = await Promise.all([host.systemd.list([CONTAINER_UNITS]), host.store.ids()]);
    const units = new Map(loaded.map((u) => [nameOfUnit(u.Id), u]));
    const defs = (await Promise.all(ids.map((id) => host.store.read(id).catch(() => undefined)))).filter((d) => d !== undefined);
    const loadedUnits = defs.filter((d) => units.has(d.Id)).map((d) => unitNameOf(d.Id));
    const [facts, links] = await Promise.all([
      host.systemd.serviceFacts?.(loadedUnits) ?? new Map(),
      Promise.all(defs.map((d) => (d.Linked ? host.store.readLinks(d.Id).catch(() => []) : []))),
    ]);
    const rows = defs.map((d, i): ContainerOverview => {
      const u = units.get(d.Id);
      const f = facts.get(unitNameOf(d.Id));
      return {
        Id: d.Id,
        ActiveState: u?.ActiveState ?? 'inactive',
        SubState: u?.SubState ?? 'dead',
        LoadState: u?.LoadState ?? 'not-loaded',
        Image: d.Image,
        Ports: d.Ports,
        NetworkLinks: links[i]!,
        ...(f && f.ActiveEnterTimestamp > 0 ? { Since: Math.floor(f.ActiveEnterTimestamp / 1000) } : {}),
        ...(f ? { Restarts: f.NRestarts } : {}),
      };
    });
    rows.sort((a, b) => (a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0));
    return { Containers: rows };
  },
});

function overviewText(r: OverviewAnswer): string {
  return table(
    ['ID', 'ACTIVE', 'SUB', 'IMAGE', 'PORTS', 'RESTARTS'],
    r.Containers.map((c) => [c.Id, c.ActiveState, c.SubState, c.Image, c.Ports.map((p) => `${p.Internal}:${p.External}`).join(',') || '-', String(c.Restarts ?? '-')]),
  );
}

export interface UnitFiles {
  Id: string;
  Unit: string;
  /** Each file systemd loaded the unit from, the unit file first, then its drop-ins, as `systemctl cat` shows them. */
  Files: { Path: string; Text: string }[];
}

/**
 * A container's unit as systemd sees it (`systemctl cat`): the file systemd
 * loaded it from (FragmentPath) and its drop-ins, read now. Without a loaded
 * unit (or a systemd that cannot tell), the unit file gear wrote.
 */
export const unitFile = defineOperation({
  name: 'unit-file',
  method: 'GET',
  path: '/container/:id/unit',
  summary: "A container's unit file and drop-ins as systemd loaded them (systemctl cat)",
  mutates: false,
  http: { text: unitText, preferText: true },
  parse: parseId,
  async run(host, req): Promise<UnitFiles> {
    await requireDefinition(host, req.Id);
    const unit = unitNameOf(req.Id);
    const known = await host.systemd.unitFiles?.(unit).catch(() => undefined);
    const paths = known?.fragment ? [known.fragment, ...known.dropIns] : [`${host.config.unitDir}/${unit}`];
    const files = await Promise.all(paths.map(async (Path) => ({ Path, Text: (await host.fs.read(Path)) ?? '' })));
    return { Id: req.Id, Unit: unit, Files: files };
  },
});

export function unitText(r: UnitFiles): string {
  return r.Files.map((f) => `# ${f.Path}\n${f.Text.endsWith('\n') || f.Text === '' ? f.Text : `${f.Text}\n`}`).join('\n');
}
