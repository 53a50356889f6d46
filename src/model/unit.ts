import type { ContainerDefinition } from './definition.js';
import { dockerLimitArgs, limitsText } from './limits.js';
import { containerNameOf } from './names.js';
import { execLine, shellWord, unitText } from './systemd-quote.js';
import { healthGateScript, healthRunArgs } from './health.js';
import { orderingUnits } from './ordering.js';
import { isolationRunArgs, isolationText } from './isolation.js';
import { backoffCountScript, backoffResetScript, backoffWaitScript } from './backoff.js';
import { activatedPorts, listeningGateScript, privatePublishArg } from './socket-activation.js';

/** Host facts the unit needs beyond the definition. */
export interface UnitContext {
  /** Absolute host path of the docker client (found on the host's PATH). */
  dockerBin: string;
  /** The runtime's service, ordered before and required by every container unit. */
  runtimeService: string;
  /** podman (model/runtime.ts): its client runs the container; absent: docker. */
  runtime?: 'podman';
  /** Host path of the container's env file. */
  envFile: string;
  /** Host path of the stored definition, named in the unit's header for the reader. */
  definitionFile: string;
  /** Seconds `docker stop` waits before it kills the container. */
  stopTimeout: number;
  version: string;
  /** The gear command on the host (absolute paths), run by linked units to apply their links. */
  selfCommand: string[];
  /** Host path of gear's state directory, where that command finds the links. */
  stateDir: string;
  /**
   * Docker runs with systemd's cgroup driver: the container's scope
   * (docker-ID.scope) can be put in the unit's slice (--cgroup-parent).
   */
  systemdCgroups?: boolean;
}

/**
 * The ExecStartPost of a linked container: `gear apply-links` waits for the
 * container of this start to run, then programs its links in its network
 * namespace. A new container has a new namespace, so this runs every start.
 */
function applyLinksArgs(def: ContainerDefinition, ctx: UnitContext): string[] {
  return [...ctx.selfCommand, 'apply-links', '--state-dir', ctx.stateDir, def.Id];
}

/** The `docker run` argv ExecStart runs: in the foreground, so output reaches the journal. */
export function dockerRunArgs(def: ContainerDefinition, ctx: UnitContext): string[] {
  const args = [ctx.dockerBin, 'run', '--rm', '--name', containerNameOf(def.Id), '--label', `io.gear.container=${def.Id}`];
  args.push('--env-file', ctx.envFile);
  // Socket-activated: systemd listens on the public port; the container's port is on loopback only, for the proxy.
  const activated = activatedPorts(def);
  for (const [i, p] of def.Ports.entries()) args.push('-p', activated.length ? privatePublishArg(activated[i]!) : `${p.External}:${p.Internal}`);
  // Named volumes by name; a definition not yet migrated keeps its anonymous ones (lost at every stop).
  // An isolated container's volumes were filled and given to its uid by gear: nocopy, or Docker
  // would copy the image's (root's) ownership into an empty one again at every start.
  const nocopy = def.Isolation ? ':nocopy' : '';
  if (def.NamedVolumes) for (const v of def.NamedVolumes) args.push('-v', `${v.Name}:${v.Path}${nocopy}`);
  else for (const v of def.VolumeConfig.Volumes) args.push('-v', v);
  for (const b of def.VolumeConfig.BindMounts) args.push('-v', `${b.HostPath}:${b.ContainerPath}:${b.ReadOnly ? 'ro' : 'rw'}`);
  // podman kills an unhealthy container itself (gear's docker events watcher is Docker's).
  if (def.Health) args.push(...healthRunArgs(def.Health), ...(ctx.runtime === 'podman' ? ['--health-on-failure', 'kill'] : []));
  args.push(...unitLimitArgs(def, ctx));
  if (def.Isolation) args.push(...isolationRunArgs(def.Isolation));
  args.push(def.Image);
  return args;
}

