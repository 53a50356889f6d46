import { networkInterfaces } from 'node:os';
import type { Host } from '../host/context.js';
import { drainedTarget, updateLockOf } from '../model/drain.js';
import type { AppliedLinks } from '../host/net.js';
import { failed, invalid } from '../model/errors.js';
import { checkNetworkLinks, formatLink, type NetworkLink, type ResolvedLink } from '../model/links.js';
import { containerNameOf, unitNameOf, validateName } from '../model/names.js';
import { reloadIfNeeded, requireDefinition } from './common.js';
import { defineOperation } from './operation.js';
import { LinksBodySchema, type LinksBody } from './schemas.js';
import { linkCount, linkState } from './text.js';

export interface ContainerLinks {
  Id: string;
  NetworkLinks: NetworkLink[];
}

export interface LinkRequest {
  Links: ContainerLinks[];
}

export interface LinkResult {
  /** Applied: the container runs and its links are in place now; otherwise they are applied when it starts. */
  Links: (ContainerLinks & { Applied: boolean })[];
}

/** Names valid and each container once; links valid (the schema checked the shape and the limits). */
function parseLinks(body: LinksBody): LinkRequest {
  const seen = new Set<string>();
  return {
    Links: body.Links.map((entry, i) => {
      const Id = validateName(entry.Id);
      if (seen.has(Id)) throw invalid(`Links[${i}]: container ${Id} is listed twice`);
      seen.add(Id);
      return { Id, NetworkLinks: checkNetworkLinks(entry.NetworkLinks, `Links[${i}].NetworkLinks`) };
    }),
  };
}

/** This host's own IPv4 addresses (a link target naming one of them leads to this host). */
function hostIps(): Set<string> {
  return new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address)));
}

/** Targets the drains in force leave out, or undefined when nothing is drained. A drain whose update no longer holds its lock (killed mid-update) is over, and its file removed. */
async function drainedNow(host: Host): Promise<((l: ResolvedLink) => boolean) | undefined> {
  const all = await host.store.drains();
  const live = await Promise.all(all.map((d) => host.locks.isHeld(updateLockOf(d.Id))));
  for (const d of all.filter((_, i) => !live[i])) await host.store.removeDrain(d.Id);
  const drains = all.filter((_, i) => live[i]);
  return drains.length ? drainedTarget(drains, hostIps()) : undefined;
}

/**
 * Program the stored links of a container that runs now; false when it does
 * not run (its unit applies them when it starts). Under the container's link
 * lock, reading the file (and the drains: operations/drain.ts) there:
 * whoever applies last applies the newest links.
 */
export function applyStoredLinks(host: Host, id: string): Promise<AppliedLinks | undefined> {
  return host.linkLocks.with(id, async () => {
    const c = await host.docker.inspect(containerNameOf(id));
    if (!c?.Running || !c.Pid) return undefined;
    const links = await host.store.readLinks(id);
    return host.net.apply({ pid: c.Pid, containerId: c.Id, ip: c.IPAddress, gateway: c.Gateway }, links, await drainedNow(host));
  });
}

/**
 * The unit's ExecStartPost (`gear apply-links NAME`): the unit's foreground
 * `docker run` may not have created the container yet, so wait until it runs
 * (while the unit's main process, $MAINPID, lives), then apply its links.
 */
export async function applyLinksAtStart(host: Host, id: string, waitMs: number, mainPid?: number): Promise<AppliedLinks> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const c = await host.docker.inspect(containerNameOf(id));
    if (c?.Running && c.Pid) break;
    if (mainPid && !alive(mainPid)) throw failed(`the container ${containerNameOf(id)} did not start: its docker run (pid ${mainPid}) exited`);
    if (Date.now() > deadline) throw failed(`the container ${containerNameOf(id)} did not run within ${waitMs / 1000} s; its links are not applied`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const applied = await applyStoredLinks(host, id);
  if (!applied) throw failed(`the container ${containerNameOf(id)} stopped before its links could be applied`);
  return applied;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Store a container's links and, the first time it gets any, give its unit
 * the ExecStartPost that applies them (true: the unit file changed). The
 * caller holds the container's lock.
 */
async function storeLinks(host: Host, id: string, links: NetworkLink[]): Promise<boolean> {
  const def = await requireDefinition(host, id);
  await host.linkLocks.with(id, () => host.store.writeLinks(id, links));
  if (def.Linked || links.length === 0) return false;
  const linked = { ...def, Linked: true };
  const changed = await host.units.write(linked);
  await host.store.write(linked);
  return changed;
}

/**
 * Set the network links of containers (each container's list replaces its
 * links). A running container gets them at once, without a restart; every
 * container gets them again at each start.
 */
export const link = defineOperation({
  name: 'link',
  method: 'POST',
  path: '/containers/links',
  summary: 'Set the network links of containers (applied at once to running ones, and at every start)',
  body: LinksBodySchema,
  mutates: true,
  http: {
    text: (r: LinkResult) =>
      r.Links.map((c) => `${c.Id}: ${linkCount(c.NetworkLinks.length)} ${linkState(c.Applied)}\n${c.NetworkLinks.map((l) => `  ${formatLink(l)}\n`).join('')}`).join(''),
  },
  parse: ({ body }) => parseLinks(body),
  async run(host, req): Promise<LinkResult> {
    // Every container must exist before any is changed.
    for (const c of req.Links) await requireDefinition(host, c.Id);
    const changed = await Promise.all(req.Links.map((c) => host.locks.with(c.Id, () => storeLinks(host, c.Id, c.NetworkLinks))));
    const rewritten = req.Links.filter((_, i) => changed[i]).map((c) => c.Id);
    // One manager-wide reload for all rewritten units, and only if systemd had loaded an old copy.
    await reloadIfNeeded(host, ...rewritten.map(unitNameOf));
    const applied = await Promise.allSettled(req.Links.map((c) => applyStoredLinks(host, c.Id)));
    const failure = applied.findIndex((a) => a.status === 'rejected');
    if (failure >= 0) {
      const reason = (applied[failure] as PromiseRejectedResult).reason as Error;
      throw failed(`${req.Links[failure]!.Id}: links are stored but could not be applied now: ${reason.message}`, 'they are applied at its next start; or run the same link again');
    }
    return { Links: req.Links.map((c, i) => ({ ...c, Applied: (applied[i] as PromiseFulfilledResult<AppliedLinks | undefined>).value !== undefined })) };
  },
});
