import type { Host } from '../host/context.js';
import type { Netns } from '../host/netns.js';
import { describeGearRules, noGearRules } from '../model/link-leftovers.js';
import { containerNameOf, unitNameOf, validateName } from '../model/names.js';
import { isVolumeOf, volumesNotIn, type NamedVolume } from '../model/volumes.js';
import type { Leftover, LeftoverKind } from './clean.js';
import { reloadIfNeeded } from './common.js';
import { reservedPortsOf } from '../model/definition.js';
import { activationUnitsOf } from '../model/socket-activation.js';
import { BUILD_LABEL, JOB_LABEL, runLockOf, runNameOf, runOfContainer, runOfUnit, type RunKind } from '../model/oneoff.js';

/**
 * `gear clean --repair`: find where gear's state, systemd and Docker
 * disagree, and fix each (with dryRun: only list them). It only ever
 * touches what carries gear's marks:
 *
 * - unit files: ctr-NAME.service beginning with gear's header;
 * - containers: label io.gear.container=NAME and the name ctr-NAME, or the
 *   label io.gear.copy-up=NAME of an isolated install's volume filler;
 * - volumes: gear's three labels and the name gear gives that container and path;
 * - link rules: gear's chains (GEAR-LINKS*), in a network namespace that no
 *   container owns (never the host's own, never a container's);
 * - state files under gear's state directory, with names gear writes;
 * - a job's or build's containers (label io.gear.job or io.gear.build = ID
 *   and the name that run gives them) and its transient unit
 *   (gear-job-ID.service, gear-build-ID.service), only while no live
 *   process holds the run's lock (@gear-job-ID, @gear-build-ID).
 *
 * Data is sacred: no volume is removed unless gear's own record says it
 * belongs to an install or delete that never finished (what clean removes
 * too). A gear volume in no record is recorded as kept instead: `gear
 * delete NAME` removes it, a reinstall of NAME takes it back. A definition
 * whose unit file is gone gets it rendered again (the definition is the
 * commit point of an install); one that cannot be read is reported and left
 * as it is, since removing it would turn its volumes into leftovers.
 */

export interface Finding {
  /** What is wrong, naming the thing. */
  Problem: string;
  /** What repair does (or, with DryRun, would do) about it. */
  Fix: string;
  /** It was fixed. False with DryRun, or when fixing failed or there is no safe fix (Error says why). */
  Fixed: boolean;
  Error?: string;
}

export interface RepairResult {
  Findings: Finding[];
  DryRun?: boolean;
}

/** The label gear puts on its containers (model/unit.ts) and volumes (model/volumes.ts). */
const CONTAINER_LABEL = 'io.gear.container';
const VOLUME_LABEL = 'io.gear.volume';
const PATH_LABEL = 'io.gear.path';
/** The label of the helper that fills an isolated container's volumes (host/docker.ts copyIntoVolumes). */
const COPY_UP_LABEL = 'io.gear.copy-up';

/** How clean's leftovers read as findings. */
const LEFTOVER: Record<LeftoverKind, (what: string) => Omit<Finding, 'Fixed'>> = {
  unit: (what) => ({ Problem: `unit file ${what} has no definition (no installed container)`, Fix: 'stop the unit and remove the file' }),
  links: (what) => ({ Problem: `links file ${what} has no definition (no installed container)`, Fix: 'remove the file' }),
  port: (what) => ({ Problem: `${what} is not installed`.replace(/\(reserved by (.*)\) is not installed$/, 'is reserved by $1, which is not installed'), Fix: 'release the reservation' }),
  uid: (what) => ({ Problem: `${what} is not installed`.replace(/\(reserved by (.*)\) is not installed$/, 'is reserved by $1, which is not installed'), Fix: 'remove its host user (if gear made it) and release the uid' }),
  volume: (what) => ({ Problem: `${what} is recorded for a container that is not installed (an install or delete that never finished)`, Fix: 'remove the volume' }),
  env: (what) => ({ Problem: `env file ${what} is read by no installed container`, Fix: 'remove the file' }),
  temp: (what) => ({ Problem: `temp file ${what} is left from an interrupted write`, Fix: 'remove the file' }),
};

class Findings {
  readonly list: Finding[] = [];
  constructor(readonly dryRun: boolean) {}

