import type { ContainerDefinition } from '../model/definition.js';
import { parseEnvFile, renderEnvFile, type EnvVar } from '../model/env.js';
import { validateNetworkLinks, type NetworkLink } from '../model/links.js';
import type { HostFs } from './fs.js';

/**
 * gear's own state under the state directory (host paths):
 *   containers/NAME.json   the definition units are rendered from (the commit point of an install)
 *   env/NAME.env           the container's environment, mode 0600 (it may hold secrets)
 *   links/NAME.json        its network links, applied at every start ({Id, NetworkLinks})
 */
export class ContainerStore {
  constructor(
    private readonly fs: HostFs,
    readonly stateDir: string,
  ) {}

  definitionFile(id: string): string {
    return `${this.stateDir}/containers/${id}.json`;
  }
  envFile(id: string): string {
    return `${this.stateDir}/env/${id}.env`;
  }
  linksFile(id: string): string {
    return `${this.stateDir}/links/${id}.json`;
  }

  async read(id: string): Promise<ContainerDefinition | undefined> {
    const text = await this.fs.read(this.definitionFile(id));
    return text === undefined ? undefined : (JSON.parse(text) as ContainerDefinition);
  }

  write(def: ContainerDefinition): Promise<void> {
    return this.fs.writeAtomic(this.definitionFile(def.Id), `${JSON.stringify(def, null, 2)}\n`, 0o644);
  }

  /** Names of every stored definition. */
  async ids(): Promise<string[]> {
    return (await this.fs.list(`${this.stateDir}/containers`))
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
  }

  async readEnv(id: string): Promise<EnvVar[] | undefined> {
    const text = await this.fs.read(this.envFile(id));
    return text === undefined ? undefined : parseEnvFile(text, this.envFile(id));
  }

  writeEnv(id: string, vars: EnvVar[]): Promise<void> {
    return this.fs.writeAtomic(this.envFile(id), renderEnvFile(vars), 0o600);
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

  async remove(id: string): Promise<void> {
    // Definition first: once it is gone the container counts as absent.
    await this.fs.remove(this.definitionFile(id));
    await this.fs.remove(this.envFile(id));
    await this.fs.remove(this.linksFile(id));
  }
}
