import type { Command } from 'commander';
import { invalid } from '../model/errors.js';
import { collect } from './cli.js';

/** install's flags for a health check and start ordering (their own block: see model/health.ts, model/ordering.ts). */
export function healthOptions(cmd: Command): Command {
  return cmd
    .option('--health-cmd <command>', 'health check: a shell command run in the container (exit 0: healthy); the unit counts as started only once it passes')
    .option('--health-interval <duration>', 'time between checks (default 10s; e.g. 1s, 500ms, 1m)')
    .option('--health-timeout <duration>', 'a check running longer fails (default 5s)')
    .option('--health-retries <n>', 'failed checks in a row that make it unhealthy: the unit restarts (default 3)')
    .option('--health-start-period <duration>', 'failures in this time after a start do not count (default 0s)')
    .option('--no-health', 'remove the container\'s health check (on a re-install)')
    .option('--after <name,...>', 'start after these containers of the same host (systemd After=/Wants=); a comma list; repeatable', collect)
    .option('--wait <started|healthy>', 'with --after: "healthy" requires each of them to have a health check (the default, "started", does not)');
}

/** The install body's Health/After/Wait fields from those flags (none given: none sent). */
export function healthBody(o: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const detail = ['healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'].filter((k) => o[k] !== undefined);
  if (o.health === false) {
    if (o.healthCmd !== undefined || detail.length) throw invalid('--no-health cannot be combined with --health-* flags');
    body.Health = null;
  } else if (o.healthCmd !== undefined) {
    const retries = o.healthRetries as string | undefined;
    if (retries !== undefined && !/^[0-9]{1,3}$/.test(retries)) throw invalid(`--health-retries ${JSON.stringify(retries)} is not a whole number`);
    body.Health = {
      Cmd: o.healthCmd,
      ...(o.healthInterval === undefined ? {} : { Interval: o.healthInterval }),
      ...(o.healthTimeout === undefined ? {} : { Timeout: o.healthTimeout }),
      ...(retries === undefined ? {} : { Retries: Number(retries) }),
      ...(o.healthStartPeriod === undefined ? {} : { StartPeriod: o.healthStartPeriod }),
    };
  } else if (detail.length) {
    throw invalid('--health-interval, --health-timeout, --health-retries and --health-start-period need --health-cmd');
  }
  const after = ((o.after as string[] | undefined) ?? []).flatMap((a) => a.split(','));
  if (o.after !== undefined) body.After = after;
  if (o.wait !== undefined) {
    if (o.wait !== 'started' && o.wait !== 'healthy') throw invalid(`--wait must be "started" or "healthy", not ${JSON.stringify(o.wait)}`);
    if (o.after === undefined) throw invalid('--wait needs --after NAME');
    body.Wait = o.wait;
  }
  return body;
}
