import { formatDuration, healthBodyOf } from '../health.js';
import { NO_LIMIT, formatMemory } from '../limits.js';
import type { PortPair } from '../ports.js';
import { definitionDiff, definitionHash, resolvedDefinition, type ResolvedDefinition } from './definition.js';
import type { ContainerSpec, Deployment, Instance } from './types.js';

/**
 * Plan/apply (issue 15): for each instance a deploy places, what its host
 * has (GET /container/:id/definition) against what the descriptor resolves
 * to, and so what the deploy does: install it (new, or gone from its host),
 * install it again (its definition differs: the fields that do; a running
 * one restarts), leave it alone (same hash: no request at all when it
 * runs), or remove it. `deploy --plan` prints these steps and stops; the
 * deploy carries them out. Pure: the CLI asks the hosts (cli/deploy.ts).
 */

/** What a host says of an installed instance. */
export interface InstalledState {
  Hash: string;
  Definition: ResolvedDefinition;
  Ports: PortPair[];
  /** Its unit's ActiveState (socket-activated: its socket's). */
  ActiveState: string;
}

export type Step =
  | { Do: 'install'; Inst: Instance; Why: string }
  | { Do: 'change'; Inst: Instance; Fields: string[]; Restart: boolean; Installed: InstalledState }
  | { Do: 'leave'; Inst: Instance; Start: boolean; Installed: InstalledState }
  | { Do: 'remove'; Inst: Instance; Why: string }
  /** Its host could not say: neither installed nor changed, its ports as the file had them. */
  | { Do: 'unknown'; Inst: Instance; Why: string };

export interface ApplyOptions {
  /** deploy --isolate: every instance runs isolated (isolation is never undone: without it, an isolated one stays so). */
  isolate?: boolean;
  /**
   * The instances on its own host an instance starts after (order.ts:
   * install's After and Wait); absent or empty After: none.
   */
  localOrder?: (inst: Instance) => { After: string[]; Wait: 'started' | 'healthy' };
}

/** The variables an instance is installed with: the ones it was made with (the seed's rule), else its container's. */
export const variablesOf = (inst: Instance, spec: ContainerSpec) => inst.Environment ?? spec.Environment;

/**
 * The instance's definition as this deploy would install it. What a
 * descriptor cannot say is taken from what is installed, so it never counts
 * as a change: the shared environment it reads (Environment.Id), socket
 * activation unless the descriptor says it (SocketActivation), and
 * isolation unless --isolate asks for it (a re-install cannot undo it).
 */
export function desiredDefinition(inst: Instance, spec: ContainerSpec, opts: ApplyOptions, installed?: ResolvedDefinition): ResolvedDefinition {
  return resolvedDefinition({
    Image: spec.Image,
    Ports: spec.PublicPorts,
    ...(installed?.Environment.Id ? { EnvId: installed.Environment.Id } : {}),
    Variables: variablesOf(inst, spec),
    ...(spec.Limits ? { Limits: spec.Limits } : {}),
    ...(spec.Health ? { Health: spec.Health } : {}),
    ...orderParts(inst, opts),
    Isolated: opts.isolate === true || installed?.Isolated === true,
    ...activationOf(spec, installed),
    ...(spec.Volumes ? { Volumes: spec.Volumes } : {}),
  });
}

/** After and WaitHealthy as the definition has them (none without local ordering). */
function orderParts(inst: Instance, opts: ApplyOptions): { After?: string[]; WaitHealthy?: boolean } {
  const o = opts.localOrder?.(inst);
  if (!o?.After.length) return {};
  return { After: o.After, ...(o.Wait === 'healthy' ? { WaitHealthy: true } : {}) };
}

/** The socket activation an instance is to have: the descriptor's, else what is installed. */
function activationOf(spec: ContainerSpec, installed?: ResolvedDefinition): { SocketActivation?: { IdleAfterMs?: number } } {
  const act = spec.SocketActivation ?? installed?.SocketActivation;
  return act ? { SocketActivation: act } : {};
}

/** The desired definition's hash (what `deploy --plan` prints beside each instance). */
export const desiredHash = (inst: Instance, spec: ContainerSpec, opts: ApplyOptions, installed?: ResolvedDefinition) =>
  definitionHash(desiredDefinition(inst, spec, opts, installed));

/**
 * The install body of an instance. A re-install keeps what its body leaves
 * out (limits, health, ordering), so one of a changed instance says "none"
 * and null for what the descriptor no longer has: the result is what the
 * descriptor says, and hashes as desiredDefinition does.
 */
