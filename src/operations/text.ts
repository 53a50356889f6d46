/** Plain-text renderings of results, shared by the CLI and the agent's text/plain answers. */
import type { PullProgress } from '../host/docker.js';
import type { JournalEntry } from '../host/journal.js';
import type { UnitState } from '../host/systemd.js';
import type { ContainerStatus } from './status.js';
import type { PortPair } from '../model/ports.js';
import { formatLink } from '../model/links.js';
import { limitsText } from '../model/limits.js';
import { isolationText, selinuxText } from '../model/isolation.js';
import { DEFAULT_SLICE } from '../model/definition.js';
import { table } from '../lib/table.js';

export { table };

/** One line of pull progress: "REF: LAYER: STATUS". */
export const pullLine = (ref: string, p: PullProgress) => `${ref}: ${p.id ? `${p.id}: ` : ''}${p.status}\n`;

export const portsText = (ports: PortPair[]) => ports.map((p) => `${p.Internal} -> ${p.External}`).join(', ');

const since = (usec?: number) => (usec ? ` since ${new Date(usec / 1000).toISOString()}` : '');

function unitLine(u: UnitState): string {
  const enabled = u.UnitFileState ? `; ${u.UnitFileState}` : '';
  return `   Loaded: ${u.LoadState}${enabled}\n   Active: ${u.ActiveState} (${u.SubState})${u.ActiveState === 'active' ? since(u.ActiveEnterTimestamp) : ''}\n`;
}

export function statusText(s: ContainerStatus): string {
  const u = s.Unit;
  let text = `● ${u.Id} - ${u.Description ?? ''}\n${unitLine(u)}`;
  if (u.MainPID) text += ` Main PID: ${u.MainPID}\n`;
  if (u.NRestarts) text += ` Restarts: ${u.NRestarts}\n`;
  if (s.Backoff) text += backoffLine(s.Backoff);
  text += s.Container
    ? `Container: ${s.Container.Id.slice(0, 12)} ${s.Container.Status}${s.Container.Pid ? `, pid ${s.Container.Pid}` : ''}\n`
    : 'Container: none\n';
  text += `    Image: ${s.Image}\n`;
  if (s.HealthCheck) text += healthLine(s);
  if (s.Ports.length) text += `    Ports: ${portsText(s.Ports)}\n`;
  if (s.Socket) text += socketLine(s.Socket);
  if (s.Volumes?.length) text += `  Volumes: ${s.Volumes.map((v) => (v.Name ? `${v.Name} on ${v.Path}` : `anonymous on ${v.Path} (named at its next start)`)).join('\n           ')}\n`;
  if (s.NetworkLinks?.length) text += `    Links: ${s.NetworkLinks.map(formatLink).join('\n           ')}\n`;
  text += limitsLine(s);
  if (s.Isolation) text += ` Isolated: runs ${isolationText(s.Isolation)}, ${selinuxText(s.Isolation, s.SELinux)}\n`;
  return text;
}

/** "   Limits: memory=256M cpus=0.5 pids=200 in gear-small.slice", when it has limits or a slice of its own. */
function limitsLine(s: ContainerStatus): string {
  const limits = limitsText(s.Limits);
  const slice = s.Slice && s.Slice !== DEFAULT_SLICE ? s.Slice : '';
  if (!limits && !slice) return '';
  return `   Limits: ${limits || 'none'}${slice ? ` in ${slice}` : ''}\n`;
}

export function journalLine(e: JournalEntry): string {
  const time = new Date(e.time / 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  return `${time} ${e.identifier}${e.pid ? `[${e.pid}]` : ''}: ${e.message}\n`;
}


/** "1 link", "3 links". */
export const linkCount = (n: number) => `${n} link${n === 1 ? '' : 's'}`;

/** What became of a container's links: in place now, or only stored until it starts. */
export const linkState = (applied: boolean) => (applied ? 'applied' : 'stored (applied when it starts)');

/** "   Health: healthy (every 5s: wget -qO- localhost:8080/)"; "none yet" while no container runs. */
function healthLine(s: ContainerStatus): string {
  const h = s.HealthCheck!;
  return `   Health: ${s.Container?.Health ?? 'no container'} (every ${h.Interval}, ${h.Retries} failures restart: ${h.Cmd})\n`;
}

/** " Backoff: backing off, next try in 8 s (4 failures in a row)", or the failures alone while a run is on. */
function backoffLine(b: { Failures: number; NextTryInS: number }): string {
  const failures = `${b.Failures} failure${b.Failures === 1 ? '' : 's'} in a row`;
  return b.NextTryInS > 0 ? `  Backoff: backing off, next try in ${b.NextTryInS} s (${failures})\n` : `  Backoff: ${failures}\n`;
}

const SOCKET_WORDS = {
  idle: 'idle: the next connection starts the container',
  waking: 'waking: its container is starting (connections wait; while it cannot start they are closed)',
  awake: 'awake: connections go to its container',
  stopped: 'stopped: connections are refused and wake nothing',
  failed: 'failed',
} as const;

/** "   Socket: ctr-web.socket on port 4100, idle: the next connection starts the container (idles after 10m; proxied to 127.0.0.1:4101)". */
function socketLine(k: NonNullable<ContainerStatus['Socket']>): string {
  const idle = k.IdleAfter ? `idles after ${k.IdleAfter}` : 'never idles';
  const first = `   Socket: ${k.Unit.Id} on port ${k.Port}, ${SOCKET_WORDS[k.State]} (${idle}; proxied to 127.0.0.1:${k.PrivatePort})\n`;
  // Several ports: one more line for each further port's socket, with its own state.
  const more = (k.Sockets ?? []).slice(1).map((s) => `           ${s.Unit} on port ${s.Port}, ${s.ActiveState === 'active' ? 'listening' : s.ActiveState} (its port ${s.Internal}; proxied to 127.0.0.1:${s.PrivatePort})\n`);
  return first + more.join('');
}
