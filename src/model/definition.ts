import type { HealthCheck } from './health.js';
import type { ContainerLimits } from './limits.js';
import type { Isolation } from './isolation.js';
import type { PortPair } from './ports.js';
import { privatePortsOf, type SocketActivation } from './socket-activation.js';
import type { NamedVolume, VolumeConfig } from './volumes.js';

/**
 * What gear stores about a container (/var/lib/gear/containers/NAME.json):
 * everything its unit is rendered from, and nothing systemd or Docker already
 * know. Environment values live in the env file beside it, not here.
 */
export interface ContainerDefinition {
  Id: string;
  Image: string;
  /** External ports are always resolved (never 0) once stored. */
  Ports: PortPair[];
  /**
   * The ports as the install asked for them (External 0: any), for its
   * resolved definition (model/deployment/definition.ts): a port the host
   * picked is no difference. Absent in definitions written before.
   */
  AskedPorts?: PortPair[];
  VolumeConfig: VolumeConfig;
  /**
   * Every volume of the container (its -v paths and the image's VOLUMEs),
   * each a named Docker volume mounted by name. Absent in definitions
   * written before gear named volumes: those are migrated at their next
   * start through gear, or when the agent starts.
   */
  NamedVolumes?: NamedVolume[];
  SystemdSlice: string;
  /**
   * The environment it reads at every start (env/ENVID.env), when it is not
   * its own (the one named as the container): a shared environment, named
   * by `--env-id` or Environment.Id at install.
   */
  EnvId?: string;
  /**
   * The container has (or had) network links: its unit applies them at
   * every start (ExecStartPost). The links themselves are in links/NAME.json.
   */
  Linked?: boolean;
  /** Its health check (gear install --health-cmd): the unit's start waits for healthy. Absent: none. */
  Health?: HealthCheck;
  /**
   * Containers on this host whose units it starts after (After= and Wants=
   * in its unit): with a health check theirs, their start means healthy.
   * WaitHealthy: asked for with --wait healthy (each of them had a check).
   */
  After?: string[];
  WaitHealthy?: boolean;
  /**
   * Resource limits (install's Memory, Cpus, Pids), enforced by Docker on
   * the container's cgroup. Absent: none (and in definitions written before
   * gear had limits).
   */
  Limits?: ContainerLimits;
  /**
   * It runs as a host user of its own (install --isolate): uid, gid, user
   * and SELinux level, kept for good (model/isolation.ts). Absent: as
   * the image says (root, mostly).
   */
  Isolation?: Isolation;
  /**
   * Socket-activated (install --socket-activated): systemd listens on each
   * port's External, the container's port is published on 127.0.0.1 at its
   * private port (PrivatePort, PrivatePorts; also reserved), and the
   * container runs only while connections come.
   */
  SocketActivation?: SocketActivation;
  /** Installed on a podman host (model/runtime.ts): its unit runs `podman run`. Absent: docker. */
  Runtime?: 'podman';
  /** ISO time of the install, for people reading the file. */
  Created: string;
  /** ISO time of the last re-install that updated it in place. */
  Updated?: string;
}

export const DEFAULT_SLICE = 'gear.slice';

/** Every host port the container holds: its published ports and, socket-activated, the private ones. */
export const reservedPortsOf = (def: ContainerDefinition): number[] => [
  ...def.Ports.map((p) => p.External),
  ...(def.SocketActivation ? privatePortsOf(def.SocketActivation) : []),
];
