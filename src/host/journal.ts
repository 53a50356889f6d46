import { spawn } from 'node:child_process';
import { runCaptured } from './exec.js';
import { createInterface } from 'node:readline';

export interface JournalEntry {
  /** Microseconds since the epoch. */
  time: number;
  identifier: string;
  pid?: string;
  message: string;
  /** journald's cursor of this entry: where a reader resumes after it (JournalQuery.after). */
  cursor?: string;
}

export interface JournalQuery {
  unit: string;
  /** Last N entries (default: all). */
  lines?: number;
  follow?: boolean;
  /** Only the entries after this cursor (checked by the caller: JOURNAL_CURSOR); `lines` is not used with it. */
  after?: string;
  signal?: AbortSignal;
}

export interface Journal {
  entries(query: JournalQuery): AsyncIterable<JournalEntry>;
  /** The cursor of the journal's last entry, any unit's (undefined when it is empty): a resume point before what comes next. */
  tail(): Promise<string | undefined>;
}

/**
 * A journald cursor as journalctl prints it (sd_journal_get_cursor:
 * s=SEQNUM_ID;i=SEQNUM;b=BOOT_ID;m=MONOTONIC;t=REALTIME;x=XOR_HASH, all
 * lowercase hex). One comes back from a client to reach journalctl's
 * command line: nothing but this exact shape is taken.
 */
export const JOURNAL_CURSOR = /^s=[0-9a-f]{32};i=[0-9a-f]{1,16};b=[0-9a-f]{32};m=[0-9a-f]{1,16};t=[0-9a-f]{1,16};x=[0-9a-f]{1,16}$/;

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
    // Checked again here, the last step before a command line; one argument (--after-cursor=…), never an option of its own.
    if (query.after !== undefined) {
      if (!JOURNAL_CURSOR.test(query.after)) throw new Error('not a journal cursor');
      args.push(`--after-cursor=${query.after}`);
    } else if (query.lines !== undefined) args.push(`--lines=${query.lines}`);
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
          cursor: typeof e.__CURSOR === 'string' ? e.__CURSOR : undefined,
        };
      }
      const code = await exited;
      if (code !== 0 && !query.signal?.aborted) throw new Error(`journalctl failed (${code}): ${stderr.trim()}`);
    } finally {
      query.signal?.removeEventListener('abort', stop);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
  }

  async tail(): Promise<string | undefined> {
    const args = ['--no-pager', '--quiet', '--show-cursor', '--lines=0'];
    if (this.root !== '/') args.push(`--root=${this.root}`);
    // An empty journal (or none) has no cursor: journalctl says so and exits non-zero.
    const { code, stdout } = await runCaptured(['journalctl', ...args], { timeoutMs: 15_000 });
    if (code !== 0) return undefined;
    const cursor = /^-- cursor: (\S+)$/m.exec(stdout)?.[1];
    return cursor !== undefined && JOURNAL_CURSOR.test(cursor) ? cursor : undefined;
  }
}
