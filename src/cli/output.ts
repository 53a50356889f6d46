import type { PullProgress } from '../host/docker.js';
import type { JournalEntry } from '../host/journal.js';
import type { UnitState } from '../host/systemd.js';
import type { ContainerStatus } from '../operations/status.js';
import type { PortPair } from '../model/ports.js';

/** Plain text tables with aligned columns, as `systemctl list-units` prints them. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

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
  text += s.Container
    ? `Container: ${s.Container.Id.slice(0, 12)} ${s.Container.Status}${s.Container.Pid ? `, pid ${s.Container.Pid}` : ''}\n`
    : 'Container: none\n';
  text += `    Image: ${s.Image}\n`;
  if (s.Ports.length) text += `    Ports: ${portsText(s.Ports)}\n`;
  return text;
}

export function journalLine(e: JournalEntry): string {
  const time = new Date(e.time / 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  return `${time} ${e.identifier}${e.pid ? `[${e.pid}]` : ''}: ${e.message}\n`;
}

/**
 * Pull progress: on a terminal one line redrawn in place with a bar, else
 * a plain line per layer state change (logs and pipes stay readable).
 */
export function pullReporter(stream: NodeJS.WriteStream): (ref: string, p: PullProgress) => void {
  const layers = new Map<string, { current: number; total: number }>();
  const lastStatus = new Map<string, string>();
  return (ref, p) => {
    const key = p.id ?? '';
    if (!stream.isTTY) {
      if (lastStatus.get(key) !== p.status) stream.write(`${ref}: ${p.id ? `${p.id}: ` : ''}${p.status}\n`);
      lastStatus.set(key, p.status);
      return;
    }
    if (p.id && p.total) layers.set(p.id, { current: p.current ?? 0, total: p.total });
    const current = [...layers.values()].reduce((a, l) => a + l.current, 0);
    const total = [...layers.values()].reduce((a, l) => a + l.total, 0);
    const fraction = total ? current / total : 0;
    const width = 30;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    stream.write(`\r${ref} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${p.status.slice(0, 30).padEnd(30)}`);
    if (p.status.startsWith('Status:')) stream.write('\n');
  };
}
