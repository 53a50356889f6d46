import type { Host } from '../host/context.js';
import { unitNameOf, validateName } from '../model/names.js';
import { volumesNotIn, type NamedVolume } from '../model/volumes.js';
import { validateEnvId } from '../model/env.js';
import { envIdOf, readersOf } from './env-ids.js';
import { defineOperation, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { dropVolumes } from './volumes.js';
import { releaseIsolation } from './isolation.js';
import { isRepoUidOwner } from '../model/ssh.js';
import { repairHost, type Finding } from './repair.js';

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
  /** With ?repair=1: every inconsistency found and its fix (repair.ts); Removed and NotRemoved are then empty. */
  Findings?: Finding[];
}

/**
 * Repair: remove what a crashed or killed install left behind without
 * reaching its commit point (the definition file): orphan unit files, links
 * files, port reservations, and the volumes in its volume record (also
 * those of a delete killed before it removed them), except kept ones. Each
 * candidate is re-checked under its container's lock, so an install in
 * progress is never touched. Volumes gear has no record of are never
 * touched, whatever their labels say. Env files no installed container
 * reads go too: an interrupted install's, or a shared environment whose
 * last reader was deleted (each re-checked under its environment's lock,
 * which an install holds until its definition is written).
 *
 * `dryRun` (the seed's `clean --dry-run`): the same checks, and nothing
 * stopped, released or removed; Removed lists what would have been.
 */
export async function cleanHost(host: Host, dryRun = false): Promise<CleanResult> {
  const found = await findLeftovers(host, dryRun);
  const removed = found.filter((l) => l.Error === undefined).map((l) => l.What);
  const notRemoved = found.filter((l) => l.Error !== undefined).map((l) => `${l.What}: ${l.Error}`);
  return { Removed: removed, NotRemoved: notRemoved, Kept: await keptVolumes(host), ...(dryRun ? { DryRun: true } : {}) };
}

/** What a clean removes, by kind (repair words its findings by it). */
export type LeftoverKind = 'unit' | 'links' | 'port' | 'uid' | 'volume' | 'env' | 'temp';

export interface Leftover {
  Kind: LeftoverKind;
  /** What it is, as clean lists it: a path, "port N (reserved by NAME)", "volume V (NAME PATH)". */
  What: string;
  /** Why it could not be removed; absent when it was (or, dry run, would be). */
  Error?: string;
}

