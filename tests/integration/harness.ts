/**
 * Drives the real gear CLI inside a booted test host (tests/host/testhost)
 * and reads the host's state through independent channels: systemctl,
 * docker, the files on disk, HTTP to the host's address.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequestRaw } from 'node:https';
import { tmpdir } from 'node:os';
import { checkServerIdentity as checkIdentity, type PeerCertificate } from 'node:tls';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as defaultSuite } from 'uvu';
import { execIn } from '../host/testhost.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TESTHOST = `${REPO}/tests/host/testhost`;
export const GEAR = `${REPO}/bin/gear`;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run argv inside the host; never throws on a non-zero exit (a timeout gives code -1). */
export async function run(host: string, argv: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Result> {
  const envArgs = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const cmd = envArgs.length ? ['env', ...envArgs, ...argv] : argv;
  try {
    return await execIn(host, cmd, { input: opts.input, timeoutMs: opts.timeoutMs ?? 120_000 });
  } catch (err) {
    const timedOut = err as Partial<Result>;
    if (typeof timedOut.stdout !== 'string') throw err;
    return { code: -1, stdout: timedOut.stdout, stderr: timedOut.stderr ?? '' };
  }
}

/** Run a shell script inside the host; throws with its stderr unless it exits 0. */
export async function sh(host: string, script: string): Promise<string> {
  const r = await run(host, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`in ${host}: ${script}\nexit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const gear = (host: string, args: string[], opts?: Parameters<typeof run>[2]) => run(host, [GEAR, ...args], opts);

/** Run tests/host/testhost (up, reboot, down ...); throws with its output unless it exits 0. */
export function testhost(args: string[]): string {
  const out = spawnSync(TESTHOST, args, { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`testhost ${args.join(' ')}: exit ${out.status}: ${out.stderr}`);
  return out.stdout;
}

/** The host's address on the test bridge, from `testhost env`. */
export function hostIp(host: string): string {
  const m = /TESTHOST_IP=['"]?([0-9.]+)/.exec(testhost(['env', host]));
  if (!m) throw new Error(`no IP for test host ${host}`);
  return m[1]!;
}

/** GET a URL from the machine (outside the host), as a client on the network would. */
export async function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Poll until check() returns a value (not undefined/false) or the wait runs out; returns the last value. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, waitMs = 20_000, stepMs = 200): Promise<T | undefined | false> {
  const end = Date.now() + waitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * `journalctl --no-pager ARGS` in the host, once its text matches `re` (else, when the wait runs out, the
 * last text, for the failure's message). journald reads a process's output from its stream socket in its
 * own time: a line written just before what a test waited for (a unit's start, the agent's answer, its
 * exit) may not be in the journal yet when the test reads it, the later the more loaded the machine.
 */
export async function journalMatching(host: string, args: string, re: RegExp, waitMs = 60_000): Promise<string> {
  let text = '';
  await eventually(async () => re.test((text = await sh(host, `journalctl --no-pager ${args}`))), waitMs, 200);
  return text;
}

/** The external port gear printed for an internal one: "web-1 installed (8080 -> 4000)". */
export function allocatedPort(stdout: string, internal = 8080): number {
  const m = new RegExp(`${internal} -> ([0-9]+)`).exec(stdout);
  if (!m) throw new Error(`no port mapping for ${internal} in: ${stdout}`);
  return Number(m[1]);
}

/** Files gear may write, listed with modes: compared before and after a refused command. */
export const stateListing = (host: string) =>
  sh(host, "find /etc/systemd/system /var/lib/gear -printf '%p %m\\n' 2>/dev/null | grep -v '/locks' | sort; true");

/**
 * uvu swallows an error thrown by a `before` or `after` hook (its runner
 * returns from a finally block): the file then shows 0 of N passed and no
 * reason. Every file's hooks are wrapped here so that the error is printed.
 */
type Hook = (context: Record<string, unknown>) => unknown;
for (const kind of ['before', 'after'] as const) {
  const register = defaultSuite[kind] as ((hook: Hook) => void) & { each: unknown };
  const reporting = (hook: Hook) =>
    register(async (context) => {
      try {
        await hook(context);
      } catch (err) {
        console.error(`\n   FAIL  the file's ${kind} hook:\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        throw err;
      }
    });
  defaultSuite[kind] = Object.assign(reporting, { each: register.each }) as typeof defaultSuite.before;
}

/**
 * GEAR_TEST_TIMES=1 prints each test's duration after it (to find where a
 * file's minutes go). The hooks go on uvu's default suite, the one every
 * file's `test` is.
 */
if (process.env.GEAR_TEST_TIMES) {
  let startedAt = 0;
  defaultSuite.before.each(() => {
    startedAt = Date.now();
  });
  defaultSuite.after.each((context) => {
    console.log(`  time: ${((Date.now() - startedAt) / 1000).toFixed(1)} s  ${(context as { __test__?: string }).__test__ ?? ''}`);
  });
}

export const TEST_HOST = process.env.GEAR_TEST_HOST ?? 'gear-a';

/**
 * Run `gear daemon ARGS` in the host as a transient systemd unit
 * (gear-agent.service) with `env` added to its environment (the agent's
 * configuration, e.g. GEAR_MAX_CONTAINERS), and wait until it answers on
 * its unix socket.
 */
