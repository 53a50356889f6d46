import { isPortNumber } from './address.js';
import { linkGroups, type NetworkLink, type ResolvedLink } from './links.js';
import { validateName } from './names.js';

/**
 * A drain: while `gear update` restarts a container, the links on its host
 * that balance over it and other targets leave it out (docs/links.md,
 * "Updates behind a link"). Recorded in drains/NAME.json so that a linked
 * container that starts meanwhile (its unit's apply-links, another process)
 * leaves it out too.
 */
export interface Drain {
  Id: string;
  /** The host ports the container publishes: a link target on this host with one of them leads to it. */
  Ports: number[];
  /** The process that drains it (for a reader); whether the drain is in force is its update's lock (updateLockOf). */
  Pid: number;
}

/**
 * The lock `gear update` holds from reading the definition until the
 * container is back in the links. A drain is in force while it is held:
 * the lock knows a live holder from a dead one by pid and start time, so a
 * killed update's drain ends even when its pid is reused.
 */
export const updateLockOf = (id: string) => `@gear-update-${id}`;

/** A drain file's content checked again (it is read as root by apply-links); undefined when it is not one. */
export function parseDrain(value: unknown, id: string): Drain | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as Record<string, unknown>;
  if (d.Id !== id || !Array.isArray(d.Ports) || !d.Ports.every((p) => isPortNumber(p)) || !Number.isInteger(d.Pid) || (d.Pid as number) <= 0) return undefined;
  validateName(id);
  return { Id: id, Ports: d.Ports as number[], Pid: d.Pid as number };
}

/**
 * Whether a resolved link target is one of the drained containers: a port
 * one of them publishes, on this host (`localhost`, or one of the host's own
 * addresses). A target on another host, or a port nobody drains, is not.
 */
export function drainedTarget(drains: readonly Drain[], hostIps: ReadonlySet<string>): (l: ResolvedLink) => boolean {
  const ports = new Set(drains.flatMap((d) => d.Ports));
  return (l) => ports.has(l.ToPort) && (l.ToHost === 'localhost' || hostIps.has(l.ToIp));
}

/**
 * Whether links balance over a target with one of `ports`: a link of several
 * targets, one of which has such a port (on whatever host: a drain that
 * cannot apply the links cannot tell). The links a drain must change, or refuse.
 */
export function balancesOver(links: readonly NetworkLink[], ports: readonly number[]): boolean {
  return linkGroups(links).some((g) => g.length > 1 && g.some((l) => ports.includes(l.ToPort)));
}

/**
 * TCP connections to one of `ports` from elsewhere, made or being made, in
 * the text of /proc/PID/net/tcp or tcp6 of a process (its network
 * namespace): what a drain waits for to end. Read in the container's
 * namespace with its own ports, and in the host's with the published ones
 * (docker-proxy's side of a connection from another container, accepted
 * before the proxy has connected on to the container). Being made counts
 * (SYN_RECV): a connection whose first packet the replaced rules sent here
 * is on its way. Connections from loopback (in the container: its health
 * check) do not count.
 */
export function openConnections(procNetTcp: string, ports: ReadonlySet<number>): number {
  let n = 0;
  for (const line of procNetTcp.split('\n').slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if ((state !== '01' && state !== '03') || !local || !remote) continue; // 01: ESTABLISHED, 03: SYN_RECV
    if (!ports.has(parseInt(local.split(':')[1] ?? '', 16))) continue;
    const addr = remote.split(':')[0]!;
    // Addresses are hex in host byte order (little-endian): 127.x ends in 7F; ::1 and ::ffff:127.x likewise.
    const loopback = addr.length === 8 ? addr.endsWith('7F') : addr === '00000000000000000000000001000000' || /^0{16}FFFF0000[0-9A-F]{6}7F$/i.test(addr);
    if (!loopback) n++;
  }
  return n;
}
