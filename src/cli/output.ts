import type { PullProgress } from '../host/docker.js';
import { pullLine } from '../operations/text.js';

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
      if (lastStatus.get(key) !== p.status) stream.write(pullLine(ref, p));
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
