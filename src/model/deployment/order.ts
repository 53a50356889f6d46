import type { ContainerSpec, Instance } from './types.js';

/**
 * Start order between a deployment's containers (a container's `After`,
 * Compose's depends_on): "start S only when D is started / healthy". On one
 * host it is systemd's own ordering (install's After/Wait: After= and
 * Wants= on D's unit, whose start completes only once D is healthy when it
 * has a check: model/ordering.ts), so it holds at every boot too. Between
 * hosts no unit can name another host's, so `gear deploy` carries it out:
 * it starts S only once its agent-reported status says every instance of D
 * on another host is ready (cli/deploy.ts). Pure.
 */

/** The first cycle among the containers' After, as names [a, b, ..., a]; undefined when there is none. */
export function afterCycle(containers: readonly ContainerSpec[]): string[] | undefined {
  const by = new Map(containers.map((c) => [c.Name, c]));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'open') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'open');
    path.push(name);
    for (const a of by.get(name)?.After ?? []) {
      const found = by.has(a.To) ? visit(a.To) : undefined;
      if (found) return found;
    }
    path.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const c of containers) {
    const found = visit(c.Name);
    if (found) return found;
  }
  return undefined;
}

/**
 * The containers in start levels: level 0 starts after nothing, each later
 * level after containers of earlier ones only; descriptor order within a
 * level. Assumes no cycle (parse refuses one).
 */
export function startLevels(containers: readonly ContainerSpec[]): string[][] {
  const level = new Map<string, number>();
  const by = new Map(containers.map((c) => [c.Name, c]));
  const of = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    const deps = (by.get(name)?.After ?? []).filter((a) => by.has(a.To));
    const n = deps.length ? Math.max(...deps.map((a) => of(a.To))) + 1 : 0;
    level.set(name, n);
    return n;
  };
  const out: string[][] = [];
  for (const c of containers) (out[of(c.Name)] ??= []).push(c.Name);
  return out.filter((l) => l !== undefined);
}

/** How one instance's start is ordered: by its unit on its host, and by deploy's waits for instances elsewhere. */
export interface InstanceOrder {
  /** Install's After (ids of instances on its own host) and Wait: healthy only when every one of them is waited for healthy. */
  local: { After: string[]; Wait: 'started' | 'healthy' };
  /** Instances on other hosts that deploy waits for before it starts this one. */
  remote: { Inst: Instance; Wait: 'started' | 'healthy' }[];
}

/**
 * The order of `inst` among `instances` (the deployment as it will be; ones
 * marked for removal do not count). Mixed waits on one host give Wait
 * started: a health-checked unit's start still completes only once it is
 * healthy, so systemd's After= waits for its health anyway; install's
 * `healthy` only refuses a target without a check, which parse did already.
 */
export function instanceOrder(inst: Instance, spec: ContainerSpec, instances: readonly Instance[]): InstanceOrder {
  const local: string[] = [];
  let allHealthy = true;
  const remote: InstanceOrder['remote'] = [];
  for (const a of spec.After ?? []) {
    for (const dep of instances) {
      if (dep.From !== a.To || dep.Remove || dep.Id === inst.Id) continue;
      if (dep.On === inst.On) {
        if (!local.includes(dep.Id)) local.push(dep.Id);
        if (a.Wait !== 'healthy') allHealthy = false;
      } else remote.push({ Inst: dep, Wait: a.Wait });
    }
  }
  return { local: { After: local, Wait: local.length && allHealthy ? 'healthy' : 'started' }, remote };
}

/**
 * What `deploy --plan` prints of the order: the levels, what each
 * container waits for, and per instance how (systemd on its host, or deploy
 * through the other host's agent). Empty when no container has After.
 */
export function orderLines(containers: readonly ContainerSpec[], instances: readonly Instance[]): string[] {
  if (!containers.some((c) => c.After?.length)) return [];
  const by = new Map(containers.map((c) => [c.Name, c]));
  const levels = startLevels(containers).map((names) =>
    names.map((n) => {
      const after = by.get(n)?.After ?? [];
      return after.length ? `${n} (after ${after.map((a) => `${a.To} ${a.Wait}`).join(', ')})` : n;
    }),
  );
  const lines = [`start order: ${levels.map((l, i) => `${i + 1}. ${l.join(', ')}`).join('  ')}`];
  for (const inst of instances) {
    const spec = by.get(inst.From);
    if (inst.Remove || !spec?.After?.length) continue;
    const o = instanceOrder(inst, spec, instances);
    if (o.local.After.length) lines.push(`  ${inst.Id} on ${inst.On}: its unit starts after ${o.local.After.join(', ')} (systemd, ${inst.On}; wait ${o.local.Wait})`);
    for (const r of o.remote) lines.push(`  ${inst.Id} on ${inst.On}: started once ${r.Inst.Id} on ${r.Inst.On} is ${r.Wait} (deploy asks ${r.Inst.On}'s agent)`);
  }
  return lines;
}
