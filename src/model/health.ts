import { Type, type Static } from '@sinclair/typebox';
import { invalid } from './errors.js';
import { closed } from './schema.js';
import { shellWord } from './systemd-quote.js';

/**
 * A container's health check, as stored in its definition: a shell command
 * run inside the container (Docker's HEALTHCHECK CMD-SHELL), durations in
 * milliseconds. The unit's start completes only once Docker reports the
 * container healthy (the readiness gate), and a container that turns
 * unhealthy (Retries failed checks in a row) is killed so that systemd
 * restarts it (liveness). See docs/decisions.md, "Health checks".
 */
export interface HealthCheck {
  Cmd: string;
  IntervalMs: number;
  TimeoutMs: number;
  Retries: number;
  StartPeriodMs: number;
}

/** The API's form: durations as text ("5s", "500ms", "1m"; a bare number is seconds). */
export const HealthSchema = Type.Object(
  {
    Cmd: Type.String({ minLength: 1, maxLength: 1024 }),
    Interval: Type.Optional(Type.String({ maxLength: 32 })),
    Timeout: Type.Optional(Type.String({ maxLength: 32 })),
    Retries: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    StartPeriod: Type.Optional(Type.String({ maxLength: 32 })),
  },
  closed,
);
export type HealthBody = Static<typeof HealthSchema>;

export const HEALTH_DEFAULTS = { IntervalMs: 10_000, TimeoutMs: 5_000, Retries: 3, StartPeriodMs: 0 } as const;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds from "5s", "500ms", "1.5m", "2h" or a bare
 * number of seconds; `field` names it in the error. Whole milliseconds only.
 */
export function parseDuration(text: string, field: string, min = 0, max = 3_600_000): number {
  const m = /^([0-9]{1,7}(?:\.[0-9]{1,3})?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw invalid(`${field} ${JSON.stringify(text.slice(0, 40))} is not a duration (e.g. 5s, 500ms, 1m)`);
  // Rounded to a millionth first: 1.1 * 1000 is 1100.0000000000002 in floating point.
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 's']! * 1e6) / 1e6;
  if (!Number.isInteger(ms)) throw invalid(`${field} ${text} is not a whole number of milliseconds`);
  if (ms < min || ms > max) throw invalid(`${field} ${text} must be between ${formatDuration(min)} and ${formatDuration(max)}`);
  return ms;
}

/** "1500ms", "5s", "2m", "1h": the shortest exact form, which Docker's and gear's parsers both read. */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The stored check from the API's form. The command is free text for the
 * container's shell, but one line: a control character (a newline above
 * all) is refused here with the field's name, before it could reach a unit.
 */
export function validateHealth(body: HealthBody, field = 'Health'): HealthCheck {
  const cmd = body.Cmd;
  if (/[\x00-\x1f\x7f]/.test(cmd)) throw invalid(`${field}.Cmd must be one line without control characters (newline, tab, ...)`);
  if (cmd.trim() === '') throw invalid(`${field}.Cmd must not be blank`);
  const d = HEALTH_DEFAULTS;
  const IntervalMs = body.Interval === undefined ? d.IntervalMs : parseDuration(body.Interval, `${field}.Interval`, 100);
  const TimeoutMs = body.Timeout === undefined ? d.TimeoutMs : parseDuration(body.Timeout, `${field}.Timeout`, 100);
  const StartPeriodMs = body.StartPeriod === undefined ? d.StartPeriodMs : parseDuration(body.StartPeriod, `${field}.StartPeriod`);
  return { Cmd: cmd, IntervalMs, TimeoutMs, Retries: body.Retries ?? d.Retries, StartPeriodMs };
}

/** The API's form of a stored check (what status shows and a re-install sends). */
export const healthBodyOf = (h: HealthCheck): HealthBody => ({
  Cmd: h.Cmd,
  Interval: formatDuration(h.IntervalMs),
  Timeout: formatDuration(h.TimeoutMs),
  Retries: h.Retries,
  StartPeriod: formatDuration(h.StartPeriodMs),
});