/**
 * The container's limits, enforced by Docker on its own cgroup (its
 * processes are not in the unit's), and with systemd's cgroup driver that
 * cgroup's scope in the unit's slice: systemd accounts for the container
 * under the slice, and `systemctl show docker-ID.scope` shows the limits.
 */
export function unitLimitArgs(def: ContainerDefinition, ctx: UnitContext): string[] {
  return [...(ctx.systemdCgroups ? ['--cgroup-parent', def.SystemdSlice] : []), ...dockerLimitArgs(def.Limits)];
}

/** The unit's comment line naming the limits, for a reader of the file ("" without limits). */
export function unitLimitsComment(def: ContainerDefinition): string {
  const text = limitsText(def.Limits);
  return text ? `# gear: limits ${unitText(text)} (docker run enforces them on the container's scope, docker-ID.scope)` : '';
}

export interface UnitTemplates {
  container: string;
  target: string;
}

export type UnitRenderer = (def: ContainerDefinition, ctx: UnitContext) => string;

/**
 * ExecStop: until the unit's `docker run` client exits, act on what its
 * container is (one `docker inspect` per round, every 0.5 s):
 *
 * - none yet: the client is still creating it; SIGTERM ends the client;
 * - created or running: `docker stop -t N` (SIGTERM, SIGKILL after N s).
 *   While dockerd is starting the container it holds the container's lock,
 *   and the stop waits for the start to finish, then stops it; a created
 *   container the client has not asked to start yet is left for the next
 *   round (a stop does nothing to it, and the SIGTERM the client would
 *   forward to it is lost);
 * - exited, being removed: nothing, the client is about to exit.
 *
 * Such a stop can only be as quick as dockerd's start; TimeoutStopSec
 * allows for that (see the renderer and docs/decisions.md).
 */
export function stopScript(dockerBin: string, timeout: number, ctr: string): string {
  const docker = (...args: string[]) => [dockerBin, ...args, ctr].map(shellWord).join(' ');
  return (
    `while kill -0 "$MAINPID" 2>/dev/null; do ` +
    `case $(${docker('inspect', '--type', 'container', '-f', '{{.State.Status}}')} 2>/dev/null) in ` +
    `'') kill "$MAINPID" 2>/dev/null;; ` +
    `exited|removing|dead) ;; ` +
    `*) ${docker('stop', '-t', String(timeout))} >/dev/null 2>&1;; ` +
    `esac; sleep 0.5; done`
  );
}

/**
 * ExecStartPost of an unlinked container: the start completes only once its
 * container runs, as `docker run -d` returns only then. Without it the start
 * job ends when the `docker run` client is forked, so a `docker exec` or a
 * stop right after `gear start` could find no container yet. Polled with
 * `docker inspect`, quickly at first, then every 0.5 s (a burst of starts
 * must not become a burst of inspects); an image being pulled is waited
 * for, within TimeoutStartSec. If the client exits first (a failed run, or
 * a container that ran and ended), the gate steps aside: systemd judges
 * the main process's exit as it always did.
 */
export function runningGateScript(dockerBin: string, ctr: string): string {
  const inspect = [dockerBin, 'inspect', '--type', 'container', '-f', '{{.State.Running}}', ctr].map(shellWord).join(' ');
  return (
    `d=0.05; until [ "$(${inspect} 2>/dev/null)" = true ]; do ` +
    `kill -0 "$MAINPID" 2>/dev/null || exit 0; ` +
    `sleep $d; case $d in 0.05) d=0.1;; 0.1) d=0.2;; *) d=0.5;; esac; done`
  );
}

/** Seconds TimeoutStopSec adds to docker stop's own timeout. */
const STOP_ALLOWANCE_S = 80;

/** Handlebars' compile, passed in so that this module stays free of loading work. */
export type Compile = (template: string, options: { noEscape: boolean; strict: boolean }) => (data: object) => string;

