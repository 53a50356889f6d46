import type { ContainerInfo } from '../host/docker.js';
import type { UnitState } from '../host/systemd.js';
import { containerNameOf, unitNameOf } from '../model/names.js';
import type { ContainerLimits } from '../model/limits.js';
import type { NetworkLink } from '../model/links.js';
import type { PortPair } from '../model/ports.js';
import type { NamedVolume } from '../model/volumes.js';
import { requireDefinition } from './common.js';
import type { Isolation, SelinuxMode } from '../model/isolation.js';
import { hostSelinux } from './isolation.js';
import { formatDuration, healthBodyOf, type HealthBody } from '../model/health.js';
import { activatedPorts, socketStateWord, socketsActiveState, socketUnitOf } from '../model/socket-activation.js';
import type { ContainerDefinition } from '../model/definition.js';
import type { Host } from '../host/context.js';
import { backoffFile, parseBackoff } from '../model/backoff.js';
import { defineOperation, parseId } from './operation.js';
import { portsText, statusText } from './text.js';

export interface ContainerStatus {
  Id: string;
  Image: string;
  Unit: UnitState;
  Ports: PortPair[];
  /** Its network links, when it has any. */
  NetworkLinks?: NetworkLink[];
  /**
   * Its volumes: named volumes mounted by name; Name "" for a container
   * installed before gear named volumes, until its next start (anonymous).
   */
  Volumes: NamedVolume[];
  /** Its health check, when it has one (Container.Health is Docker's state of it). */
  HealthCheck?: HealthBody;
  /** Failed runs in a row and the wait before the next start (model/backoff.ts); absent after a healthy run. */
  Backoff?: { Failures: number; NextTryInS: number };
  /** Its resource limits, when it has any (enforced by Docker on the container's scope). */
  Limits?: ContainerLimits;
  /** The slice its unit (and, with systemd's cgroup driver, its container) runs in. */
  Slice?: string;
  /** As whom it runs when isolated, and the host's SELinux mode (whether its label means anything). */
  Isolation?: Isolation;
  SELinux?: SelinuxMode;
  /** Socket-activated: its socket's state, in a word (idle, waking, awake, stopped, failed), and what it proxies to. */
  Socket?: SocketStatus;
  /** What Docker says of the container; absent when it does not exist (stopped). */
  Container?: ContainerInfo;
}

export interface SocketStatus {
  /** The first port's socket (the one gear.target starts; it starts the others). */
  Unit: UnitState;
  /** The container's sockets together, in a word (a port not listening: stopped). */
  State: ReturnType<typeof socketStateWord>;
  Port: number;
  PrivatePort: number;
  /** "3s", "10m"; absent: it never idles. */
  IdleAfter?: string;
  /** With several published ports: every port's socket (the first's too), in the order of Ports. */
  Sockets?: PortSocket[];
}

export interface PortSocket {
  Unit: string;
  ActiveState: string;
  Internal: number;
  Port: number;
  PrivatePort: number;
}

async function socketStatus(host: Host, def: ContainerDefinition, unit: UnitState): Promise<SocketStatus | undefined> {
  const act = def.SocketActivation;
  if (!act) return undefined;
  const ports = activatedPorts(def);
  const socket = await host.systemd.state(socketUnitOf(def.Id));
  const sockets: PortSocket[] = [];
  for (const [i, p] of ports.entries())
    sockets.push({ Unit: p.Socket, ActiveState: i === 0 ? socket.ActiveState : await host.systemd.activeState(p.Socket), Internal: p.Internal, Port: p.Public, PrivatePort: p.Private });
  return {
    Unit: socket,
    State: socketStateWord(socketsActiveState(sockets.map((k) => k.ActiveState)), unit.ActiveState),
    Port: def.Ports[0]?.External ?? 0,
    PrivatePort: act.PrivatePort,
    ...(act.IdleAfterMs === undefined ? {} : { IdleAfter: formatDuration(act.IdleAfterMs) }),
    ...(sockets.length > 1 ? { Sockets: sockets } : {}),
  };
}

export const status = defineOperation({
  name: 'status',
  method: 'GET',
  path: '/container/:id/status',
  summary: 'Unit state, main pid, container and ports (text like systemctl status, or JSON)',
  mutates: false,
  http: { text: statusText, preferText: true },
  parse: parseId,
  async run(host, req): Promise<ContainerStatus> {
    const def = await requireDefinition(host, req.Id);
    const [unit, container, links, backoffText] = await Promise.all([
      host.systemd.state(unitNameOf(req.Id)),
      host.docker.inspect(containerNameOf(req.Id)),
      def.Linked ? host.store.readLinks(req.Id) : [],
      host.fs.read(backoffFile(req.Id)),
    ]);
    // Failures count only while the unit is not stopped: a stopped unit waits for nobody.
    const backoff = unit.ActiveState === 'inactive' ? undefined : parseBackoff(backoffText, Math.floor(Date.now() / 1000));
    const socket = await socketStatus(host, def, unit);
    const volumes = def.NamedVolumes ?? def.VolumeConfig.Volumes.map((Path) => ({ Name: '', Path }));
    return {
      Id: def.Id,
      Image: def.Image,
      Unit: unit,
      Ports: def.Ports,
      Volumes: volumes,
      ...(def.Linked ? { NetworkLinks: links } : {}),
      ...(def.Health ? { HealthCheck: healthBodyOf(def.Health) } : {}),
      ...(backoff ? { Backoff: backoff } : {}),
      ...(def.Limits ? { Limits: def.Limits } : {}),
      Slice: def.SystemdSlice,
      ...(def.Isolation ? { Isolation: def.Isolation, SELinux: await hostSelinux(host) } : {}),
      ...(socket ? { Socket: socket } : {}),
      Container: container,
    };
  },
});

export const ports = defineOperation({
  name: 'ports',
  method: 'GET',
  path: '/container/:id/ports',
  summary: "A container's published ports",
  mutates: false,
  http: { text: (r: { Ports: PortPair[] }) => `${portsText(r.Ports)}\n` },
  parse: parseId,
  async run(host, req): Promise<{ Ports: PortPair[] }> {
    return { Ports: (await requireDefinition(host, req.Id)).Ports };
  },
});
