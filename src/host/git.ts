import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { failed } from '../model/errors.js';
import { pathWithSbin } from './exec.js';

/**
 * git run for a repository: as its own host user (uid/gid), with no
 * system or global configuration read (a host's /etc/gitconfig or root's
 * ~/.gitconfig cannot change what it does) and only the http, https and
 * git transports allowed (no file://, ssh or ext:: when it fetches).
 */
export interface GitUser {
  uid: number;
  gid: number;
}

const env = () => ({
  PATH: pathWithSbin(process.env.PATH),
  HOME: '/nonexistent',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_PROTOCOL_FROM_USER: '0',
  LC_ALL: 'C',
});
const PROTOCOLS = ['-c', 'protocol.allow=never', '-c', 'protocol.http.allow=always', '-c', 'protocol.https.allow=always', '-c', 'protocol.git.allow=always'];

/** git's first "fatal:" or "error:" line, else its last line (hints skipped). */
function firstError(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('hint:'));
  return lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.at(-1);
}

/** Run git to its end; its first stderr line is the error. */
export function git(args: string[], opts: { cwd?: string; user?: GitUser; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...PROTOCOLS, ...args], { cwd: opts.cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'], ...(opts.user ?? {}) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(failed(`cannot run git: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(failed(`git ${args.find((a) => !a.startsWith('-')) ?? ''}: ${firstError(err) ?? `exit ${code}`}`));
    });
  });
}

/**
 * `git archive --format=tar REF` of a bare repository as a stream; the
 * stream fails (an error event) when git exits non-zero, with its message.
 * `signal` kills it.
 */
export function gitArchive(gitDir: string, ref: string, opts: { user?: GitUser; signal?: AbortSignal }): Readable {
  const child = spawn('git', ['archive', '--format=tar', ref, '--'], { cwd: gitDir, env: env(), stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal, ...(opts.user ?? {}) });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d).length > 4096 && (err = err.slice(-4096)));
  const out = child.stdout;
  child.on('error', (e) => out.destroy(failed(`git archive: ${e.message}`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(failed(`git archive ${ref}: ${firstError(err) ?? `exit ${code}`}`));
  });
  return out;
}
