import type { ContainerDefinition } from '../model/definition.js';
import { parseEnvFile, renderEnvFile, type EnvVar } from '../model/env.js';
import { parseDrain, type Drain } from '../model/drain.js';
import { validateNetworkLinks, type NetworkLink } from '../model/links.js';
import { validateNamedVolumes, type NamedVolume } from '../model/volumes.js';
import type { HostFs } from './fs.js';
import { RoundTrip } from '../lib/round-trip.js';

/**
 * gear's own state under the state directory (host paths):
 *   containers/NAME.json   the definition units are rendered from (the commit point of an install)
 *   env/ENVID.env          an environment, mode 0600 (it may hold secrets): a container's own
 *                          (ENVID = its name) or one shared by the containers installed with
 *                          that env id; removed by a delete when no other container reads it
 *   links/NAME.json        its network links, applied at every start ({Id, NetworkLinks})
 *   volumes/NAME.json      the named volumes gear made for NAME ({Id, Volumes}); written before
 *                          it creates them, removed after it removed them: volumes listed here
 *                          whose container has no definition are an interrupted install's or
 *                          delete's, and `gear clean` removes them
 *   kept-volumes/NAME.json volumes `gear delete --keep-volumes` kept ({Id, Volumes}): never
 *                          removed by `gear clean`; a reinstall of NAME takes them back
 *   drains/NAME.json       NAME is being updated: links on this host leave it out while
 *                          they have other targets ({Id, Ports, Pid}; model/drain.ts)
 */
/** How old a directory's mtime must be before a listing of it is reused (see ids()). */
const STAMP_SETTLED_MS = 1000;

export class ContainerStore {
  constructor(
    private readonly fs: HostFs,
    readonly stateDir: string,
  ) {}

  definitionFile(id: string): string {
    return `${this.stateDir}/containers/${id}.json`;
  }
  envFile(envId: string): string {
    return `${this.stateDir}/env/${envId}.env`;
  }
  linksFile(id: string): string {
    return `${this.stateDir}/links/${id}.json`;
  }

  drainFile(id: string): string {
    return `${this.stateDir}/drains/${id}.json`;
  }

  volumesFile(id: string): string {
    return `${this.stateDir}/volumes/${id}.json`;
  }
  keptVolumesFile(id: string): string {
    return `${this.stateDir}/kept-volumes/${id}.json`;
  }

  async read(id: string): Promise<ContainerDefinition | undefined> {
    const text = await this.fs.read(this.definitionFile(id));
    return text === undefined ? undefined : (JSON.parse(text) as ContainerDefinition);
  }

  write(def: ContainerDefinition): Promise<void> {
    return this.fs.writeAtomic(this.definitionFile(def.Id), `${JSON.stringify(def, null, 2)}\n`, 0o644);
  }

  private listed?: { stamp: string; ids: readonly string[] };
  /** The containers directory's stamp, as the last read of it found it. */
  private stamp?: ReturnType<HostFs['dirStamp']>;
  /**
   * One stat of the directory for all the callers of one event-loop turn,
   * made after every one of them arrived (as the Ping for systemd's units,
   * lib/round-trip.ts): under load the agent's listings of a turn share it,
   * where each made its own stat before (a system call per listing).
   */
  private readonly stamped = new RoundTrip(async () => {
    this.stamp = this.fs.dirStamp(`${this.stateDir}/containers`);
  });

  /**
   * Names of every stored definition. The agent lists them at every GET
   * /containers: the last listing is reused while the directory's stamp
   * (inode, mtime, ctime) is unchanged and its mtime was over a second old
   * when it was read (a stat shared by the callers of one turn, made after
   * they arrived: `stamped`). File times come from a coarse clock, so a change in
   * the same tick as the listing could leave the mtime as it was; a second
   * later it cannot. Read-only: a reused listing is the same frozen array
   * (the agent reuses its answer while it gets the same one), a new
   * listing a new array.
   */
  async ids(): Promise<readonly string[]> {
    await this.stamped.after();
    const before = this.stamp;
    if (before && this.listed?.stamp === before.stamp) return this.listed.ids;
    const ids = Object.freeze(await this.idsIn('containers'));
    this.listed = before && Date.now() - before.mtimeMs > STAMP_SETTLED_MS ? { stamp: before.stamp, ids } : undefined;
    return ids;
  }

  async readEnv(envId: string): Promise<EnvVar[] | undefined> {
    const text = await this.fs.read(this.envFile(envId));
    return text === undefined ? undefined : parseEnvFile(text, this.envFile(envId));
  }

  writeEnv(envId: string, vars: EnvVar[]): Promise<void> {
    return this.fs.writeAtomic(this.envFile(envId), renderEnvFile(vars), 0o600);
  }

  removeEnv(envId: string): Promise<void> {
    return this.fs.remove(this.envFile(envId));
  }

  /** Ids of every env file (shared or a container's own). */
  async envIds(): Promise<string[]> {
    return (await this.fs.list(`${this.stateDir}/env`))
      .filter((f) => f.endsWith('.env') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.env'.length))
      .sort();
  }

  /** The stored links (validated again: the file is read by a unit's ExecStartPost as root). */
  async readLinks(id: string): Promise<NetworkLink[]> {
    const text = await this.fs.read(this.linksFile(id));
    if (text === undefined) return [];
    return validateNetworkLinks((JSON.parse(text) as { NetworkLinks?: unknown }).NetworkLinks, this.linksFile(id));
  }

  writeLinks(id: string, links: NetworkLink[]): Promise<void> {
    return this.fs.writeAtomic(this.linksFile(id), `${JSON.stringify({ Id: id, NetworkLinks: links }, null, 2)}\n`, 0o644);
  }

  writeDrain(d: Drain): Promise<void> {
    return this.fs.writeAtomic(this.drainFile(d.Id), `${JSON.stringify(d)}\n`, 0o644);
  }

  removeDrain(id: string): Promise<void> {
    return this.fs.remove(this.drainFile(id));
  }

  /** Every recorded drain (a file that does not parse is no drain). */
  async drains(): Promise<Drain[]> {
    const out: Drain[] = [];
    for (const id of await this.idsIn('drains')) {
      const text = await this.fs.read(this.drainFile(id));
      let d: Drain | undefined;
      try {
        d = text === undefined ? undefined : parseDrain(JSON.parse(text), id);
      } catch {
        d = undefined;
      }
      if (d) out.push(d);
    }
    return out;
  }

  /** A volume record (volumesFile or keptVolumesFile), checked again; [] when there is none. */
  async readVolumes(file: string, id: string): Promise<NamedVolume[]> {
    const text = await this.fs.read(file);
    if (text === undefined) return [];
    return validateNamedVolumes((JSON.parse(text) as { Volumes?: unknown }).Volumes, id, file);
  }

  /** Write a volume record, or remove it when there is nothing to record. */
  async writeVolumes(file: string, id: string, volumes: NamedVolume[]): Promise<void> {
    if (volumes.length === 0) return this.fs.remove(file);
    return this.fs.writeAtomic(file, `${JSON.stringify({ Id: id, Volumes: volumes }, null, 2)}\n`, 0o644);
  }

  /** Names of containers with a file in a state subdirectory (e.g. "kept-volumes"). */
  async idsIn(dir: string): Promise<string[]> {
    return (await this.fs.list(`${this.stateDir}/${dir}`))
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
  }

  /** The definition and links file; not the env file, which other containers may read (removeEnv). */
  async remove(id: string): Promise<void> {
    // Definition first: once it is gone the container counts as absent.
    await this.fs.remove(this.definitionFile(id));
    await this.fs.remove(this.linksFile(id));
  }
}
