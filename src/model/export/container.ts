import type { ContainerDefinition } from '../definition.js';
import type { HealthCheck } from '../health.js';
import type { Isolation } from '../isolation.js';
import type { ContainerLimits } from '../limits.js';
import type { NetworkLink } from '../links.js';
import type { PortPair } from '../ports.js';
import type { BindMount, NamedVolume } from '../volumes.js';

/**
 * One container as the exports see it (Quadlet, Kubernetes): what it runs
 * and how, without gear's own machinery (units, iptables, backoff). Made
 * from an installed container's definition (exportedOf) or from a
 * deployment's instance (model/export/kube.ts).
 */
export interface ExportedContainer {
  Name: string;
  Image: string;
  Ports: PortPair[];
  /** Host path of gear's env file it reads (referenced, never copied: it holds secrets). */
  EnvFile?: string;
  Volumes: NamedVolume[];
  BindMounts: BindMount[];
  Slice: string;
  Health?: HealthCheck;
  Limits?: ContainerLimits;
  /** Containers (of the same host) it starts after; WaitHealthy: their start means healthy. */
  After: string[];
  Isolation?: Isolation;
  /** What does not carry over, said in the file's header for its reader. */
  Notes: string[];
}

/** An installed container, from its definition (and its links, which only become a note). */
export function exportedOf(def: ContainerDefinition, envFile: string, links: NetworkLink[] = []): ExportedContainer {
  const notes: string[] = [];
  if (def.SocketActivation)
    notes.push(
      def.Ports.length === 1
        ? `socket activation (gear's ctr-${def.Id}.socket and proxy) is not exported: the container listens on its port itself`
        : `socket activation (gear's ctr-${def.Id}.socket, a socket and a proxy per port) is not exported: the container listens on its ports itself`,
    );
  for (const l of links)
    notes.push(`gear's network link ${l.FromHost}:${l.FromPort} -> ${l.ToHost}:${l.ToPort} (iptables in the container) is not exported`);
  return {
    Name: def.Id,
    Image: def.Image,
    Ports: def.Ports,
    EnvFile: envFile,
    Volumes: def.NamedVolumes ?? def.VolumeConfig.Volumes.map((Path) => ({ Name: '', Path })),
    BindMounts: def.VolumeConfig.BindMounts,
    Slice: def.SystemdSlice,
    ...(def.Health ? { Health: def.Health } : {}),
    ...(def.Limits ? { Limits: def.Limits } : {}),
    After: def.After ?? [],
    ...(def.Isolation ? { Isolation: def.Isolation } : {}),
    Notes: notes,
  };
}