/** Find (and unless dryRun remove) what interrupted installs and deletes left; see cleanHost. */
export async function findLeftovers(host: Host, dryRun: boolean): Promise<Leftover[]> {
  const found: Leftover[] = [];
  const note = (Kind: LeftoverKind, ...what: string[]) => found.push(...what.map((What) => ({ Kind, What })));
  const installed = new Set(await host.store.ids());
  const suspects = new Set<string>();
  for (const id of await host.units.installedIds()) if (!installed.has(id)) suspects.add(id);
  for (const id of await host.store.idsIn('links')) if (!installed.has(id)) suspects.add(id);
  for (const id of await host.store.idsIn('volumes')) if (!installed.has(id)) suspects.add(id);
  const reservations = await host.ports.all();
  for (const owner of reservations.values()) if (!installed.has(owner)) suspects.add(owner);
  const uids = await host.uids.all();
  // A repository's uid (repo:NAME) is not a container's: it stays with its repository.
  for (const owner of uids.values()) if (!installed.has(owner) && !isRepoUidOwner(owner)) suspects.add(owner);

  for (const id of suspects) {
    try {
      validateName(id);
    } catch {
      continue; // not a name gear would have written: not ours to remove
    }
    await host.locks.with(id, async () => {
      if (await host.store.read(id)) return; // finished installing meanwhile
      // Only a unit file gear wrote: a ctr-NAME.service of someone else's is left alone.
      if (await host.units.isGears(id)) {
        // A socket-activated install's socket and proxy units (gear's by their header) go with it, socket first.
        const sockets = await host.units.socketFiles(id);
        if (!dryRun) {
          for (const file of sockets) await host.systemd.stop(file.slice(file.lastIndexOf('/') + 1)).catch(() => undefined);
          await host.systemd.stop(unitNameOf(id)).catch(() => undefined);
          await host.units.remove(id);
        }
        note('unit', host.units.path(id), ...sockets);
      }
      const leftovers = [];
      for (const file of [host.store.linksFile(id)]) if (await host.fs.exists(file)) leftovers.push(file);
      if (leftovers.length) {
        if (!dryRun) await host.store.remove(id);
        note('links', ...leftovers);
      }
      const ports = [...reservations].filter(([, owner]) => owner === id).map(([port]) => port);
      if (!dryRun) await host.ports.release(id, ports);
      note('port', ...ports.map((p) => `port ${p} (reserved by ${id})`));
      const kept = await host.store.readVolumes(host.store.keptVolumesFile(id), id);
      // An isolated container's uid (and host user) of an install that never finished; one kept with volumes stays.
      const uid = [...uids].find(([, owner]) => owner === id)?.[0];
      if (uid !== undefined && !kept.length) {
        if (!dryRun) await releaseIsolation(host, id, undefined);
        note('uid', `uid ${uid} (reserved by ${id})`);
      }
      const recorded = await host.store.readVolumes(host.store.volumesFile(id), id);
      if (dryRun) {
        note('volume', ...volumesNotIn(recorded, kept).map((v) => `volume ${v.Name} (${id} ${v.Path})`));
        return;
      }
      const dropped = await dropVolumes(host, id, volumesNotIn(recorded, kept));
      note('volume', ...dropped.removed.map((v) => `volume ${v.Name} (${id} ${v.Path})`));
      // Kept ones stay kept; only the record of this (never finished) install or (finished) delete goes.
      await host.store.writeVolumes(host.store.volumesFile(id), id, dropped.failed.map((f) => f.volume));
      for (const f of dropped.failed) found.push({ Kind: 'volume', What: `volume ${f.volume.Name} (${id} ${f.volume.Path})`, Error: f.error });
    });
  }
  note('env', ...(await removeUnreadEnvs(host, installed, dryRun)));
  // Temp files of writers killed mid-write (older than a minute: never one in flight).
  for (const dir of ['containers', 'env', 'ports', 'uids', 'links', 'volumes', 'kept-volumes']) note('temp', ...(await host.fs.removeStaleTemps(`${host.store.stateDir}/${dir}`, 60_000, dryRun)));
  note('temp', ...(await host.fs.removeStaleTemps(host.config.unitDir, 60_000, dryRun)));
  return found;
}

/** Volumes `gear delete --keep-volumes` kept, of every name. */
export async function keptVolumes(host: Host): Promise<KeptVolume[]> {
  const kept: KeptVolume[] = [];
  for (const id of await host.store.idsIn('kept-volumes')) {
    try {
      validateName(id);
    } catch {
      continue;
    }
    for (const v of await host.store.readVolumes(host.store.keptVolumesFile(id), id)) kept.push({ Id: id, ...v });
  }
  return kept;
}

export const clean = defineOperation({
  name: 'clean',
  method: 'POST',
  path: '/clean',
  summary:
    'Remove what interrupted installs and deletes left behind; list kept volumes (?dry-run=1: only list what it would remove; ?repair=1: also find and fix where state, systemd and Docker disagree, as Findings)',
  query: querySchema('dry-run', 'repair'),
  mutates: true,
  parse: (req): { DryRun: boolean; Repair: boolean } => ({ DryRun: queryFlag(req.query['dry-run'], 'dry-run'), Repair: queryFlag(req.query.repair, 'repair') }),
  async run(host, req): Promise<CleanResult> {
    if (!req.Repair) return cleanHost(host, req.DryRun);
    const { Findings, DryRun } = await repairHost(host, req.DryRun, await findLeftovers(host, req.DryRun));
    return { Removed: [], NotRemoved: [], Kept: await keptVolumes(host), Findings, ...(DryRun ? { DryRun } : {}) };
  },
});

/** Remove the env files no installed container reads (with dryRun, only list them); their paths. */
async function removeUnreadEnvs(host: Host, installed: Set<string>, dryRun: boolean): Promise<string[]> {
  const read = new Set<string>();
  for (const id of installed) {
    const def = await host.store.read(id).catch(() => undefined);
    if (def) read.add(envIdOf(def));
  }
  const removed: string[] = [];
  for (const envId of await host.store.envIds()) {
    if (read.has(envId)) continue;
    try {
      validateEnvId(envId);
    } catch {
      continue; // not a file gear would have written
    }
    await host.envLocks.with(envId, async () => {
      if ((await readersOf(host, envId)).length) return; // a container installed with it meanwhile
      if (!dryRun) await host.store.removeEnv(envId);
      removed.push(host.store.envFile(envId));
    });
  }
  return removed;
}
