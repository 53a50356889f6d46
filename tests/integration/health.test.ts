import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, allocatedPort, eventually, gear, hostIp, httpGet, run, sh, stateListing } from './harness.js';

/**
 * Health checks, start ordering, restart backoff and safe updates on a real
 * host: systemd's start job, Docker's health state and the journal are what
 * is asserted, never how long anything took.
 */
const ip = hostIp(H);
const CHECK = 'wget -qO- localhost:8080/ >/dev/null';
// Checks every second, unhealthy after 2 failures: short, so the file stays quick. A check may
// take long on a loaded machine (a timeout is a failure), and so may the server's start.
const FAST = ['--health-interval', '1s', '--health-retries', '2', '--health-timeout', '20s'];
const SLOW_START = ['--health-start-period', '30s'];

/** The journal of a unit (or of everything with `-t`), as [microseconds, message] pairs. */
async function journal(args: string[]): Promise<{ at: number; msg: string }[]> {
  const out = await sh(H, `journalctl ${args.join(' ')} -o json --no-pager`);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { __REALTIME_TIMESTAMP: string; MESSAGE: string | number[] })
    .map((e) => ({ at: Number(e.__REALTIME_TIMESTAMP), msg: typeof e.MESSAGE === 'string' ? e.MESSAGE : Buffer.from(e.MESSAGE).toString() }));
}

/**
 * The journal once a line matches re. journald reads a unit's output stream in its own time: a line an
 * ExecStartPost or the health watcher wrote just before what the test waited for (a start job's end, a restart)
 * may not be in the journal yet, the later the more loaded the machine.
 */
async function journalWith(args: string[], re: RegExp): Promise<{ at: number; msg: string }[]> {
  let lines: { at: number; msg: string }[] = [];
  await eventually(async () => (lines = await journal(args)).some((l) => re.test(l.msg)), 60_000, 300);
  return lines;
}

const show = async (unit: string, prop: string) => (await sh(H, `systemctl show -p ${prop} --value ${unit}`)).trim();
const dockerHealth = async (ctr: string) => (await run(H, ['docker', 'inspect', '-f', '{{.State.Health.Status}}', ctr])).stdout.trim();

let port = 0;

test('install --start with a health check returns once the container is healthy; status and list-units show it', async () => {
  const r = await gear(H, ['install', 'test/web', 'web-h', '--start', '-p', '8080:0', '--health-cmd', CHECK, ...FAST, ...SLOW_START]);
  assert.is(r.code, 0, r.stderr);
  port = allocatedPort(r.stdout);
  // The start job ended only after the gate saw Docker's "healthy": its line is in the journal (once journald has
  // read it), and Docker agrees.
  const lines = await journalWith(['-u', 'ctr-web-h'], /^gear: ctr-web-h is healthy$/);
  assert.ok(lines.some((l) => l.msg === 'gear: ctr-web-h is healthy'), lines.map((l) => l.msg).join('\n'));
  assert.is(await dockerHealth('ctr-web-h'), 'healthy');
  assert.is(await show('ctr-web-h', 'ActiveState'), 'active');
  const status = await gear(H, ['status', 'web-h']);
  assert.match(status.stdout, /^ {3}Health: healthy \(every 1s, 2 failures restart: wget -qO- localhost:8080\/ >\/dev\/null\)$/m);
  const json = JSON.parse((await gear(H, ['status', 'web-h', '--json'])).stdout);
  assert.equal(json.HealthCheck, { Cmd: CHECK, Interval: '1s', Timeout: '20s', Retries: 2, StartPeriod: '30s' });
  assert.is(json.Container.Health, 'healthy');
  const list = await gear(H, ['list-units']);
  assert.match(list.stdout, /^ID\s+ACTIVE\s+SUB\s+LOAD\s+HEALTH$/m);
  assert.match(list.stdout, /^web-h\s+active\s+running\s+loaded\s+healthy$/m);
  assert.ok(await httpGet(`http://${ip}:${port}/`));
  const verify = await sh(H, 'systemd-analyze verify /etc/systemd/system/ctr-web-h.service 2>&1');
  assert.is(verify.trim(), '', verify);
});