/**
 * Compile the container unit template once. Every value is quoted here, in
 * code, so the template only lays out lines (noEscape: handlebars' HTML
 * escaping means nothing to systemd).
 */
export function containerUnitRenderer(compile: Compile, template: string): UnitRenderer {
  const render = compile(template, { noEscape: true, strict: true });
  return (def, ctx) => {
    const ctr = containerNameOf(def.Id);
    return render({
      version: unitText(ctx.version),
      name: unitText(def.Id),
      image: unitText(def.Image),
      runtimeService: unitText(ctx.runtimeService),
      slice: unitText(def.SystemdSlice),
      limitsComment: unitLimitsComment(def),
      isolationComment: def.Isolation ? `# gear: isolated, runs ${unitText(isolationText(def.Isolation))}, no capabilities, no new privileges` : '',
      stopTimeout: ctx.stopTimeout,
      // docker stop gets its own grace period; on top, the time dockerd may
      // still need to finish starting the container (a stop waits for that):
      // up to 24 s for 30 containers on a loaded 2-core host. 90 s in all by
      // default, systemd's own default; it only runs out when dockerd hangs.
      unitStopTimeout: ctx.stopTimeout + STOP_ALLOWANCE_S,
      definitionPath: unitText(ctx.definitionFile),
      execStart: execLine(dockerRunArgs(def, ctx)),
      execStop: execLine(['/bin/sh', '-c', stopScript(ctx.dockerBin, ctx.stopTimeout, ctr)]),
      execStopPost: execLine([ctx.dockerBin, 'rm', '-f', ctr]),
      // A linked container's hook waits for it to run, then applies its
      // links; a health-checked one's gate (below) waits for healthy; any
      // other waits only for its container to run.
      // (A socket-activated one's listening gate, below, waits for it to run too.)
      execStartPost: def.Linked
        ? execLine(applyLinksArgs(def, ctx))
        : def.Health || def.SocketActivation
          ? ''
          : execLine(['/bin/sh', '-c', runningGateScript(ctx.dockerBin, ctr)]),
      ...socketUnitValues(def, ctx),
      ...healthUnitValues(def, ctx),
    });
  };
}

/**
 * The unit's lines for health and ordering (see model/health.ts and
 * model/ordering.ts): the readiness gate, run after the links are applied
 * (a check may need them), and After=/Wants= on the units it starts after.
 */
function healthUnitValues(def: ContainerDefinition, ctx: UnitContext): Record<'healthGate' | 'orderAfter' | 'backoffWait' | 'backoffCount', string> {
  const sh = (script: string) => execLine(['/bin/sh', '-c', script]);
  return {
    healthGate: def.Health ? sh(healthGateScript(ctx.dockerBin, containerNameOf(def.Id), def.Health, backoffResetScript(def.Id), ctx.stopTimeout, ctx.runtime !== 'podman')) : '',
    orderAfter: orderingUnits(def).map(unitText).join(' '),
    // Restart backoff (model/backoff.ts), for every container.
    backoffWait: sh(backoffWaitScript(def.Id)),
    backoffCount: sh(backoffCountScript(def.Id)),
  };
}

/**
 * A socket-activated container's unit (model/socket-activation.ts): it
 * stops once its proxy no longer needs it, and its start completes only
 * once the container listens on its port, so that the proxy, ordered after
 * it, serves the connection that woke it.
 */
function socketUnitValues(def: ContainerDefinition, ctx: UnitContext): Record<'stopWhenUnneeded' | 'listeningGate', string> {
  if (!def.SocketActivation || !def.Ports.length) return { stopWhenUnneeded: '', listeningGate: '' };
  return {
    stopWhenUnneeded: 'yes',
    listeningGate: execLine(['/bin/sh', '-c', listeningGateScript(ctx.dockerBin, containerNameOf(def.Id), def.Ports.map((p) => p.Internal))]),
  };
}
