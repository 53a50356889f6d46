import { spawn } from 'node:child_process';
import { failed } from '../model/errors.js';

/** What a finished process said: its exit code (-1 when killed) and its output. */
export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

/** iptables, sysctl and nsenter live in sbin, which a user's PATH may lack. */
export function pathWithSbin(path = ''): string {
  const dirs = path.split(':').filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

/**
 * Run a host command with `input` on its stdin, and gather its output. It
 * is killed after `timeoutMs`. A command that cannot be run at all is an
 * error; any exit, however bad, is an answer for the caller to judge.
 */
export function runCaptured(argv: string[], opts: { input?: string; timeoutMs: number }): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH: pathWithSbin(process.env.PATH) } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(failed(`cannot run ${argv[0]}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // a process that died early: its exit code tells
    child.stdin.end(opts.input ?? '');
  });
}