/** `docker run`'s flags for the check: Docker runs it (`/bin/sh -c CMD` in the container) and keeps the state. */
export function healthRunArgs(h: HealthCheck): string[] {
  return [
    '--health-cmd', h.Cmd,
    '--health-interval', formatDuration(h.IntervalMs),
    '--health-timeout', formatDuration(h.TimeoutMs),
    '--health-retries', String(h.Retries),
    '--health-start-period', formatDuration(h.StartPeriodMs),
  ];
}

/**
 * The readiness gate and liveness watch, one /bin/sh script run as the
 * unit's last ExecStartPost (systemd then quotes it with execLine):
 *
 * 1. Until Docker reports the container healthy, poll `docker inspect`
 *    every 0.5 s; unhealthy, exited, or the unit's `docker run` gone: exit 1,
 *    so the start fails (and Restart= applies). The unit's start job, and
 *    with it every unit ordered After= it, waits here.
 * 2. Healthy: leave a watcher behind in the unit's cgroup (systemd stops it
 *    with the unit) that follows Docker's health events of this run's
 *    container (by its id, which the inspect that saw healthy gave); on
 *    "unhealthy" (Retries failed checks in a row) it says so in the journal
 *    and kills the container, whose exit (137) is a failure: systemd
 *    restarts the unit.
 *
 * `onHealthy` is shell run once healthy (the restart backoff's reset).
 */
export function healthGateScript(dockerBin: string, ctr: string, h: HealthCheck, onHealthy = '', stopTimeout = 10, watcher = true): string {
  const docker = (...args: string[]) => [dockerBin, ...args].map(shellWord).join(' ');
  // A failed start goes straight to SIGTERM for the unit's processes, without ExecStop; the
  // docker client would forward it to a container that may ignore it (until TimeoutStopSec).
  // So the gate stops the container itself before it fails.
  const fail = `${docker('stop', '-t', String(stopTimeout), ctr)} >/dev/null 2>&1; exit 1`;
  const inspect = docker('inspect', '--type', 'container', '-f', '{{.Id}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', ctr);
  return (
    `while :; do t=$(date +%s.%N); set -- $(${inspect} 2>/dev/null); ` +
    `case "$2 $3" in ` +
    `'running healthy') break;; ` +
    `'running unhealthy') echo "gear: ${ctr} is unhealthy (${h.Retries} failed checks) before it was ever healthy" >&2; ${fail};; ` +
    `exited*|dead*|removing*) echo "gear: ${ctr} exited before it was healthy" >&2; ${fail};; ` +
    `esac; ` +
    `kill -0 "$MAINPID" 2>/dev/null || exit 1; sleep 0.5; done; id=$1; ` +
    `echo "gear: ${ctr} is healthy"; ${onHealthy}` +
    // (No watcher: podman's --health-on-failure kill does its job.)
    (watcher ? '' : 'exit 0') +
    (!watcher ? '' :
    // Events since just before the inspect that saw "healthy": a change after that inspect is
    // replayed, one before it was seen by it (a replay from the run's start would repeat an
    // "unhealthy" it has recovered from since).
    // By the id of this run's container: Docker matches a name filter as a prefix, so
    // container=ctr-web-1 also followed ctr-web-10 (and its "unhealthy" killed ctr-web-1).
    `(${docker('events')} --filter "container=$id" ${['--filter', 'event=health_status', '--format', '{{.Status}}'].map(shellWord).join(' ')} --since "$t" | ` +
    `while read -r s; do case "$s" in *unhealthy) ` +
    `echo "gear: ${ctr} is unhealthy (${h.Retries} failed checks in a row): killing it, systemd restarts the unit" >&2; ` +
    `${docker('kill')} "$id" >/dev/null 2>&1; exit 0;; esac; done) </dev/null & ` +
    `exit 0`)
  );
}