export function installBody(inst: Instance, spec: ContainerSpec, opts: ApplyOptions, installed?: ResolvedDefinition): Record<string, unknown> {
  const l = spec.Limits;
  const had = installed?.Limits ?? {};
  const limit = (k: 'Memory' | 'Cpus' | 'Pids', v: number | undefined, show: (n: number) => string | number) =>
    v !== undefined ? { [k]: show(v) } : had[k] !== undefined ? { [k]: NO_LIMIT } : {};
  return {
    Image: spec.Image,
    Ports: spec.PublicPorts.map((p) => ({ Internal: p.Internal, External: p.External })),
    Environment: { Variables: variablesOf(inst, spec) },
    ...(spec.Volumes?.length ? { VolumeConfig: { Volumes: spec.Volumes, BindMounts: [] } } : {}),
    ...(opts.isolate ? { Isolate: true } : {}),
    ...limit('Memory', l?.Memory, formatMemory),
    ...limit('Cpus', l?.Cpus, (n) => n),
    ...limit('Pids', l?.Pids, (n) => n),
    ...(spec.Health ? { Health: healthBodyOf(spec.Health) } : installed?.Health ? { Health: null } : {}),
    ...orderBody(inst, opts, installed),
    // A socket-activated one's re-install says so too (install refuses a body that would switch it out).
    ...socketBody(activationOf(spec, installed).SocketActivation),
  };
}

/** Install's After and Wait for the instance's local ordering; After null removes one it no longer has. */
function orderBody(inst: Instance, opts: ApplyOptions, installed?: ResolvedDefinition): Record<string, unknown> {
  const o = opts.localOrder?.(inst);
  if (o?.After.length) return { After: o.After, Wait: o.Wait };
  return installed?.After ? { After: null } : {};
}

function socketBody(act: { IdleAfterMs?: number } | undefined): Record<string, unknown> {
  if (!act) return {};
  return { SocketActivation: true, ...(act.IdleAfterMs !== undefined ? { IdleAfter: formatDuration(act.IdleAfterMs) } : {}) };
}

const RUNNING = ['active', 'activating', 'reloading'];

/** One instance the deploy keeps or adds: install, change or leave, by what its host has (undefined: not installed). */
export function stepFor(inst: Instance, spec: ContainerSpec, installed: InstalledState | undefined, opts: ApplyOptions, why: string): Step {
  if (!installed) return { Do: 'install', Inst: inst, Why: why };
  const fields = definitionDiff(installed.Definition, desiredDefinition(inst, spec, opts, installed.Definition));
  const running = RUNNING.includes(installed.ActiveState);
  if (fields.length) return { Do: 'change', Inst: inst, Fields: fields, Restart: running, Installed: installed };
  return { Do: 'leave', Inst: inst, Start: !running, Installed: installed };
}

/** Why an instance in the file is removed (placement.ts decided it; this words it). */
export function removalWhy(inst: Instance, d: Deployment): string {
  const c = d.Containers.find((x) => x.Name === inst.From);
  if (inst.Remove) return 'marked for removal by an earlier deploy';
  if (!c) return `container ${JSON.stringify(inst.From)} is no longer in the descriptor`;
  const same = inst.Ports.length === c.PublicPorts.length && c.PublicPorts.every((p) => inst.Ports.some((ip) => ip.Internal === p.Internal && (p.External === 0 || ip.External === p.External)));
  if (!same) return 'its published ports changed: replaced by a new instance';
  return `count of ${c.Name} lowered to ${c.Count}`;
}

const short = (hash: string) => hash.replace(/^sha256:/, '').slice(0, 12);

/** One line of a step, as `deploy --plan` prints it under its host. */
export function stepLine(s: Step, spec?: ContainerSpec, opts: ApplyOptions = {}): string {
  switch (s.Do) {
    case 'install':
      return `install ${s.Inst.Id}: ${s.Why}${spec ? ` (${short(desiredHash(s.Inst, spec, opts))})` : ''}`;
    case 'change':
      return `change ${s.Inst.Id}: ${s.Fields.join(', ')} differ${s.Restart ? '; restart (running)' : '; not running, start'} (${short(s.Installed.Hash)} -> ${spec ? short(desiredHash(s.Inst, spec, opts, s.Installed.Definition)) : '?'})`;
    case 'leave':
      return `leave ${s.Inst.Id}: unchanged${s.Start ? ', not running: start' : ', running'} (${short(s.Installed.Hash)})`;
    case 'remove':
      return `remove ${s.Inst.Id}: ${s.Why}`;
    case 'unknown':
      return `unknown ${s.Inst.Id}: ${s.Why}`;
  }
}

/** The plan's text: per host (in the order named) its steps, then one summary line. */
export function planText(steps: Step[], hosts: string[], specs: Map<string, ContainerSpec>, opts: ApplyOptions = {}, order: string[] = []): string {
  const lines: string[] = [];
  for (const h of hosts) {
    const mine = steps.filter((s) => s.Inst.On === h);
    lines.push(`${h}:${mine.length ? '' : ' nothing'}`);
    for (const s of mine) lines.push(`  ${stepLine(s, specs.get(s.Inst.From), opts)}`);
  }
  const n = (what: Step['Do']) => steps.filter((s) => s.Do === what).length;
  const restarts = steps.filter((s) => s.Do === 'change' && s.Restart).length;
  lines.push(...order);
  lines.push(`plan: ${n('install')} to install, ${n('change')} to change (${restarts} restarted), ${n('leave')} unchanged, ${n('remove')} to remove${n('unknown') ? `, ${n('unknown')} unknown` : ''}`);
  return `${lines.join('\n')}\n`;
}
