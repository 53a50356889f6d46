import type { HostConfig } from './config.js';
import { shareInFlight } from '../lib/concurrency.js';
import { DockerodeDocker, type Docker } from './docker.js';
import { HostFs } from './fs.js';
import { DockerImages, type Images } from './images.js';
import { JournalctlJournal, type Journal } from './journal.js';
import { ContainerLocks } from './locks.js';
import { NsenterNetLinks, type NetLinks } from './net.js';
import { ProcNetnsRules, type NetnsRules } from './netns.js';
import { PortReservations } from './ports.js';
import { ContainerStore } from './store.js';
import { OneOffRunner } from './oneoff.js';
import { DbusSystemd, type Systemd } from './systemd.js';
import { loadUnitTemplates } from './templates.js';
import { TARGET_UNIT, UnitFiles } from './units.js';
import { KeyStore } from './keys.js';
import { SharedReloads } from './shared-reload.js';
import { UidReservations } from './uids.js';
import { ShadowUsers, type HostUsers } from './users.js';

/**
 * The adapters a Host talks through. Each defaults to the real one; tests
 * pass fakes to run operations in-process against a temp dir as host root.
 */
export interface HostParts {
  /** systemd, or how to make it once the host is there (the agent's, with its unit watch). */
  systemd?: Systemd | ((host: Host) => Systemd);
  docker?: Docker;
  images?: Images;
  journal?: Journal;
  net?: NetLinks;
  netns?: NetnsRules;
  users?: HostUsers;
}

/**
 * Everything gear touches on one host, created once at start and passed to
 * every operation. Connections (DBus, Docker) open on first use, so a
 * command that needs neither pays for neither (the real adapters load
 * dbus-next and dockerode only when they first connect).
 */
export class Host {
  readonly fs: HostFs;
  readonly store: ContainerStore;
  readonly ports: PortReservations;
  /** Host uids of isolated containers (host/uids.ts). */
  readonly uids: UidReservations;
  /** Their host users and groups (host/users.ts). */
  readonly users: HostUsers;
  /** SSH keys and the logins they may use (host/keys.ts). */
  readonly keys: KeyStore;
  readonly locks: ContainerLocks;
  /**
   * Held while a container's links are written or applied. Separate from
   * the container's lock: a unit's ExecStartPost applies links while a
   * `gear start` holding that lock waits for the unit to come up.
   */
  readonly linkLocks: ContainerLocks;
  /**
   * Held while an environment (env/ID.env) is written or removed: several
   * containers may read one. Taken after a container's lock, never before.
   */
  readonly envLocks: ContainerLocks;
  /** Held while gear.target is checked and written, or removed: see removeTargetIfUnused. */
  private readonly targetLocks: ContainerLocks;
  /** Every kind of lock gear takes, for a repair to clear those of killed processes. */
  get allLocks(): ContainerLocks[] {
    return [this.locks, this.linkLocks, this.targetLocks, this.envLocks];
  }
  readonly journal: Journal;
  readonly net: NetLinks;
  /** systemd Reloads shared with the host's other gear processes (host/shared-reload.ts). */
  readonly reloads: SharedReloads;
  private _systemd?: Systemd;
  private _docker?: Docker;
  private _oneoff?: OneOffRunner;
  private _netns?: NetnsRules;
  private _images?: Images;
  private _units?: UnitFiles;

  constructor(
    readonly config: HostConfig,
    private readonly parts: HostParts = {},
  ) {
    this.fs = new HostFs(config.root);
    this.store = new ContainerStore(this.fs, config.stateDir);
    this.ports = new PortReservations(this.fs, `${config.stateDir}/ports`, config.portRange);
    this.uids = new UidReservations(this.fs, `${config.stateDir}/uids`, config.uidRange);
    this.users = parts.users ?? new ShadowUsers(this.fs);
    this.keys = new KeyStore(this.fs, `${config.stateDir}/ssh`);
    this.locks = new ContainerLocks(this.fs, `${config.stateDir}/locks`);
    this.linkLocks = new ContainerLocks(this.fs, `${config.stateDir}/locks/links`);
    this.targetLocks = new ContainerLocks(this.fs, `${config.stateDir}/locks/target`);
    this.envLocks = new ContainerLocks(this.fs, `${config.stateDir}/locks/env`);
    this.reloads = new SharedReloads(this.fs, this.locks);
    this.net = parts.net ?? new NsenterNetLinks();
    this.journal = parts.journal ?? new JournalctlJournal(config.root);
  }

  get systemd(): Systemd {
    const part = this.parts.systemd;
    return (this._systemd ??= typeof part === 'function' ? part(this) : (part ?? new DbusSystemd(this.config.busAddress, { reloads: this.reloads })));
  }
  /** Network namespaces and gear's link rules in them, for repair (host/netns.ts). */
  get netns(): NetnsRules {
    return (this._netns ??= this.parts.netns ?? new ProcNetnsRules());
  }
  get docker(): Docker {
    return (this._docker ??= this.parts.docker ?? new DockerodeDocker(this.config.dockerSocket));
  }
  /** Docker's images as transfers see them: save, load, layers (host/images.ts). */
  get images(): Images {
    return (this._images ??= this.parts.images ?? new DockerImages(this.config.dockerSocket));
  }
  /** One-off containers in transient units: jobs and builds (host/oneoff.ts). */
  get oneoff(): OneOffRunner {
    return (this._oneoff ??= new OneOffRunner(this.config.dockerSocket, this.systemd, () => this.units.docker(), this.config.stopTimeout));
  }
  get units(): UnitFiles {
    return (this._units ??= new UnitFiles(this.fs, this.config, this.store, loadUnitTemplates(), this.docker));
  }

  /**
   * gear.target written, enabled and active, as it is after a boot (so
   * `systemctl status gear.target` tells the truth before the first
   * reboot too). Started before the caller enables its container, so the
   * start pulls in only containers enabled before. Concurrent starts (30 at
   * once) share one check instead of each reading, writing and enabling it.
   */
  readonly ensureTarget = shareInFlight(() =>
    this.targetLocks.with(TARGET_UNIT, async () => {
      if (await this.units.writeTarget()) await this.systemd.enable([TARGET_UNIT]);
      if ((await this.systemd.activeState(TARGET_UNIT)) !== 'active') await this.systemd.start(TARGET_UNIT);
    }),
  );

  /**
   * After a delete: when no container is installed any more, gear.target
   * goes too (disabled, so multi-user.target.wants/gear.target goes, then
   * its file and its empty .wants). Under the target lock, as ensureTarget:
   * a start checks the target only after its container's definition exists,
   * so either this sees that definition and keeps the target, or the start
   * finds the target gone and writes it again.
   */
  removeTargetIfUnused(): Promise<void> {
    return this.targetLocks.with(TARGET_UNIT, async () => {
      if ((await this.store.ids()).length > 0 || !(await this.units.hasTarget())) return;
      // Stopping a target stops nothing it wants (they are not PartOf= it).
      await this.systemd.stop(TARGET_UNIT);
      await this.systemd.disable([TARGET_UNIT]);
      await this.units.removeTarget();
    });
  }

  /** Closes the systemd connection, one given to it included (the agent opens it before any operation asks). */
  close(): void {
    const part = this.parts.systemd;
    (this._systemd ?? (typeof part === 'function' ? undefined : part))?.close();
  }
}
