/**
 * The seed system's (geard's) integration scenarios, ported to gear on a
 * test host and driven with gear's CLI in the seed's syntax: `--ports=`,
 * comma lists, NAME=VALUE after the names, `local/NAME`, `-n=VALUE`,
 * `list-units -q`, `stop -n`, `clean --dry-run`. What is checked is what a
 * user sees: systemd's and Docker's state, files on the host, HTTP traffic.
 * (The env-id scenario belongs to the shared-environment work.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, allocatedPort, eventually, gear, hostIp, httpGet, run, sh, stateListing } from './harness.js';

const ip = hostIp(H);
const LONGEST = `seed-${'x'.repeat(64 - 'seed-'.length)}`;
const FIXED_PORT = 4610;

const active = async (name: string) => (await run(H, ['systemctl', 'is-active', `ctr-${name}`])).stdout.trim();
const dockerPid = async (name: string) => (await sh(H, `docker inspect -f '{{.State.Pid}}' ctr-${name}`)).trim();
const hasContainer = async (name: string) => (await run(H, ['docker', 'inspect', `ctr-${name}`])).code === 0;

/** The container's environment, as its processes see it. */
async function containerEnv(name: string): Promise<Map<string, string>> {
  const out = await sh(H, `docker exec ctr-${name} env`);
  return new Map(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** GET a URL from inside a container (busybox wget under timeout(1)); undefined when it fails. */
async function inside(name: string, url: string): Promise<string | undefined> {
  const r = await run(H, ['docker', 'exec', `ctr-${name}`, 'timeout', '5', 'wget', '-qO-', url]);
  return r.code === 0 ? r.stdout : undefined;
}

/** Refused: exit 1 and one line on stderr. */
function assertRefused(r: { code: number; stderr: string }, message: RegExp): void {
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, message);
}

test('install without --start: the unit is inactive, no container runs, nothing listens on its port', async () => {
  const r = await gear(H, ['install', 'test/web', 'local/seed-idle', '--ports=8080:0']);
  assert.is(r.code, 0, r.stderr);
  const port = allocatedPort(r.stdout);
  assert.is(await active('seed-idle'), 'inactive');
  assert.is(await hasContainer('seed-idle'), false, 'no Docker container');
  assert.is(await httpGet(`http://${ip}:${port}/`), undefined, `nothing answers on ${port}`);
  assert.not.match(await sh(H, 'cat /proc/net/tcp /proc/net/tcp6'), new RegExp(`:${port.toString(16).toUpperCase().padStart(4, '0')} [0-9A-F:]+ 0A `), 'nothing listens');
  // Listed only with -a (installed, not loaded); -q prints the bare name here.
  assert.ok((await gear(H, ['list-units', '-a', '-q'])).stdout.split('\n').includes('seed-idle'));
  assert.not.ok((await gear(H, ['list-units', '-q'])).stdout.split('\n').includes('seed-idle'));
});

test('status text, systemctl-status-like: inactive after install, active after start, inactive after stop', async () => {
  const before = await gear(H, ['status', 'local/seed-idle']);
  assert.is(before.code, 0, before.stderr);
  assert.match(before.stdout, /^● ctr-seed-idle\.service - /);
  assert.match(before.stdout, /^ {3}Active: inactive \(dead\)$/m);
  assert.match(before.stdout, /^Container: none$/m);
  assert.is((await gear(H, ['start', 'seed-idle'])).code, 0);
  const running = await gear(H, ['status', 'seed-idle']);
  assert.match(running.stdout, /^ {3}Loaded: loaded; enabled$/m);
  assert.match(running.stdout, /^ {3}Active: active \(running\) since /m);
  assert.match(running.stdout, new RegExp(`^ Main PID: ${(await sh(H, 'systemctl show -p MainPID --value ctr-seed-idle')).trim()}$`, 'm'));
  assert.is((await gear(H, ['stop', 'seed-idle'])).code, 0);
  const stopped = await gear(H, ['status', 'seed-idle']);
  assert.match(stopped.stdout, /^ {3}Active: inactive \(dead\)$/m);
  assert.match(stopped.stdout, /^ {3}Loaded: loaded; disabled$/m);
});

test('start and stop: the container answers while started, and is gone once stopped; stop -n returns before it is stopped', async () => {
  const r = await gear(H, ['install', 'test/web', 'seed-ss', '--ports=8080:0']);
  assert.is(r.code, 0, r.stderr);
  const port = allocatedPort(r.stdout);
  assert.is((await gear(H, ['start', 'local/seed-ss'])).code, 0);
  assert.is(await active('seed-ss'), 'active');
  const res = await eventually(() => httpGet(`http://${ip}:${port}/`));
  assert.ok(res && /hello from test\/web/.test(res.body), 'answers over HTTP');
  const stop = await gear(H, ['stop', 'local/seed-ss']);
  assert.is(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /^seed-ss stopped \(inactive\/dead\)$/m);
  assert.is(await hasContainer('seed-ss'), false, 'the container is removed');
  assert.is(await httpGet(`http://${ip}:${port}/`), undefined);
  // The seed's stop -n (--no-wait): the stop is queued, and happens.
  assert.is((await gear(H, ['start', 'seed-ss'])).code, 0);
  const noWait = await gear(H, ['stop', '-n', 'seed-ss']);
  assert.is(noWait.code, 0, noWait.stderr);
  assert.match(noWait.stdout, /^seed-ss stopping \(/m);
  assert.is(await eventually(async () => (await active('seed-ss')) === 'inactive', 120_000), true);
});

test('restart gives the container a new main process', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'seed-rs', '--start', '--ports=8080:0'])).code, 0);
  const before = await dockerPid('seed-rs');
  const r = await gear(H, ['restart', 'local/seed-rs']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await active('seed-rs'), 'active');
  const after = await dockerPid('seed-rs');
  assert.ok(Number(after) > 0 && after !== before, `pid ${before} -> ${after}`);
});

