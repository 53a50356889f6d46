import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface JournalEntry {
  /** Microseconds since the epoch. */
  time: number;
  identifier: string;
  pid?: string;
  message: string;
}

export interface JournalQuery {
  unit: string;
  /** Last N entries (default: all). */
  lines?: number;
  follow?: boolean;
  signal?: AbortSignal;
}

export interface Journal {
  entries(query: JournalQuery): AsyncIterable<JournalEntry>;
}

/** MESSAGE is a byte array in journal JSON when it is not valid UTF-8. */
function messageText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return Buffer.from(value as number[]).toString('utf8');
  return '';
}

/**
 * The host's journal through `journalctl -o json`, the stable export format.
 * With a host root other than "/" it reads the journal files under that root.
 */
export class JournalctlJournal implements Journal {
  constructor(private readonly root: string) {}

  async *entries(query: JournalQuery): AsyncIterable<JournalEntry> {
    if (query.signal?.aborted) return;
    const args = ['--no-pager', '-o', 'json', `--unit=${query.unit}`];
    if (this.root !== '/') args.push(`--root=${this.root}`);
    if (query.lines !== undefined) args.push(`--lines=${query.lines}`);
    if (query.follow) args.push('--follow');
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = () => child.kill('SIGTERM');
    query.signal?.addEventListener('abort', stop, { once: true });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 0));
    });
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        if (!line) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        yield {
          time: Number(e.__REALTIME_TIMESTAMP ?? 0),
          identifier: String(e.SYSLOG_IDENTIFIER ?? e._COMM ?? ''),
          pid: e._PID === undefined ? undefined : String(e._PID),
          message: messageText(e.MESSAGE),
        };
      }
      const code = await exited;
      if (code !== 0 && !query.signal?.aborted) throw new Error(`journalctl failed (${code}): ${stderr.trim()}`);
    } finally {
      query.signal?.removeEventListener('abort', stop);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
  }
}