  /** A finding; `fix` runs unless dry run, and its failure is recorded, not thrown. */
  async add(problem: string, fixText: string, fix: () => Promise<unknown>): Promise<void> {
    if (this.dryRun) return void this.list.push({ Problem: problem, Fix: fixText, Fixed: false });
    try {
      await fix();
      this.list.push({ Problem: problem, Fix: fixText, Fixed: true });
    } catch (err) {
      this.list.push({ Problem: problem, Fix: fixText, Fixed: false, Error: (err as Error).message });
    }
  }
}

const validName = (id: string | undefined): id is string => {
  try {
    validateName(id);
    return true;
  } catch {
    return false;
  }
};

/**
 * Repair the host. `leftovers`: what clean found (and unless dryRun
 * removed) first: units, links files, ports and recorded volumes of no
 * definition, env files nobody reads, temp files (clean.ts findLeftovers).
 */
export async function repairHost(host: Host, dryRun: boolean, leftovers: Leftover[]): Promise<RepairResult> {
  const f = new Findings(dryRun);
  for (const l of leftovers) f.list.push({ ...LEFTOVER[l.Kind](l.What), Fixed: !dryRun && l.Error === undefined, ...(l.Error ? { Error: l.Error } : {}) });
  await definitionsWithoutUnits(host, f);
  await portsNotInDefinitions(host, f);
  const gearContainers = await host.docker.containersLabelled(CONTAINER_LABEL);
  await staleContainers(host, f, gearContainers);
  await copyUpHelpers(host, f);
  await unrecordedVolumes(host, f);
  await linkRulesOfGoneContainers(host, f);
  for (const locks of host.allLocks) {
    const stale = await locks.removeStale(dryRun);
    f.list.push(...stale.map((path) => ({ Problem: `lock ${path} is held by a process that is gone`, Fix: 'remove the lock', Fixed: !dryRun })));
  }
  // After the stale locks: a killed run's lock is reported (and broken) as one, then its run is seen free.
  await abandonedRuns(host, f);
  return { Findings: f.list, ...(dryRun ? { DryRun: true } : {}) };
}

/**
 * Installed containers whose unit file is gone get it rendered again from the
 * definition (enablement and state as they were); socket and proxy units of
 * ports a container no longer publishes are removed.
 */
async function definitionsWithoutUnits(host: Host, f: Findings): Promise<void> {
  for (const id of await host.store.ids()) {
    if (!validName(id)) continue;
    await host.locks.with(id, async () => {
      let def;
      try {
        def = await host.store.read(id);
      } catch (err) {
        f.list.push({
          Problem: `definition ${host.store.definitionFile(id)} cannot be read (${(err as Error).message})`,
          Fix: `none that is safe: repair leaves it (its ports and volumes stay reserved); restore the file, or \`gear delete ${id}\``,
          Fixed: false,
          Error: 'no safe fix',
        });
        return;
      }
      if (!def) return;
      // A socket-activated container has a socket and a proxy unit per published port too.
      const files = [host.units.path(id), ...host.units.socketPaths(def)];
      // Socket and proxy units of gear's for ports it does not publish (a re-install killed between its definition and its units).
      const stale = (await host.units.socketFiles(id)).filter((file) => !files.includes(file));
      if (stale.length)
        await f.add(`container ${id} has socket unit file${stale.length > 1 ? 's' : ''} ${stale.join(', ')} of ports it does not publish`, 'remove the files and stop those units', async () => {
          // Rendered as an install would: the stale files go, and the first socket's Requires= loses them.
          await host.units.write(def);
          await host.systemd.reload();
          // After the reload: the first socket no longer requires them, so stopping them leaves it listening.
          for (const file of stale) await host.systemd.stop(file.slice(file.lastIndexOf('/') + 1));
        });
      const gone: string[] = [];
      for (const file of files) if (!(await host.fs.exists(file))) gone.push(file);
      if (!gone.length) return;
      await f.add(`container ${id} is installed but its unit file${gone.length > 1 ? 's' : ''} ${gone.join(', ')} ${gone.length > 1 ? 'are' : 'is'} gone`, `render the unit file${gone.length > 1 ? 's' : ''} again from its definition`, async () => {
        await host.units.write(def);
        await reloadIfNeeded(host, unitNameOf(id), ...activationUnitsOf(def));
      });
    });
  }
}

