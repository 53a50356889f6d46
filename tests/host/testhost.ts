// Test hosts for gear's integration tests: a thin wrapper over the bash
// script tests/host/testhost (see tests/host/README.md). Each host is a real
// systemd with its own dbus, journald and dockerd in private namespaces;
// from the machine, `env` holds the addresses to reach them (DOCKER_HOST,
// DBUS_SYSTEM_BUS_ADDRESS, TESTHOST_ROOT = /proc/PID/root, TESTHOST_IP).
//
//   const a = await bootHost('a');
//   await a.sh('docker run -d --name web1 -p 8080:8080 test/web');
//   const { stdout } = await a.exec(['systemctl', 'is-active', 'docker']);
//   await a.down();            // or hostsDownAll() in a global teardown
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin (which is closed in any case). */
  input?: string;
  /** Kill the command (its whole process group) after this long and reject. */
  timeoutMs?: number;
}

export interface TestHost {
  name: string;
  /** PID of the host's systemd, as the machine sees it. */
  pid: number;
  /** 10.250.0.N, on the bridge gearbr0 (the machine is 10.250.0.1). */
  ip: string;
  /** /proc/PID/root: the host's files, from the machine. */
  root: string;
  /** The lines of `testhost env`: TESTHOST_*, DBUS_SYSTEM_BUS_ADDRESS, DOCKER_HOST. */
  env: Record<string, string>;
  /** Run argv inside the host (cwd /, PATH with Debian's docker client first). */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `sh -c script` inside the host; resolves to stdout, throws on non-zero exit. */
  sh(script: string, opts?: ExecOptions): Promise<string>;
  /** Shut the host down and remove it; kill: true skips the clean shutdown. */
  down(opts?: { kill?: boolean }): Promise<void>;
}

/** The bash script: $TESTHOST_SCRIPT, or tests/host/testhost found upwards from here. */
function scriptPath(): string {
  const fromEnv = process.env['TESTHOST_SCRIPT'];
  if (fromEnv) return fromEnv;
  // Walk up, so this also works when the file runs from a build directory.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const candidate of [join(dir, 'testhost'), join(dir, 'tests', 'host', 'testhost')]) {
      if (existsSync(candidate)) return candidate;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('testhost: cannot find tests/host/testhost (set TESTHOST_SCRIPT)');
    dir = up;
  }
}

/**
 * Kill a `testhost exec` (pid: its nsenter, or the script before it execs
 * nsenter) and what it runs. nsenter does not forward signals, so the
 * command inside is killed first: nsenter then reaps it and exits. Killed
 * the other way round, the command would stay a zombie in the host, parented
 * to the machine's init, which reaps slowly here. Then the whole process
 * group, for whatever is left.
 */
function killTree(pid: number): void {
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ')) {
      if (c.trim()) process.kill(Number(c), 'SIGKILL');
    }
  } catch {
    /* gone, or no children yet */
  }
  setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 200).unref();
}

/** Run the script with args. Its own process group, so a timeout kills all of it. */
function run(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(scriptPath(), args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killTree(child.pid!);
          }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the command ignores its input
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result: ExecResult = {
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (timedOut) {
        reject(
          Object.assign(new Error(`testhost ${args.join(' ')}: timed out after ${opts.timeoutMs} ms`), result),
        );
      } else {
        resolve(result);
      }
    });
  });
}

/** Run argv inside host `name` (`testhost exec`); on a timeout the command and its nsenter are killed in the right order. */
export const execIn = (name: string, argv: string[], opts?: ExecOptions) => run(['exec', name, '--', ...argv], opts);

/** Parse `export KEY=value` (or `KEY=value`) lines. */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m && m[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

function makeHost(env: Record<string, string>): TestHost {
  const need = (k: string): string => {
    const v = env[k];
    if (v === undefined) throw new Error(`testhost: no ${k} in the output of testhost up/env`);
    return v;
  };
  const name = need('TESTHOST_NAME');
  const host: TestHost = {
    name,
    pid: Number(need('TESTHOST_PID')),
    ip: need('TESTHOST_IP'),
    root: need('TESTHOST_ROOT'),
    env,
    exec: (cmd, opts) => execIn(name, cmd, opts),
    async sh(script, opts) {
      const r = await host.exec(['sh', '-c', script], opts);
      if (r.code !== 0) {
        throw Object.assign(new Error(`on ${name}: sh -c ${JSON.stringify(script)} exited ${r.code}: ${r.stderr.trim()}`), r);
      }
      return r.stdout;
    },
    async down(opts = {}) {
      const r = await run(['down', name, ...(opts.kill ? ['--kill'] : [])]);
      if (r.code !== 0) throw new Error(`testhost down ${name}: ${r.stderr.trim()}`);
    },
  };
  return host;
}

/**
 * Boot host `name` ([a-z0-9-]+) with IP 10.250.0.`index` (default: the next
 * free one from 2). Runs `testhost setup` first if needed (root only).
 * Takes about 1.5 s; the images test/web and test/crash are loaded.
 */
export async function bootHost(name: string, index?: number): Promise<TestHost> {
  const r = await run(['up', name, ...(index === undefined ? [] : [String(index)])], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`testhost up ${name} failed (${r.code}):\n${r.stderr.trim()}`);
  return makeHost(parseEnv(r.stdout));
}

/** A host that is already up (booted by another process, or `testhost up`). */
export async function attachHost(name: string): Promise<TestHost> {
  const r = await run(['env', name]);
  if (r.code !== 0) throw new Error(`testhost env ${name}: ${r.stderr.trim()}`);
  return makeHost(parseEnv(r.stdout));
}

/** Take every test host down, fast (no clean shutdown unless kill: false). */
export async function hostsDownAll(opts: { kill?: boolean } = {}): Promise<void> {
  const r = await run(['down', '--all', ...(opts.kill === false ? [] : ['--kill'])]);
  if (r.code !== 0) throw new Error(`testhost down --all: ${r.stderr.trim()}`);
}

/** The same, synchronously: for process 'exit' handlers. */
export function hostsDownAllSync(): void {
  spawnSync(scriptPath(), ['down', '--all', '--kill'], { stdio: 'inherit' });
}
