import { promises as fsp } from 'node:fs';
import type { ContainerDefinition } from '../model/definition.js';
import { failed } from '../model/errors.js';
import { unitNameOf } from '../model/names.js';
import { RUNTIME_DEFAULTS } from '../model/runtime.js';
import { containerUnitRenderer, type UnitRenderer, type UnitTemplates } from '../model/unit.js';
import type { HostConfig } from './config.js';
import type { Docker } from './docker.js';
import type { HostFs } from './fs.js';
import type { ContainerStore } from './store.js';
import { VERSION } from '../version.js';
import { SOCKET_UNIT_HEADER, activatedPorts, activationUnitsOf, isMorePortUnit, proxyUnitOf, proxyUnitText, socketUnitOf, socketUnitText } from '../model/socket-activation.js';

/** Where systemd keeps systemd-socket-proxyd (Debian's /lib, others' /usr/lib). */
const PROXYD_PATHS = ['/lib/systemd/systemd-socket-proxyd', '/usr/lib/systemd/systemd-socket-proxyd'];

/** Where a sysadmin's PATH would find the docker client, in order. */
const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export const TARGET_UNIT = 'gear.target';

/** The first line of every container unit gear renders (units/container.service.hbs). */
const GEAR_HEADER = /^# Container \S+, written by gear /;

/** Renders container definitions into unit files in the host's unit directory. */
export class UnitFiles {
  private renderers?: Promise<{ container: UnitRenderer; target: (data: object) => string }>;
  private dockerBin?: string;

  constructor(
    private readonly fs: HostFs,
    private readonly config: HostConfig,
    private readonly store: ContainerStore,
    private readonly templates: UnitTemplates,
    private readonly runtime: Docker,
  ) {}

  /** Templates compile on first use; handlebars loads only for commands that write units. */
  private compiled() {
    return (this.renderers ??= import('handlebars').then((mod) => {
      const compile = (mod.default ?? mod).compile;
      return {
        container: containerUnitRenderer(compile, this.templates.container),
        target: compile(this.templates.target, { noEscape: true, strict: true }),
      };
    }));
  }

  path(id: string): string {
    return `${this.config.unitDir}/${unitNameOf(id)}`;
  }

  /** The docker client on the host's PATH; the unit runs it on the host, so it is a host path. */
  async docker(): Promise<string> {
    if (this.config.dockerBin) return this.config.dockerBin;
    if (!this.dockerBin) {
      const client = RUNTIME_DEFAULTS[this.config.runtime ?? 'docker'].client;
      for (const dir of PATH_DIRS) {
        if (await this.fs.exists(`${dir}/${client}`)) {
          this.dockerBin = `${dir}/${client}`;
          break;
        }
      }
    }
    if (!this.dockerBin) throw failed(`no ${this.config.runtime ?? 'docker'} client found on the host (looked in ${PATH_DIRS.join(', ')})`, 'set GEAR_DOCKER_BIN');
    return this.dockerBin;
  }

  private driver?: Promise<boolean>;
  /** Docker uses systemd's cgroup driver (asked once; a runtime without the question says no). */
  private systemdCgroups(): Promise<boolean> {
    const ask = this.runtime.cgroupDriver;
    if (!ask) return Promise.resolve(false);
    return (this.driver ??= ask.call(this.runtime).then(
      (d) => d === 'systemd',
      (err) => {
        this.driver = undefined;
        throw err;
      },
    ));
  }

  async render(def: ContainerDefinition): Promise<string> {
    const { container } = await this.compiled();
    return container(def, {
      dockerBin: await this.docker(),
      runtimeService: this.config.runtimeService,
      ...(this.config.runtime === 'podman' ? { runtime: 'podman' as const } : {}),
      envFile: this.store.envFile(def.EnvId ?? def.Id),
      definitionFile: this.store.definitionFile(def.Id),
      stopTimeout: this.config.stopTimeout,
      version: VERSION,
      selfCommand: this.config.selfCommand,
      stateDir: this.config.stateDir,
      systemdCgroups: await this.systemdCgroups(),
    });
  }

  /** The paths of the container's socket and proxy units (model/socket-activation.ts), sockets first; none when it is not socket-activated. */
  socketPaths(def: ContainerDefinition): string[] {
    return activationUnitsOf(def).map((unit) => `${this.config.unitDir}/${unit}`);
  }

  private proxyd?: string;
  /** systemd-socket-proxyd on the host, needed only by socket-activated containers. */
  private async socketProxyd(): Promise<string> {
    if (this.config.socketProxyd) return this.config.socketProxyd;
    for (const path of PROXYD_PATHS) if (!this.proxyd && (await this.fs.exists(path))) this.proxyd = path;
    if (!this.proxyd) throw failed(`socket activation needs systemd-socket-proxyd, not found on the host (looked at ${PROXYD_PATHS.join(', ')})`);
    return this.proxyd;
  }