/** Ports reserved by an installed container that its definition does not list (a re-install killed before it released them). */
async function portsNotInDefinitions(host: Host, f: Findings): Promise<void> {
  const byOwner = new Map<string, number[]>();
  for (const [port, owner] of await host.ports.all()) byOwner.set(owner, [...(byOwner.get(owner) ?? []), port]);
  for (const [id, ports] of byOwner) {
    if (!validName(id)) continue;
    await host.locks.with(id, async () => {
      const def = await host.store.read(id).catch(() => undefined);
      if (!def) return; // not installed: clean's part
      const listed = new Set(reservedPortsOf(def));
      for (const port of ports.filter((p) => !listed.has(p)))
        await f.add(`port ${port} is reserved by ${id}, whose definition does not list it`, 'release the reservation', () => host.ports.release(id, [port]));
    });
  }
}

/** Containers with gear's label and name whose container is not installed: removed (named volumes are not part of a container). */
async function staleContainers(host: Host, f: Findings, containers: { Id: string; Name: string; Labels: Record<string, string> }[]): Promise<void> {
  for (const c of containers) {
    const id = c.Labels[CONTAINER_LABEL];
    if (!validName(id) || c.Name !== containerNameOf(id)) continue; // not a container gear would have made
    await host.locks.with(id, async () => {
      if (await host.store.read(id).catch(() => 'unreadable')) return;
      await f.add(`container ${c.Name} (${c.Id.slice(0, 12)}) is gear's, of ${id}, which is not installed`, 'remove the container (volumes are not touched)', () => host.docker.remove(c.Id));
    });
  }
}

/**
 * Helper containers an isolated install creates to fill its volumes
 * (io.gear.copy-up=NAME, operations/isolation.ts): it makes and removes
 * one under the container's lock, so one seen while holding that lock was
 * left by an install killed in between. Removed; the volumes stay.
 */
async function copyUpHelpers(host: Host, f: Findings): Promise<void> {
  for (const c of await host.docker.containersLabelled(COPY_UP_LABEL)) {
    const id = c.Labels[COPY_UP_LABEL];
    if (!validName(id)) continue;
    await host.locks.with(id, () =>
      f.add(`helper container ${c.Id.slice(0, 12)} of ${id}, made to fill its volumes, is left from an install that did not finish`, 'remove the container (volumes are not touched)', () => host.docker.remove(c.Id)),
    );
  }
}

/** gear's volumes in no record of gear's: recorded as kept, never removed (their data may matter). */
async function unrecordedVolumes(host: Host, f: Findings): Promise<void> {
  for (const v of await host.docker.volumesLabelled(VOLUME_LABEL)) {
    const id = v.Labels?.[CONTAINER_LABEL];
    const path = v.Labels?.[PATH_LABEL];
    if (!validName(id) || path === undefined || !isVolumeOf(v, id, path)) continue; // not a volume gear would have made
    await host.locks.with(id, async () => {
      const keptFile = host.store.keptVolumesFile(id);
      const def = await host.store.read(id).catch(() => undefined);
      const known: NamedVolume[] = [...(def?.NamedVolumes ?? []), ...(await host.store.readVolumes(host.store.volumesFile(id), id)), ...(await host.store.readVolumes(keptFile, id))];
      if (known.some((k) => k.Name === v.Name)) return;
      await f.add(
        `volume ${v.Name} is gear's (${id} ${path}) but in no record of gear's`,
        `record it as a kept volume of ${id}, keeping its data (\`gear delete ${id}\` removes it, a reinstall of ${id} takes it back)`,
        async () => {
          const kept = await host.store.readVolumes(keptFile, id);
          await host.store.writeVolumes(keptFile, id, [...kept, ...volumesNotIn([{ Name: v.Name, Path: path }], kept)]);
        },
      );
    });
  }
}

/**
 * gear's link chains in a network namespace no container owns: the
 * namespace outlived the container whose links they were (some process
 * still holds it). A container's own namespace, gear's or anyone's, and the
 * host's are never touched.
 */