test('volumes: -v with a comma list: a read-only and a read-write bind mount, and a named volume kept across restart', async () => {
  await sh(H, 'rm -rf /srv/seed-ro /srv/seed-rw; mkdir -p /srv/seed-ro /srv/seed-rw; echo from-host > /srv/seed-ro/file.txt');
  const r = await gear(H, ['install', 'test/web', 'seed-vol', '--start', '-v', '/srv/seed-ro:/ro:ro,/srv/seed-rw:/rw:rw,/data']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'docker exec ctr-seed-vol cat /ro/file.txt')).trim(), 'from-host');
  assert.match(await sh(H, 'docker exec ctr-seed-vol sh -c "echo x > /ro/new" 2>&1; true'), /Read-only file system/);
  assert.is((await run(H, ['test', '-e', '/srv/seed-ro/new'])).code, 1, 'nothing written through the read-only mount');
  await sh(H, 'docker exec ctr-seed-vol sh -c "echo written-inside > /rw/out.txt"');
  assert.is((await sh(H, 'cat /srv/seed-rw/out.txt')).trim(), 'written-inside', 'the read-write mount reaches the host');
  await sh(H, 'docker exec ctr-seed-vol sh -c "echo kept > /data/keep.txt"');
  const volume = (await sh(H, "docker volume ls -q --filter label=io.gear.container=seed-vol --filter label=io.gear.path=/data")).trim();
  assert.match(volume, /^gear\.seed-vol\.data\.[0-9a-f]{8}$/);
  assert.is((await gear(H, ['restart', 'seed-vol'])).code, 0);
  assert.is((await sh(H, 'docker exec ctr-seed-vol cat /data/keep.txt')).trim(), 'kept', 'the named volume keeps its data across restart');
  assert.is((await gear(H, ['stop', 'seed-vol'])).code, 0);
  assert.is((await gear(H, ['start', 'seed-vol'])).code, 0);
  assert.is((await sh(H, 'docker exec ctr-seed-vol cat /data/keep.txt')).trim(), 'kept', 'and across stop and start');
});

test('environment: --env-file of plain NAME=VALUE lines, and NAME=VALUE arguments after the name (which win)', async () => {
  await sh(H, `printf '%s\\n' 'FROM_FILE=file value' 'SHARED=from file' 'URL=http://x/?a=b' > /root/seed.env`);
  const r = await gear(H, ['install', 'test/web', 'local/seed-env', 'SHARED=from args', '--start', '--env-file', '/root/seed.env', 'GREETING=hello world', `QUOTED="q" it's $HOME`]);
  assert.is(r.code, 0, r.stderr);
  const env = await containerEnv('seed-env');
  assert.is(env.get('FROM_FILE'), 'file value');
  assert.is(env.get('URL'), 'http://x/?a=b');
  assert.is(env.get('SHARED'), 'from args');
  assert.is(env.get('GREETING'), 'hello world');
  assert.is(env.get('QUOTED'), `"q" it's $HOME`);
  assert.is((await sh(H, "stat -c '%a' /var/lib/gear/env/seed-env.env")).trim(), '600');
  // An argument that is not a valid assignment refuses the whole install.
  assertRefused(await gear(H, ['install', 'test/web', 'seed-env-bad', 'BAD NAME=x']), /environment variable name "BAD NAME" is not valid/);
  assert.is(await active('seed-env-bad'), 'inactive');
  assert.is((await run(H, ['test', '-e', '/etc/systemd/system/ctr-seed-env-bad.service'])).code, 1);
});

