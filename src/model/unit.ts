import type { ContainerDefinition } from './definition.js';
import { containerNameOf } from './names.js';
import { execLine, shellWord, unitText } from './systemd-quote.js';

/** Host facts the unit needs beyond the definition. */
export interface UnitContext {
  /** Absolute host path of the docker client (found on the host's PATH). */
  dockerBin: string;
  /** The runtime's service, ordered before and required by every container unit. */
  runtimeService: string;
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
  for (const p of def.Ports) args.push('-p', `${p.External}:${p.Internal}`);
  // Named volumes by name; a definition not yet migrated keeps its anonymous ones (lost at every stop).
  if (def.NamedVolumes) for (const v of def.NamedVolumes) args.push('-v', `${v.Name}:${v.Path}`);
  else for (const v of def.VolumeConfig.Volumes) args.push('-v', v);
  for (const b of def.VolumeConfig.BindMounts) args.push('-v', `${b.HostPath}:${b.ContainerPath}:${b.ReadOnly ? 'ro' : 'rw'}`);
  args.push(def.Image);
  return args;
}

export interface UnitTemplates {
  container: string;
  target: string;
}

export type UnitRenderer = (def: ContainerDefinition, ctx: UnitContext) => string;

/**
 * ExecStop: while the unit's `docker run` client lives, `docker stop` its
 * container, or, when there is no container yet (the client is still
 * pulling or creating it), end the client with SIGTERM.
 *
 * One `docker stop` is not enough: a stop that lands while the client is
 * still creating the container finds nothing running, and the SIGTERM
 * systemd sends next is forwarded by the client to a container that cannot
 * take it yet, and lost; the stop would then wait out TimeoutStopSec.
 */
function stopScript(dockerBin: string, timeout: number, ctr: string): string {
  const stop = [dockerBin, 'stop', '-t', String(timeout), ctr].map(shellWord).join(' ');
  return `while kill -0 "$MAINPID" 2>/dev/null; do ${stop} >/dev/null 2>&1 || kill "$MAINPID" 2>/dev/null; sleep 0.2; done`;
}

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
      stopTimeout: ctx.stopTimeout,
      // docker stop gets its own grace period, systemd a little more on top.
      unitStopTimeout: ctx.stopTimeout + 20,
      definitionPath: unitText(ctx.definitionFile),
      execStart: execLine(dockerRunArgs(def, ctx)),
      execStop: execLine(['/bin/sh', '-c', stopScript(ctx.dockerBin, ctx.stopTimeout, ctr)]),
      execStopPost: execLine([ctx.dockerBin, 'rm', '-f', ctr]),
      // Only linked containers get the hook; other units stay as they were.
      execStartPost: def.Linked ? execLine(applyLinksArgs(def, ctx)) : '',
    });
  };
}
