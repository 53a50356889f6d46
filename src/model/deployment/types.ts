import type { EnvVar } from '../env.js';
import type { HealthCheck } from '../health.js';
import type { ContainerLimits } from '../limits.js';
import type { NetworkLink } from '../links.js';

/**
 * Deployment descriptors, in the seed's JSON format: containers (name,
 * image, count, publicports, links, environment) placed as instances
 * NAME-1..NAME-count over a list of hosts and wired together with network
 * links. The modules beside this one are pure: parse.ts (validation with
 * messages that point at the offending field), placement.ts, addresses.ts
 * (stable link addresses), links.ts (the links each instance gets once the
 * ports of its targets are known), format.ts and files.ts (the resolved file
 * gear writes). The CLI (src/cli/deploy.ts) carries a plan out.
 */

export interface PortSpec {
  Internal: number;
  /** 0: the host allocates one. */
  External: number;
}

export interface LinkSpec {
  /** Name of the container linked to (every instance of it is reached). */
  To: string;
  /** The address is in a private range instead of loopback (for software that refuses loopback peers). */
  NonLocal: boolean;
  /** Keep the target's port and vary the address instead (a replica set: every member on its own port). */
  MatchPort: boolean;
  /**
   * Which of the target's ports to link (Internal), and the port the source
   * sees (External, 0 = same). Empty: all. The seed's `Ports` are folded in
   * here as {p, 0}.
   */
  AliasPorts: PortSpec[];
  /** The seed's `Ports` [int] as given (written back; already in AliasPorts). */
  Ports: number[];
}

export interface ContainerSpec {
  Name: string;
  Image: string;
  Count: number;
  PublicPorts: PortSpec[];
  Links: LinkSpec[];
  Environment: EnvVar[];
  /** The seed's placement hint ("distribute"): kept and written back, see placement.ts. */
  Affinity?: string;
  /**
   * gear's own: Memory, Cpus, Pids of each instance (install's limits);
   * its memory counts against a host's capacity when it is placed.
   */
  Limits?: ContainerLimits;
  /** gear's own: each instance's health check (install's Health; its start waits for healthy). */
  Health?: HealthCheck;
  /** gear's own: paths in each instance that are volumes of its own (install's VolumeConfig.Volumes: named volumes gear creates and keeps). */
  Volumes?: string[];
  /**
   * gear's own: each instance is socket-activated (install's SocketActivation,
   * IdleAfter): systemd listens on its public ports and starts it on the
   * first connection, a link's included. Absent: as installed (a descriptor
   * written before it keeps an instance made socket-activated by hand so).
   */
  SocketActivation?: { IdleAfterMs?: number };
  /**
   * gear's own: containers of the descriptor whose instances start before
   * this one's (Compose's depends_on), and what "before" means: started, or
   * healthy (the target has a health check). See order.ts.
   */
  After?: StartAfter[];
}

export interface StartAfter {
  /** A container of the same descriptor. */
  To: string;
  Wait: 'started' | 'healthy';
}

export interface HostPort {
  Host: string;
  Port: number;
}

/** A port of an instance: published as External on its host, reached by linked containers at Target. */
export interface InstancePort {
  Internal: number;
  /** 0 until the host allocated it (learnt from the install). */
  External: number;
  Target?: HostPort;
}

export interface Instance {
  Id: string;
  /** The container (descriptor entry) it is an instance of. */
  From: string;
  Image: string;
  /** The host it is placed on, as named on the command line. */
  On: string;
  Ports: InstancePort[];
  /** The links it was given (written back for the reader, and to know what to clear). */
  Links?: NetworkLink[];
  /** Its removal failed: removed again by the next deploy. */
  Remove?: boolean;
  /** The variables it is installed with (its container's, copied when it was made, as in the seed). */
  Environment?: EnvVar[];
}

export interface Deployment {
  Containers: ContainerSpec[];
  Instances: Instance[];
  /** New instances are named IdPrefix + NAME-N (or IdPrefix + random characters with RandomizeIds). */
  IdPrefix: string;
  RandomizeIds: boolean;
}