test('a check with quotes, $, %, ;, backslashes and backticks reaches Docker exactly, and runs', async () => {
  const nasty = `test "$(printf '%s' 'a;b')" = 'a;b' && echo "50% \\$HOME \`id -u\`" >/dev/null && ${CHECK}`;
  const r = await gear(H, ['install', 'test/web', 'nasty-h', '--start', '--health-cmd', nasty, ...FAST, ...SLOW_START]);
  assert.is(r.code, 0, r.stderr);
  const test = JSON.parse(await sh(H, "docker inspect -f '{{json .Config.Healthcheck.Test}}' ctr-nasty-h"));
  assert.equal(test, ['CMD-SHELL', nasty]);
  assert.is(await dockerHealth('ctr-nasty-h'), 'healthy');
  const verify = await sh(H, 'systemd-analyze verify /etc/systemd/system/ctr-nasty-h.service 2>&1');
  assert.is(verify.trim(), '', verify);
  assert.is((await gear(H, ['delete', 'nasty-h'])).code, 0);
});

test('bad health input: one line, exit 1, nothing changed on the host', async () => {
  const before = await stateListing(H);
  for (const [args, message] of [
    [['--health-cmd', `${CHECK}\nExecStartPre=/bin/touch /tmp/owned`], /Health\.Cmd must be one line/],
    [['--health-cmd', CHECK, '--health-interval', '5 minutes'], /Health\.Interval "5 minutes" is not a duration/],
    [['--health-cmd', CHECK, '--health-retries', '0'], /Health\.Retries must be >= 1/],
    [['--health-interval', '1s'], /need --health-cmd/],
    [['--after', 'nobody-h'], /container nobody-h \(After\) is not installed/],
    [['--after', 'web-h', '--wait', 'ready'], /--wait must be "started" or "healthy"/],
  ] as const) {
    const r = await gear(H, ['install', 'test/web', 'bad-h', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.is(await stateListing(H), before);
  assert.is((await run(H, ['test', '-e', '/tmp/owned'])).code, 1);
});

test('a container that never gets healthy is not reported started, and its unit is restarted', async () => {
  const r = await gear(H, ['install', 'test/web', 'sick-h', '--start', '--health-cmd', 'false', ...FAST]);
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, /sick-h is installed but did not start/);
  const restarted = await eventually(async () => Number(await show('ctr-sick-h', 'NRestarts')) >= 1, 60_000, 500);
  assert.ok(restarted, `NRestarts: ${await show('ctr-sick-h', 'NRestarts')}`);
  const lines = await journalWith(['-u', 'ctr-sick-h'], /gear: ctr-sick-h is unhealthy/);
  assert.ok(lines.some((l) => /gear: ctr-sick-h is unhealthy \(2 failed checks\) before it was ever healthy/.test(l.msg)), lines.map((l) => l.msg).join('\n'));
  assert.not.ok(lines.some((l) => /ctr-sick-h is healthy/.test(l.msg)));
  assert.is((await gear(H, ['delete', 'sick-h'])).code, 0);
});

test('a healthy container that turns unhealthy is killed and its unit restarts; it is healthy again; another whose name begins with its name is not its business', async () => {
  const before = (await sh(H, "docker inspect -f '{{.Id}}' ctr-web-h")).trim();
  // ctr-web-h-2 turns unhealthy first: Docker matches an events filter container=ctr-web-h as a
  // prefix, so a watcher following web-h by name killed web-h for it too.
  const twin = await gear(H, ['install', 'test/web', 'web-h-2', '--start', '--health-cmd', CHECK, ...FAST, ...SLOW_START]);
  assert.is(twin.code, 0, twin.stderr);
  await sh(H, 'docker exec ctr-web-h-2 rm /www/index.html');
  assert.ok(await eventually(async () => Number(await show('ctr-web-h-2', 'NRestarts')) >= 1, 60_000, 500), 'web-h-2 restarted');
  assert.is(await show('ctr-web-h', 'NRestarts'), '0', 'web-h was not restarted for web-h-2');
  assert.is((await sh(H, "docker inspect -f '{{.Id}}' ctr-web-h")).trim(), before);
  assert.is((await gear(H, ['delete', 'web-h-2'])).code, 0);
  // The check fetches /; without its page the server answers 404 and the check fails.
  await sh(H, 'docker exec ctr-web-h rm /www/index.html');
  const restarted = await eventually(async () => Number(await show('ctr-web-h', 'NRestarts')) >= 1, 60_000, 500);
  assert.ok(restarted, 'the unit restarted');
  const lines = await journalWith(['-u', 'ctr-web-h'], /gear: ctr-web-h is unhealthy/);
  // Once, for its own failure (its watcher reads events in order: one that took web-h-2's for its own would have killed it before).
  assert.is(lines.filter((l) => /gear: ctr-web-h is unhealthy \(2 failed checks in a row\): killing it/.test(l.msg)).length, 1, lines.map((l) => l.msg).join('\n'));
  const healthyAgain = await eventually(async () => (await show('ctr-web-h', 'ActiveState')) === 'active' && (await dockerHealth('ctr-web-h')) === 'healthy', 60_000, 500);
  assert.ok(healthyAgain, 'healthy again');
  const after = (await sh(H, "docker inspect -f '{{.Id}}' ctr-web-h")).trim();
  assert.is.not(after, before, 'a new container');
  assert.match((await httpGet(`http://${ip}:${port}/`))?.body ?? '', /hello from test\/web/);
});

test('--after web-h --wait healthy: the dependent starts only after web-h became healthy (journal timestamps)', async () => {
  const plain = await gear(H, ['install', 'test/web', 'plain-h']);
  assert.is(plain.code, 0, plain.stderr);
  const refused = await gear(H, ['install', 'test/web', 'app-h', '--after', 'plain-h', '--wait', 'healthy']);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /plain-h has no health check, so app-h cannot wait for it to be healthy/);
  assert.is((await gear(H, ['delete', 'plain-h'])).code, 0);

  const r = await gear(H, ['install', 'test/web', 'app-h', '--after', 'web-h', '--wait', 'healthy']);
  assert.is(r.code, 0, r.stderr);
  const unit = await sh(H, 'systemctl cat ctr-app-h');
  assert.match(unit, /^After=ctr-web-h\.service$/m);
  assert.match(unit, /^Wants=ctr-web-h\.service$/m);
  await sh(H, 'systemctl stop ctr-web-h');
  const since = (await sh(H, 'date +%s')).trim();
  // Starting app-h alone starts web-h first (Wants=), and app-h only once web-h's start job is done.
  assert.is((await gear(H, ['start', 'app-h'])).code, 0);
  assert.is(await show('ctr-web-h', 'ActiveState'), 'active');
  const webHealthy = (await journalWith(['-u', 'ctr-web-h', '--since', `@${since}`], /^gear: ctr-web-h is healthy$/)).find((l) => l.msg === 'gear: ctr-web-h is healthy');
  // systemd's "started" for app-h is its fork; its container's first line comes when it has run.
  const appFirst = await eventually(async () => (await journal(['-u', 'ctr-app-h', '--since', `@${since}`])).find((l) => /web: listening on 8080/.test(l.msg)), 60_000, 500);
  assert.ok(webHealthy, 'web-h became healthy');
  assert.ok(appFirst, 'app-h ran');
  assert.ok(appFirst.at > webHealthy.at, `app-h's first line (${appFirst.at}) after web-h's healthy (${webHealthy.at})`);
  assert.is((await gear(H, ['delete', 'app-h'])).code, 0);
});

test('a container of its name that turns up while its start waits (a docker run killed mid-create leaves one): the start fails on the name, and gear tries once more', async () => {
  // gate-h is healthy only once /tmp/ok exists in it (failures do not count in its long start period);
  // late-h starts after it, so its start job waits there, after gear looked for leftovers.
  const gate = await gear(H, ['install', 'test/web', 'gate-h', '--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '2', '--health-timeout', '20s', '--health-start-period', '10m']);
  assert.is(gate.code, 0, gate.stderr);
  const late = await gear(H, ['install', 'test/web', 'late-h', '--after', 'gate-h', '--wait', 'healthy']);
  assert.is(late.code, 0, late.stderr);
  const since = (await sh(H, 'date +%s')).trim();
  const start = gear(H, ['start', 'late-h']);
  assert.ok(await eventually(async () => (await run(H, ['docker', 'inspect', '-f', '{{.State.Running}}', 'ctr-gate-h'])).stdout.trim() === 'true', 60_000, 200), 'gate-h runs');
  assert.is(await show('ctr-late-h', 'ActiveState'), 'inactive', 'late-h waits for gate-h');
  // What a killed docker run leaves: a created container of the name.
  const leftover = (await sh(H, 'docker create --name ctr-late-h test/web')).trim();
  await sh(H, 'docker exec ctr-gate-h touch /tmp/ok');
  const r = await start;
  assert.is(r.code, 0, r.stderr);
  assert.is(await show('ctr-late-h', 'ActiveState'), 'active');
  const now = (await sh(H, "docker inspect -f '{{.Id}} {{.State.Running}}' ctr-late-h")).trim().split(' ');
  assert.is.not(now[0], leftover, 'its own container, not the leftover');
  assert.is(now[1], 'true');
  const lines = (await journalWith(['-u', 'ctr-late-h', '--since', `@${since}`], /is already in use/)).map((l) => l.msg);
  assert.ok(lines.some((l) => /The container name "\/ctr-late-h" is already in use/.test(l)), lines.join('\n'));
  for (const c of ['late-h', 'gate-h']) assert.is((await gear(H, ['delete', c])).code, 0);
});

/** "gear: failure N in a row (...): the next start waits D s" lines of a unit, in order. */
async function failures(unit: string): Promise<{ at: number; n: number; wait: number }[]> {
  return (await journal(['-u', unit]))
    .map((l) => ({ at: l.at, m: /^gear: failure (\d+) in a row \([a-z-]+\): the next start waits (\d+) s$/.exec(l.msg) }))
    .filter((l) => l.m)
    .map((l) => ({ at: l.at, n: Number(l.m![1]), wait: Number(l.m![2]) }));
}

test('backoff: a crashing container waits 1, 2, 4, 8 s between restarts, status says so, no start limit', async () => {
  const r = await gear(H, ['install', 'test/crash', 'crash-h', '--start', '-e', 'CRASH_DELAY=0']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await show('ctr-crash-h', 'StartLimitIntervalUSec'), '0');
  const four = await eventually(async () => ((await failures('ctr-crash-h')).length >= 4 ? await failures('ctr-crash-h') : undefined), 150_000, 1000);
  assert.ok(four, 'four failures');
  assert.equal(four.slice(0, 4).map((f) => [f.n, f.wait]), [[1, 1], [2, 2], [3, 4], [4, 8]]);
  // Each next start came at least the announced wait after the failure (journal timestamps).
  const starts = (await journal(['-u', 'ctr-crash-h'])).filter((l) => /^Started ctr-crash-h\.service/.test(l.msg)).map((l) => l.at);
  for (const f of four.slice(0, 3)) {
    const next = starts.find((t) => t > f.at);
    assert.ok(next, `a start after failure ${f.n}`);
    assert.ok(next - f.at >= f.wait * 1e6, `failure ${f.n}: next start ${next - f.at} us later, wait ${f.wait} s`);
  }
  const status = await eventually(async () => {
    const out = (await gear(H, ['status', 'crash-h'])).stdout;
    return /Backoff: backing off, next try in \d+ s \(\d+ failures in a row\)/.test(out) ? out : undefined;
  }, 90_000, 300);
  assert.ok(status, 'status shows the backoff');
  assert.match(status, /Active: activating \((start-pre|auto-restart)\)/);
  // A stop forgets the failures; a start is immediate and counts from 1 again.
  assert.is((await gear(H, ['stop', 'crash-h'])).code, 0);
  assert.is((await run(H, ['test', '-e', '/run/gear-backoff/crash-h'])).code, 1);
  assert.is((await gear(H, ['delete', 'crash-h'])).code, 0);
});

test('backoff: a healthy run resets the count', async () => {
  await sh(H, 'mkdir -p /srv/hc && rm -f /srv/hc/ok');
  // Healthy only while the host's /srv/hc/ok exists.
  const r = await gear(H, ['install', 'test/web', 'flaky-h', '-v', '/srv/hc:/hc', '--health-cmd', 'test -e /hc/ok', ...FAST]);
  assert.is(r.code, 0, r.stderr);
  await sh(H, 'systemctl start --no-block ctr-flaky-h');
  const two = await eventually(async () => (await failures('ctr-flaky-h')).length >= 2, 120_000, 1000);
  assert.ok(two, 'two failures before it was ever healthy');
  await sh(H, 'touch /srv/hc/ok');
  const healthy = await eventually(async () => (await show('ctr-flaky-h', 'ActiveState')) === 'active', 120_000, 500);
  assert.ok(healthy, 'healthy once the file is there');
  const before = (await failures('ctr-flaky-h')).length;
  await sh(H, 'rm /srv/hc/ok');
  const again = await eventually(async () => ((await failures('ctr-flaky-h')).length > before ? await failures('ctr-flaky-h') : undefined), 120_000, 500);
  assert.ok(again, 'a failure after the healthy run');
  const after = again.at(before)!;
  assert.ok(again.slice(0, before).some((f) => f.n >= 2), 'failures in a row before');
  assert.equal([after.n, after.wait], [1, 1]);
  assert.is((await gear(H, ['delete', 'flaky-h'])).code, 0);
});

test('update: --dry-run changes nothing; a broken image rolls back to the old one; a good one serves; volume data kept', async () => {
  // test/web:2 serves "v2"; test/web:broken never serves (its check can never pass).
  await sh(H, `printf 'FROM test/web\\nRUN echo v2 > /www/index.html\\n' | docker build -q -t test/web:2 - >/dev/null`);
  await sh(H, `printf 'FROM test/web\\nCMD ["sleep", "3600"]\\n' | docker build -q -t test/web:broken - >/dev/null`);
  const imageId = async (ref: string) => (await sh(H, `docker image inspect -f '{{.Id}}' ${ref}`)).trim();
  const [oldId, newId] = [await imageId('test/web'), await imageId('test/web:2')];
  const r = await gear(H, ['install', 'test/web', 'upd-h', '--start', '-p', '8080:0', '-v', '/data', '--health-cmd', CHECK, ...FAST, '--health-start-period', '15s']);
  assert.is(r.code, 0, r.stderr);
  const updPort = allocatedPort(r.stdout);
  await sh(H, 'docker exec ctr-upd-h sh -c "echo kept > /data/file"');
  const ctr = async () => (await sh(H, "docker inspect -f '{{.Id}} {{.Image}}' ctr-upd-h")).trim().split(' ');
  const [ctrBefore] = await ctr();
  const def = () => sh(H, 'cat /var/lib/gear/containers/upd-h.json');
  const defBefore = await def();

  const dry = await gear(H, ['update', 'upd-h', '--image', 'test/web:2', '--dry-run']);
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^would update upd-h: test/web \\(${oldId.slice(7, 19)}\\) -> test/web:2 \\(${newId.slice(7, 19)}\\); restart, wait for healthy`));
  assert.is(await def(), defBefore);
  assert.is((await ctr())[0], ctrBefore);

  const broken = await gear(H, ['update', 'upd-h', '--image', 'test/web:broken']);
  assert.is(broken.code, 1, broken.stdout);
  assert.is(broken.stderr.trim().split('\n').length, 1, broken.stderr);
  assert.match(broken.stderr, new RegExp(`upd-h: test/web:broken did not get healthy .*; rolled back to test/web \\(${oldId.slice(7, 19)}\\)`));
  // The old image serves again, with its data.
  assert.is((await ctr())[1], oldId);
  assert.is(await show('ctr-upd-h', 'ActiveState'), 'active');
  assert.match(JSON.parse(await def()).Image, /^test\/web$/);
  assert.match((await httpGet(`http://${ip}:${updPort}/`))?.body ?? '', /hello from test\/web/);
  assert.is((await sh(H, 'docker exec ctr-upd-h cat /data/file')).trim(), 'kept');

  const good = await gear(H, ['update', 'upd-h', '--image', 'test/web:2']);
  assert.is(good.code, 0, good.stderr);
  assert.match(good.stdout, /^updated upd-h: test\/web \(\w{12}\) -> test\/web:2 \(\w{12}\): healthy$/m);
  assert.is((await ctr())[1], newId);
  assert.is((await httpGet(`http://${ip}:${updPort}/`))?.body.trim(), 'v2');
  assert.is((await sh(H, 'docker exec ctr-upd-h cat /data/file')).trim(), 'kept');
  const same = await gear(H, ['update', 'upd-h', '--image', 'test/web:2']);
  assert.is(same.code, 1);
  assert.match(same.stderr, /upd-h runs test\/web:2 already/);
  assert.is((await gear(H, ['delete', 'upd-h'])).code, 0);
});

test.after(async () => {
  for (const c of ['web-h', 'web-h-2', 'gate-h', 'late-h', 'app-h', 'sick-h', 'nasty-h', 'plain-h', 'bad-h', 'crash-h', 'flaky-h', 'upd-h']) await gear(H, ['delete', c]);
});

test.run();