  /** The socket and proxy units' texts by path, each port's socket then its proxy (none for a container that is not socket-activated). */
  async renderSocketUnits(def: ContainerDefinition): Promise<Map<string, string>> {
    const ports = activatedPorts(def);
    const out = new Map<string, string>();
    if (!ports.length) return out;
    const ctx = { version: VERSION, proxyd: await this.socketProxyd(), definitionFile: this.store.definitionFile(def.Id) };
    for (const port of ports) {
      out.set(`${this.config.unitDir}/${port.Socket}`, socketUnitText(def.Id, port, ports, ctx));
      out.set(`${this.config.unitDir}/${port.Proxy}`, proxyUnitText(def.Id, port, def.SocketActivation!, def.SystemdSlice, ctx));
    }
    return out;
  }

  /**
   * Write the container's unit, then (socket-activated) its sockets and
   * proxies, and remove those of gear's it no longer has (a port dropped,
   * or not socket-activated any more); true when a file changed. The
   * container's unit first: a crash leaves no socket without it, and clean
   * finds the rest by it.
   */
  async write(def: ContainerDefinition): Promise<boolean> {
    const text = await this.render(def);
    const extra = await this.renderSocketUnits(def);
    let changed = false;
    if ((await this.fs.read(this.path(def.Id))) !== text) {
      await this.fs.writeAtomic(this.path(def.Id), text, 0o644);
      changed = true;
    }
    for (const [path, want] of extra) {
      if ((await this.fs.read(path)) === want) continue;
      await this.fs.writeAtomic(path, want, 0o644);
      changed = true;
    }
    for (const path of await this.socketFiles(def.Id)) {
      if (extra.has(path)) continue;
      await this.fs.remove(path);
      changed = true;
    }
    return changed;
  }

  /**
   * Socket and proxy unit files gear wrote for this name (by their header),
   * present now: ctr-NAME.socket, gear-proxy-NAME.service and those of
   * further ports (ctr-NAME@N.socket, gear-proxy-NAME@N.service).
   */
  async socketFiles(id: string): Promise<string[]> {
    const names = [socketUnitOf(id), proxyUnitOf(id), ...(await this.fs.list(this.config.unitDir)).filter((f) => isMorePortUnit(id, f)).sort()];
    const found: string[] = [];
    for (const name of names) {
      const path = `${this.config.unitDir}/${name}`;
      const text = await this.fs.read(path);
      if (text !== undefined && SOCKET_UNIT_HEADER.test(text)) found.push(path);
    }
    return found;
  }

  /**
   * The container's unit file is one gear wrote: it begins with the header
   * gear's template writes ("# Container NAME, written by gear ..."). A
   * ctr-NAME.service someone else wrote is never removed by clean or repair.
   */
  async isGears(id: string): Promise<boolean> {
    const text = await this.fs.read(this.path(id));
    return text !== undefined && GEAR_HEADER.test(text);
  }

  /** Remove the container's unit and, when gear wrote them, its socket and proxy units (every port's). */
  async remove(id: string): Promise<void> {
    for (const path of await this.socketFiles(id)) await this.fs.remove(path);
    await this.fs.remove(this.path(id));
  }

  /** Write gear.target if it is missing or stale; true when it was written. */
  async writeTarget(): Promise<boolean> {
    const path = `${this.config.unitDir}/${TARGET_UNIT}`;
    const { target } = await this.compiled();
    const text = target({ version: VERSION, runtimeService: this.config.runtimeService });
    if ((await this.fs.read(path)) === text) return false;
    await this.fs.writeAtomic(path, text, 0o644);
    return true;
  }

  async hasTarget(): Promise<boolean> {
    return this.fs.exists(`${this.config.unitDir}/${TARGET_UNIT}`);
  }

  /** Remove gear.target's file and its .wants directory when empty (the caller disabled it first). */
  async removeTarget(): Promise<void> {
    await this.fs.remove(`${this.config.unitDir}/${TARGET_UNIT}`);
    await fsp.rmdir(this.fs.local(`${this.config.unitDir}/${TARGET_UNIT}.wants`)).catch(() => undefined);
  }

  /** Names of container unit files present, whether or not a definition backs them. */
  async installedIds(): Promise<string[]> {
    return (await this.fs.list(this.config.unitDir))
      .map((f) => /^ctr-(.+)\.service$/.exec(f)?.[1])
      .filter((id): id is string => id !== undefined);
  }
}