export async function startAgent(host: string, args: string[] = [], env: Record<string, string> = {}): Promise<void> {
  await sh(host, 'systemctl stop gear-agent 2>/dev/null; systemctl reset-failed gear-agent 2>/dev/null; true');
  const setenv = Object.entries(env).map(([k, v]) => `-E '${k}=${v}' `).join('');
  await sh(host, `systemd-run --unit=gear-agent --collect -p Restart=no ${setenv}${GEAR} daemon ${args.map((a) => `'${a}'`).join(' ')} >/dev/null`);
  // Seconds on a quiet machine; 24 s was seen at load 60+, so a wide window (it returns as soon as the agent answers).
  const up = await eventually(async () => (await run(host, ['curl', '-sf', '--unix-socket', '/run/gear/gear.sock', 'http://agent/health'])).code === 0, 60_000, 100);
  if (!up) throw new Error(`agent in ${host} did not come up: ${await sh(host, 'journalctl -u gear-agent --no-pager | tail -20')}`);
}

export const stopAgent = (host: string) => sh(host, 'systemctl stop gear-agent 2>/dev/null; true');

/** curl inside the host; returns status, headers (lower-cased names) and body. */
export async function curl(host: string, args: string[]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const r = await run(host, ['curl', '-sS', '-i', ...args]);
  // No answer at all (nothing listening, a reset): curl's own error is the body, so that an assertion on the status says why.
  if (r.stdout === '') return { status: NaN, headers: {}, body: `curl exited ${r.code}: ${r.stderr.trim()}` };
  const text = r.stdout.replace(/\r\n/g, '\n');
  // Skip interim 100 Continue blocks.
  const blocks = text.split('\n\n');
  let i = 0;
  while (/^HTTP\/1\.1 100/.test(blocks[i] ?? '')) i++;
  const [head = '', ...rest] = blocks.slice(i);
  const [statusLine = '', ...headerLines] = head.split('\n');
  const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\n\n') };
}

/**
 * A self-signed certificate (and its key) for the given IP addresses, made
 * with openssl in `dir`: it is its own CA.
 */
export function makeCertificate(dir: string, ips: string[], name = 'agent'): { cert: string; certPem: string; keyPem: string; fingerprint: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=gear-test-${name}`, '-addext', `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const fp = spawnSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  const fingerprint = `sha256:${/=([0-9A-F:]+)/.exec(fp.stdout)![1]!.replace(/:/g, '').toLowerCase()}`;
  return { cert, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8'), fingerprint };
}

/** Write a file in a host (mode 0600). */
export async function putFile(host: string, path: string, text: string): Promise<void> {
  const r = await run(host, ['sh', '-c', `umask 077; cat > '${path}'`], { input: text });
  if (r.code !== 0) throw new Error(`writing ${path} in ${host}: ${r.stderr}`);
}

/** An HTTPS request from the machine, trusting `ca`. */
export function httpsRequest(url: string, opts: { ca?: string; headers?: Record<string, string>; method?: string; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolveReq, reject) => {
    // The certificate is checked against the URL's host, also when the request names another in its Host header.
    const checkServerIdentity = (_: string, cert: PeerCertificate) => checkIdentity(new URL(url).hostname, cert);
    const req = httpsRequestRaw(url, { ca: opts.ca, headers: opts.headers, method: opts.method ?? 'GET', timeout: 5000, checkServerIdentity }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Where remoteAgents puts the agents' TLS certificate and key in each host. */
const AGENT_TLS_ARGS = ['--tls-cert', '/root/gear-cert.pem', '--tls-key', '/root/gear-key.pem'];

/**
 * Agents listening on the test hosts' network addresses with a token, over
 * TLS (a certificate made here for the hosts' addresses), and the CLI on the
 * machine as their remote client trusting it (--ca through GEAR_CA; working
 * directory `dir`, where descriptors and resolved deployments go).
 */
export function remoteAgents(hosts: string[], token = 'test-token-0123456789abcdef') {
  const dir = mkdtempSync(join(tmpdir(), 'gear-remote-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const tls = makeCertificate(dir, hosts.map(hostIp));
  const agentArgs = ['--listen', '0.0.0.0:43273', '--token-file', '/root/gear.token', ...AGENT_TLS_ARGS];
  return {
    token,
    dir,
    ca: tls.cert,
    /** Arguments of `gear daemon` for such an agent. */
    agentArgs,
    /**
     * The gear CLI on the machine, sending the token, over TLS. Killed after timeoutMs (code -1, said on
     * stderr): a CLI waiting forever would hold its lane until CI's own limit, with nothing reported.
     */
    cli(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000): Promise<Result> {
      return new Promise((resolveCli) => {
        const child = spawn(GEAR, args, { cwd: dir, env: { ...process.env, GEAR_TOKEN_FILE: tokenFile, GEAR_CA: tls.cert, ...env } });
        let stdout = '';
        let stderr = '';
        let killed = false;
        const timer = setTimeout(() => ((killed = true), child.kill('SIGKILL')), timeoutMs);
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('close', (code) => {
          clearTimeout(timer);
          resolveCli({ code: killed ? -1 : (code ?? -1), stdout, stderr: killed ? `${stderr}(test harness: gear ${args.join(' ')} killed after ${timeoutMs / 1000} s without ending)\n` : stderr });
        });
      });
    },
    async start(): Promise<void> {
      for (const h of hosts) {
        await putFile(h, '/root/gear.token', `${token}\n`);
        await putFile(h, '/root/gear-cert.pem', tls.certPem);
        await putFile(h, '/root/gear-key.pem', tls.keyPem);
        await startAgent(h, agentArgs);
      }
    },
    async stop(): Promise<void> {
      for (const h of hosts) await stopAgent(h);
    },
  };
}