async function linkRulesOfGoneContainers(host: Host, f: Findings): Promise<void> {
  let namespaces: Netns[];
  try {
    namespaces = await host.netns.namespaces();
  } catch (err) {
    f.list.push({ Problem: 'network namespaces could not be listed', Fix: 'none', Fixed: false, Error: (err as Error).message });
    return;
  }
  for (const ns of namespaces) {
    if (ns.containers.length) continue;
    const rules = await host.netns.gearRules(ns).catch(() => undefined); // gone meanwhile, or no iptables there
    if (!rules || noGearRules(rules)) continue;
    await f.add(
      `link rules of a gone container: ${describeGearRules(rules)} in network namespace ${ns.id} (process ${ns.pid}, in no container)`,
      "remove gear's chains there and the jumps into them (other rules stay)",
      async () => {
        const left = await host.netns.removeGearRules(ns, rules);
        if (!noGearRules(left)) throw new Error(`still there afterwards: ${describeGearRules(left)}`);
      },
    );
  }
}

/**
 * Jobs and builds whose gear process is gone (killed: the CLI, or the
 * agent): their containers and transient units, which the run removes
 * itself however it ends, except when it is killed. A run holds its lock
 * (@gear-job-ID, @gear-build-ID) from before its container is made until
 * the container is gone, so one whose lock a live process holds is
 * running and left alone, however long; the rest are stopped and removed
 * under that lock (a build's container is never committed by repair: no
 * half-built image is tagged). Only containers whose label and name agree
 * (model/oneoff.ts runOfContainer) and units named so are touched.
 */
async function abandonedRuns(host: Host, f: Findings): Promise<void> {
  const runs = new Map<string, { kind: RunKind; id: string; containers: { Id: string; Name: string }[]; unit?: string }>();
  const runOf = (kind: RunKind, id: string) => {
    const key = runNameOf(kind, id);
    let r = runs.get(key);
    if (!r) runs.set(key, (r = { kind, id, containers: [] }));
    return r;
  };
  for (const label of [JOB_LABEL, BUILD_LABEL])
    for (const c of await host.docker.containersLabelled(label)) {
      const run = runOfContainer(c.Name, c.Labels);
      if (run && !runOf(run.kind, run.id).containers.some((k) => k.Id === c.Id)) runOf(run.kind, run.id).containers.push({ Id: c.Id, Name: c.Name });
    }
  for (const u of await host.systemd.list(['gear-job-*.service', 'gear-build-*.service'])) {
    const run = runOfUnit(u.Id);
    if (run) runOf(run.kind, run.id).unit = `${u.Id} (${u.ActiveState})`;
  }
  for (const [name, run] of runs) {
    const lock = runLockOf(run.kind, run.id);
    const what = [...run.containers.map((c) => `container ${c.Name} (${c.Id.slice(0, 12)})`), ...(run.unit ? [`unit ${run.unit}`] : [])].join(', ');
    const problem = `${run.kind} ${name} was left by a gear process that is gone: ${what}`;
    const fix = `stop ${name}.service and remove ${run.containers.length ? 'its containers' : 'it'}${run.kind === 'build' ? ' (nothing is tagged)' : ''}`;
    const remove = async () => {
      const unit = `${name}.service`;
      const state = await host.systemd.state(unit);
      if (state.LoadState === 'loaded' && !['inactive', 'failed'].includes(state.ActiveState)) await host.systemd.stop(unit);
      for (const c of run.containers) await host.docker.remove(c.Id);
      await host.systemd.resetFailed(unit);
    };
    if (f.dryRun) {
      if (!(await host.locks.isHeld(lock))) await f.add(problem, fix, remove);
      continue;
    }
    // Taken only if free: a live run holds it for as long as it runs. Under it, looked at again: a run
    // that ended by itself since the listing (its lock released) left nothing to report.
    await host.locks.tryWith(lock, async () => {
      if (await stillThere(host, name, run.containers)) await f.add(problem, fix, remove);
    });
  }
}

/** Whether any of a run's containers, or its unit, is still there. */
async function stillThere(host: Host, name: string, containers: { Id: string }[]): Promise<boolean> {
  if ((await host.systemd.state(`${name}.service`)).LoadState === 'loaded') return true;
  const ids = new Set(containers.map((c) => c.Id));
  for (const label of [JOB_LABEL, BUILD_LABEL]) if ((await host.docker.containersLabelled(label)).some((c) => ids.has(c.Id))) return true;
  return false;
}
