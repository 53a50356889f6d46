import type { Host } from '../host/context.js';
import type { ContainerDefinition } from '../model/definition.js';
import { balancesOver, openConnections, type Drain } from '../model/drain.js';
import { linkGroups } from '../model/links.js';
import { containerNameOf } from '../model/names.js';
import { conflict } from '../model/errors.js';
import { applyStoredLinks } from './links.js';

/** How long a drain waits for connections already made to the container to end. */
export const DRAIN_WAIT_MS = 10_000;

export interface Drained {
  /** Containers whose links left it out. */
  From: string[];
  /** Connections from outside still open when the wait ended (0: all ended). */
  Open: number;
  WaitedMs: number;
  /** Containers whose links could not be re-applied with it back in, with why (they still leave it out). */
  Failed: string[];
}

/**
 * Re-apply the links of every running container on this host that has a
 * link with several targets (a drain added or removed changes which of them
 * are written). Returns the ids whose rules now leave a target out, and the
 * failures, "ID: why"; `blocking` are those whose links balance over one of
 * `ports` (by port alone: a target whose name failed to resolve cannot say
 * which host it is on).
 */
async function reapply(host: Host, skip: string, ports: readonly number[] = []): Promise<{ out: string[]; failed: string[]; blocking: string[] }> {
  const out: string[] = [];
  const failed: string[] = [];
  const blocking: string[] = [];
  for (const id of await host.store.idsIn('links')) {
    if (id === skip) continue;
    const links = await host.store.readLinks(id).catch(() => []);
    if (!linkGroups(links).some((g) => g.length > 1)) continue;
    try {
      const applied = await applyStoredLinks(host, id);
      if (applied && applied.links.length < links.length) out.push(id);
    } catch (err) {
      const why = `${id}: ${(err as Error).message.split('\n')[0]}`;
      (balancesOver(links, ports) ? blocking : failed).push(why);
    }
  }
  return { out, failed, blocking };
}

/**
 * Connections from elsewhere to the container: to its published ports' inner
 * side in its network namespace, and to their outer side in the host's
 * (pid 1's, as host/ports.ts reads it). A client container's connection
 * goes through docker-proxy, which accepts it at once and only then connects
 * on: until it has, the container's side shows nothing, and a drain that
 * looked there alone would restart the container under that request.
 */
async function openTo(host: Host, pid: number, inner: Set<number>, outer: Set<number>): Promise<number> {
  const read = async (p: number, f: string) => (await host.fs.read(`/proc/${p}/net/${f}`).catch(() => undefined)) ?? '';
  const [v4, v6, h4, h6] = await Promise.all([read(pid, 'tcp'), read(pid, 'tcp6'), read(1, 'tcp'), read(1, 'tcp6')]);
  return openConnections(v4, inner) + openConnections(v6, inner) + openConnections(h4, outer) + openConnections(h6, outer);
}

/**
 * Take a running container out of the links on its host that have other
 * targets, then wait (up to DRAIN_WAIT_MS) for the connections it already
 * has from outside to end: conntrack keeps those on it, only new ones go
 * elsewhere. Undefined when it does not run or publishes no port.
 *
 * When the links of a container that balance over it could not be applied
 * without it, that container would keep sending connections to it while it
 * restarts: the drain is undone and refused (409), so the update changes
 * nothing. (A failure of links that do not lead to it is only reported.)
 */
export async function drain(host: Host, def: ContainerDefinition): Promise<Drained | undefined> {
  const c = await host.docker.inspect(containerNameOf(def.Id));
  const ports = def.Ports.map((p) => p.External).filter((p) => p > 0);
  if (!c?.Running || !c.Pid || ports.length === 0) return undefined;
  const record: Drain = { Id: def.Id, Ports: ports, Pid: process.pid };
  await host.store.writeDrain(record);
  try {
    const { out, failed, blocking } = await reapply(host, def.Id, ports);
    if (blocking.length)
      throw conflict(
        `${def.Id} is not updated: it could not be taken out of the links of ${blocking.join('; ')}; they would send connections to it while it restarts. Nothing changed`,
        'fix or remove those links (gear link), or stop that container, and update again',
      );
    const started = Date.now();
    const internal = new Set(def.Ports.filter((p) => p.External > 0).map((p) => p.Internal));
    const published = new Set(ports);
    let open = 0;
    if (out.length) {
      for (;;) {
        open = await openTo(host, c.Pid, internal, published);
        if (open === 0 || Date.now() - started >= DRAIN_WAIT_MS) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { From: out, Open: open, WaitedMs: Date.now() - started, Failed: failed };
  } catch (err) {
    // The caller puts it back only once drain returned: a drain that failed half-way puts it back itself.
    await undrain(host, def.Id).catch(() => undefined);
    throw err;
  }
}

/** Put it back: the drain record removed, the links re-applied with it. Returns the failures (those links still leave it out). */
export async function undrain(host: Host, id: string): Promise<string[]> {
  await host.store.removeDrain(id);
  return (await reapply(host, id)).failed;
}