test('the same external port is refused for a second container, which is not installed', async () => {
  const first = await gear(H, ['install', 'test/web', 'seed-p1', '--start', `--ports=8080:${FIXED_PORT}`, 'GREETING=from-p1']);
  assert.is(first.code, 0, first.stderr);
  assert.ok(await eventually(() => httpGet(`http://${ip}:${FIXED_PORT}/`)), 'the first answers on the fixed port');
  const before = await stateListing(H);
  const second = await gear(H, ['install', 'test/web', 'seed-p2', `--ports=8080:0,9090:${FIXED_PORT}`]);
  assertRefused(second, new RegExp(`port ${FIXED_PORT} is already reserved by container seed-p1`));
  assert.is(await stateListing(H), before, 'nothing changed on the host');
  assert.not.ok((await gear(H, ['list-units', '-a', '-q'])).stdout.split('\n').includes('seed-p2'));
});

test("the longest name gear allows (64 characters) installs, runs and is listed; one more is refused", async () => {
  const r = await gear(H, ['install', 'test/web', `local/${LONGEST}`, '--start', '-p', '8080:0', '-v', '/data']);
  assert.is(r.code, 0, r.stderr);
  const port = allocatedPort(r.stdout);
  assert.is(await active(LONGEST), 'active');
  assert.ok(await eventually(() => httpGet(`http://${ip}:${port}/`)), 'answers over HTTP');
  assert.ok((await gear(H, ['list-units', '-q'])).stdout.split('\n').includes(LONGEST));
  assert.match((await gear(H, ['status', LONGEST])).stdout, /Active: active \(running\)/);
  assertRefused(await gear(H, ['install', 'test/web', `${LONGEST}x`]), /is 65 characters long; the limit is 64/);
  assert.is((await gear(H, ['delete', LONGEST])).code, 0);
});

test('a link set on a stopped container is stored, and applied when it starts: traffic reaches the target', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'seed-lk'])).code, 0);
  const link = await gear(H, ['link', `-n=127.0.0.2:8081:${ip}:${FIXED_PORT}`, 'local/seed-lk']);
  assert.is(link.code, 0, link.stderr);
  assert.match(link.stdout, /^seed-lk: 1 link stored \(applied when it starts\)/m);
  assert.is((await gear(H, ['start', 'seed-lk'])).code, 0);
  const body = await eventually(() => inside('seed-lk', 'http://127.0.0.2:8081/cgi-bin/env'));
  assert.match(body || '', /^GREETING=from-p1$/m, 'the link leads to seed-p1');
});

test('clean --dry-run lists what an interrupted install left and removes nothing; clean then removes it', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'seed-crash', '--ports=8080:0'])).code, 0);
  // As if the install was killed just before its commit point (the definition).
  await sh(H, 'rm /var/lib/gear/containers/seed-crash.json');
  const before = await stateListing(H);
  const dry = await gear(H, ['clean', '--dry-run']);
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would remove \/etc\/systemd\/system\/ctr-seed-crash\.service$/m);
  assert.match(dry.stdout, /^would remove port \d+ \(reserved by seed-crash\)$/m);
  // The seed's `clean --repair --dry-run`: the same leftovers, as repair's findings.
  const repair = await gear(H, ['clean', '--dry-run', '--repair']);
  assert.is(repair.code, 0, repair.stderr);
  assert.match(repair.stdout, /^would fix: unit file \/etc\/systemd\/system\/ctr-seed-crash\.service has no definition \(no installed container\): stop the unit and remove the file$/m);
  assert.match(repair.stdout, /^would fix: port \d+ is reserved by seed-crash, which is not installed: release the reservation$/m);
  assert.is(await stateListing(H), before, 'nothing removed');
  const real = await gear(H, ['clean', 'local']);
  assert.is(real.code, 0, real.stderr);
  assert.match(real.stdout, /^removed \/etc\/systemd\/system\/ctr-seed-crash\.service$/m);
  assert.is((await run(H, ['test', '-e', '/etc/systemd/system/ctr-seed-crash.service'])).code, 1);
});

test('gear version prints what gear --version prints', async () => {
  const a = await gear(H, ['version']);
  const b = await gear(H, ['--version']);
  assert.is(a.code, 0);
  assert.ok(a.stdout.trim().length > 0);
  assert.is(a.stdout, b.stdout);
});

test('delete every container of these scenarios', async () => {
  const names = ['seed-idle', 'seed-ss', 'seed-rs', 'seed-vol', 'seed-env', 'seed-p1', 'seed-lk'];
  const r = await gear(H, ['delete', ...names.map((n) => `local/${n}`)]);
  assert.is(r.code, 0, r.stderr);
  const left = (await gear(H, ['list-units', '-a', '-q'])).stdout.split('\n');
  for (const n of names) assert.not.ok(left.includes(n), n);
  await sh(H, 'rm -rf /srv/seed-ro /srv/seed-rw /root/seed.env');
});

test.run();
