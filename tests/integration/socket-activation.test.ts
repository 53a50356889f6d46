import { test } from 'uvu';
import { connect, type Socket } from 'node:net';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, allocatedPort, curl, eventually, gear, hostIp, httpGet, run, sh, startAgent, stateListing, stopAgent, journalMatching } from './harness.js';

/**
 * Socket activation and idling (gear install --socket-activated,
 * --idle-after; the API's SocketActivation, IdleAfter) on a real host:
 * systemd's socket listens, systemd-socket-proxyd wakes the container on
 * the first connection, which is answered; an idle proxy exits and the
 * container stops; stop, start and delete act on all three units.
 * Nothing here asserts how long anything took.
 */
const ip = hostIp(H);
const API = 'http://localhost:43273';
let TOKEN = '';
const api = (args: string[]) => curl(H, ['-H', `Authorization: Bearer ${TOKEN}`, '-H', 'Content-Type: application/json', ...args]);

const active = async (unit: string) => (await run(H, ['systemctl', 'is-active', unit])).stdout.trim();
const show = async (unit: string, prop: string) => (await sh(H, `systemctl show -p ${prop} --value ${unit}`)).trim();
const hasContainer = async (ctr: string) => (await run(H, ['docker', 'inspect', ctr])).code === 0;
/** A request from outside the host; a wide time limit: the answer waits for a container to start on a loaded machine. */
const get = (port: number) => httpGet(`http://${ip}:${port}/`, 120_000);
const statusJson = async (name: string) => JSON.parse((await gear(H, ['status', name, '--json'])).stdout);

let webPort = 0;
let webPrivate = 0;

test('install --socket-activated --start: the socket listens on the public port, no container runs yet', async () => {
  const r = await gear(H, ['install', 'test/web', 'sa-web', '--socket-activated', '-p', '8080:0', '--start']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sa-web installed, its socket listening \(8080 -> [0-9]+\)$/m);
  webPort = allocatedPort(r.stdout);
  assert.is(await active('ctr-sa-web.socket'), 'active');
  assert.is(await show('ctr-sa-web.socket', 'SubState'), 'listening');
  assert.is(await show('ctr-sa-web.socket', 'UnitFileState'), 'enabled');
  assert.is(await active('ctr-sa-web.service'), 'inactive');
  assert.is(await active('gear-proxy-sa-web.service'), 'inactive');
  assert.not.ok(await hasContainer('ctr-sa-web'));
  // systemd itself holds the public port.
  assert.match(await sh(H, `ss -Hltnp 'sport = :${webPort}'`), /systemd/);
  const json = await statusJson('sa-web');
  assert.is(json.Socket.State, 'idle');
  assert.is(json.Socket.Port, webPort);
  webPrivate = json.Socket.PrivatePort;
  assert.ok(webPrivate > 0 && webPrivate !== webPort);
  // Both ports are gear's reservations.
  assert.is((await sh(H, `cat /var/lib/gear/ports/${webPort} /var/lib/gear/ports/${webPrivate}`)).trim(), 'sa-web\nsa-web');
  assert.match((await gear(H, ['status', 'sa-web'])).stdout, new RegExp(`^ {3}Socket: ctr-sa-web\\.socket on port ${webPort}, idle: the next connection starts the container \\(never idles; proxied to 127\\.0\\.0\\.1:${webPrivate}\\)$`, 'm'));
  const list = await gear(H, ['list-units', '--all']);
  assert.match(list.stdout, /^ID\s+ACTIVE\s+SUB\s+LOAD\s+SOCKET$/m);
  assert.match(list.stdout, /^sa-web\s+inactive\s+dead\s+\S+\s+idle$/m);
  for (const unit of ['ctr-sa-web.service', 'ctr-sa-web.socket', 'gear-proxy-sa-web.service']) {
    const verify = await sh(H, `systemd-analyze verify /etc/systemd/system/${unit} 2>&1`);
    assert.is(verify.trim(), '', `${unit}: ${verify}`);
  }
});

test('the first connection starts the container and is answered; the container then runs, on loopback only', async () => {
  const first = await get(webPort);
  assert.ok(first, 'the first connection was answered');
  assert.is(first.status, 200);
  assert.match(first.body, /hello from test\/web/);
  assert.is(await active('ctr-sa-web.service'), 'active');
  assert.is(await active('gear-proxy-sa-web.service'), 'active');
  assert.ok(await hasContainer('ctr-sa-web'));
  // The container's port is published on the private port, on loopback only.
  assert.is((await sh(H, "docker port ctr-sa-web 8080/tcp")).trim(), `127.0.0.1:${webPrivate}`);
  assert.is((await statusJson('sa-web')).Socket.State, 'awake');
  assert.match((await gear(H, ['list-units'])).stdout, /^sa-web\s+active\s+running\s+loaded\s+awake$/m);
  // Later connections go to the running container.
  assert.match((await get(webPort))?.body ?? '', /hello from test\/web/);
});

test('--idle-after 3s: the container stops after idling, and the next connection wakes it and is answered', async () => {
  const r = await gear(H, ['install', 'test/web', 'sa-idle', '--socket-activated', '-p', '8080:0', '--idle-after', '3s', '--start']);
  assert.is(r.code, 0, r.stderr);
  const port = allocatedPort(r.stdout);
  assert.match(await sh(H, 'cat /etc/systemd/system/gear-proxy-sa-idle.service'), /--exit-idle-time=3s 127\.0\.0\.1:[0-9]+/);
  assert.match((await get(port))?.body ?? '', /hello from test\/web/);
  const firstRun = await show('ctr-sa-idle.service', 'InvocationID');
  assert.ok(firstRun, 'the container unit ran');
  // Idle: the proxy exits, the container's unit stops (StopWhenUnneeded) and its container is gone.
  const stopped = await eventually(async () => (await active('ctr-sa-idle.service')) === 'inactive' && !(await hasContainer('ctr-sa-idle')), 120_000, 500);
  assert.ok(stopped, `container unit: ${await active('ctr-sa-idle.service')}`);
  assert.is(await active('gear-proxy-sa-idle.service'), 'inactive');
  assert.is(await show('ctr-sa-idle.socket', 'SubState'), 'listening');
  assert.is((await statusJson('sa-idle')).Socket.State, 'idle');
  // The next connections wake it, and are answered. One is held open while the state is read: with 3 s of
  // idle, a loaded machine could let the container idle out between the answer and systemctl.
  const held = await hold(port);
  try {
    const woken = await get(port);
    assert.ok(woken, 'the waking connection was answered');
    assert.match(woken.body, /hello from test\/web/);
    assert.is(await active('ctr-sa-idle.service'), 'active');
    assert.is.not(await show('ctr-sa-idle.service', 'InvocationID'), firstRun, 'a new run of the container unit');
  } finally {
    held.destroy();
  }
});

test('stop: the socket stops too, and a connection no longer wakes the container; start: idle, woken again', async () => {
  const r = await gear(H, ['stop', 'sa-web']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await active('ctr-sa-web.socket'), 'inactive');
  assert.is(await show('ctr-sa-web.socket', 'UnitFileState'), 'disabled');
  assert.is(await active('ctr-sa-web.service'), 'inactive');
  assert.is(await active('gear-proxy-sa-web.service'), 'inactive');
  assert.is(await httpGet(`http://${ip}:${webPort}/`, 10_000), undefined, 'the connection is refused');
  assert.is(await active('ctr-sa-web.service'), 'inactive', 'it did not wake');
  assert.not.ok(await hasContainer('ctr-sa-web'));
  assert.is((await statusJson('sa-web')).Socket.State, 'stopped');

  const s = await gear(H, ['start', 'sa-web']);
  assert.is(s.code, 0, s.stderr);
  assert.match(s.stdout, /sa-web/);
  assert.is(await show('ctr-sa-web.socket', 'SubState'), 'listening');
  assert.is(await active('ctr-sa-web.service'), 'inactive');
  assert.match((await get(webPort))?.body ?? '', /hello from test\/web/);
  assert.is(await active('ctr-sa-web.service'), 'active');
});

test('restart: what runs stops, the socket listens again, the next connection runs the container anew', async () => {
  const before = await show('ctr-sa-web.service', 'InvocationID');
  const r = await gear(H, ['restart', 'sa-web']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await active('ctr-sa-web.service'), 'inactive');
  assert.is(await show('ctr-sa-web.socket', 'SubState'), 'listening');
  assert.match((await get(webPort))?.body ?? '', /hello from test\/web/);
  assert.is.not(await show('ctr-sa-web.service', 'InvocationID'), before);
});

test('a link to a socket-activated container (its public port) wakes it and is answered', async () => {
  const r = await gear(H, ['install', 'test/web', 'sa-client', '--start', '-n', `127.0.0.2:9090:${ip}:${webPort}`]);
  assert.is(r.code, 0, r.stderr);
  await gear(H, ['stop', 'sa-web']);
  await gear(H, ['start', 'sa-web']);
  assert.is(await active('ctr-sa-web.service'), 'inactive');
  const out = await run(H, ['docker', 'exec', 'ctr-sa-client', 'timeout', '120', 'wget', '-qO-', 'http://127.0.0.2:9090/']);
  assert.match(out.stdout, /hello from test\/web/, out.stderr);
  assert.is(await active('ctr-sa-web.service'), 'active');
  assert.is((await gear(H, ['delete', 'sa-client'])).code, 0);
});

test('clean --repair --dry-run finds nothing wrong with socket-activated containers', async () => {
  const r = await gear(H, ['clean', '--repair', '--dry-run']);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stdout, /sa-web|sa-idle/, r.stdout);
});

test('repair renders a socket-activated container\'s missing socket and proxy units again', async () => {
  await sh(H, 'rm /etc/systemd/system/ctr-sa-idle.socket /etc/systemd/system/gear-proxy-sa-idle.service');
  const r = await gear(H, ['clean', '--repair']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /container sa-idle is installed but its unit files \/etc\/systemd\/system\/ctr-sa-idle\.socket, \/etc\/systemd\/system\/gear-proxy-sa-idle\.service are gone: render the unit files again from its definition/);
  assert.is((await run(H, ['test', '-e', '/etc/systemd/system/ctr-sa-idle.socket'])).code, 0);
  assert.match(await sh(H, 'cat /etc/systemd/system/gear-proxy-sa-idle.service'), /--exit-idle-time=3s /);
});

test('bad input: one line, exit 1, nothing changed on the host', async () => {
  const before = await stateListing(H);
  const cases: [string[], RegExp][] = [
    [['--socket-activated', '-p', '8080:0', '--idle-after', 'garbage'], /--idle-after "garbage" is not a duration/],
    [['--socket-activated', '-p', '8080:0', '--idle-after', '0'], /--idle-after 0 must be between 1s and 24h/],
    [['--socket-activated', '-p', '8080:0', '--idle-after', '3s\nExecStartPre=/bin/touch /tmp/owned'], /--idle-after .* is not a duration/],
    [['-p', '8080:0', '--idle-after', '3s'], /--idle-after needs --socket-activated/],
    [['--socket-activated'], /--socket-activated needs a published port \(-p\); none is given/],
    [['--socket-activated', '-p', `8080:${webPort}`], new RegExp(`port ${webPort} is already reserved by container sa-web`)],
  ];
  for (const [args, message] of cases) {
    const r = await gear(H, ['install', 'test/web', 'sa-bad', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // A re-install cannot switch a container in or out of socket activation.
  const plain = await gear(H, ['install', 'test/web', 'sa-web', '-p', '8080:0']);
  assert.is(plain.code, 1);
  assert.match(plain.stderr, /container sa-web is socket-activated; a re-install does not change that/);
  assert.is(await stateListing(H), before);
  assert.is((await run(H, ['test', '-e', '/tmp/owned'])).code, 1);
});

test('the API: SocketActivation true with IdleAfter, in geard\'s wire shape; invalid values are 400 and change nothing', async () => {
  await startAgent(H);
  TOKEN = (await sh(H, 'cat /var/lib/gear/token')).trim();
  try {
    const before = await stateListing(H);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ SocketActivation: true, IdleAfter: 'soon' }, /IdleAfter .{1,2}soon.{1,2} is not a duration/],
      [{ SocketActivation: false, IdleAfter: '10m' }, /IdleAfter needs SocketActivation/],
      [{ SocketActivation: true, SkipSocketProxy: true }, /SkipSocketProxy is not supported with SocketActivation/],
      [{ SocketActivation: true, Ports: [] }, /SocketActivation needs a published port \(Ports\); none is given/],
      [{ SocketActivation: true, Ports: Array.from({ length: 17 }, (_, i) => ({ Internal: 9000 + i })) }, /SocketActivation takes at most 16 published ports \(Ports\); 17 are given/],
      [{ SocketActivation: true, Ports: [{ Internal: 8080 }, { Internal: 0 }] }, /body\/Ports\/1\/Internal|Ports\[1\]\.Internal/],
      [{ SocketActivation: 'yes' }, /body\/SocketActivation must be/],
      [{ SocketActivation: true, IdleAfter: 600 }, /body\/IdleAfter must be/],
    ];
    for (const [body, message] of cases) {
      const r = await api(['-X', 'PUT', `${API}/container/sa-api-bad`, '-d', JSON.stringify({ Image: 'test/web', Ports: [{ Internal: 8080 }], ...body })]);
      assert.is(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.body}`);
      assert.match(r.body, message);
    }
    assert.is(await stateListing(H), before);

    // geard's client sends every flag; SkipSocketProxy false, Simple and Isolate false.
    const body = { Id: 'sa-api', Image: 'test/web', Simple: false, Isolate: false, SocketActivation: true, SkipSocketProxy: false, IdleAfter: '10m', Ports: [{ Internal: 8080 }], Environment: { Variables: null, Source: '', Id: '' }, NetworkLinks: null, VolumeConfig: null, Started: true, SystemdSlice: 'container-small' };
    const r = await api(['-X', 'PUT', `${API}/container/sa-api`, '-d', JSON.stringify(body)]);
    assert.is(r.status, 204, r.body);
    const port = Number(/^8080:([0-9]+)$/.exec(r.headers['x-portmapping'] ?? '')?.[1]);
    assert.ok(port > 0, r.headers['x-portmapping']);
    assert.is(await show('ctr-sa-api.socket', 'SubState'), 'listening');
    assert.is(await active('ctr-sa-api.service'), 'inactive');
    assert.match(await sh(H, 'cat /etc/systemd/system/gear-proxy-sa-api.service'), /--exit-idle-time=10m /);
    assert.match((await get(port))?.body ?? '', /hello from test\/web/);
    assert.is(await active('ctr-sa-api.service'), 'active');
    const status = await api([`${API}/container/sa-api/status`, '-H', 'Accept: application/json']);
    assert.is(JSON.parse(status.body).Socket.State, 'awake');
    assert.is((await api(['-X', 'DELETE', `${API}/container/sa-api`])).status, 204);
  } finally {
    await stopAgent(H);
  }
});

/** A connection to the port, open (and silent) until destroyed: systemd accepts it at once, and its proxy stays while it is open. */
function hold(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(port, ip);
    c.on('connect', () => resolve(c));
    c.on('error', reject);
  });
}

/** What a raw connection to the port gets: an answer, closed without one, or nothing within the wait. */
function connectOutcome(port: number, waitMs: number): Promise<'answered' | 'closed' | 'no answer'> {
  return new Promise((resolve) => {
    const c = connect(port, ip);
    let got = false;
    const timer = setTimeout(() => finish('no answer'), waitMs);
    function finish(what: 'answered' | 'closed' | 'no answer') {
      clearTimeout(timer);
      c.destroy();
      resolve(what);
    }
    c.on('connect', () => c.write('GET / HTTP/1.0\r\n\r\n'));
    c.on('data', () => (got = true));
    c.on('error', () => finish(got ? 'answered' : 'closed'));
    c.on('close', () => finish(got ? 'answered' : 'closed'));
  });
}

test('a wake that cannot start the container: the waiting connection is closed, not left hanging; status says waking; a fixed image serves again', async () => {
  await sh(H, `printf 'FROM test/web\\nCMD ["sh", "-c", "exit 3"]\\n' | docker build -q -t test/web:exits - >/dev/null`);
  const r = await gear(H, ['install', 'test/web:exits', 'sa-fail', '--socket-activated', '-p', '8080:0', '--start']);
  assert.is(r.code, 0, r.stderr);
  const port = allocatedPort(r.stdout);
  // Two minutes is far beyond a failed start; a connection left hanging (systemd's socket stuck "running") gets "no answer".
  assert.is(await connectOutcome(port, 120_000), 'closed', 'the waking connection is closed once the container fails to start');
  assert.match(await journalMatching(H, '-u ctr-sa-fail.service -o cat', /ctr-sa-fail ended before it listened on port 8080/), /ctr-sa-fail ended before it listened on port 8080/);
  const json = await statusJson('sa-fail');
  assert.is(json.Socket.State, 'waking', JSON.stringify(json));
  assert.ok(json.Backoff?.Failures >= 1, JSON.stringify(json));
  assert.match((await gear(H, ['status', 'sa-fail'])).stdout, /Socket: ctr-sa-fail\.socket on port [0-9]+, waking: its container is starting/);
  assert.is(await active('ctr-sa-fail.socket'), 'active', 'the socket neither failed nor stopped');
  assert.is(await connectOutcome(port, 120_000), 'closed', 'a later connection is closed too');
  // The image fixed under the same tag: the container's own retries (gear's backoff) run it, and connections are served.
  await sh(H, 'docker tag test/web test/web:exits');
  const served = await eventually(async () => (await httpGet(`http://${ip}:${port}/`, 10_000))?.body, 180_000, 1000);
  assert.match(served || '', /hello from test\/web/);
  assert.is((await statusJson('sa-fail')).Socket.State, 'awake');
  assert.is((await gear(H, ['delete', 'sa-fail'])).code, 0);
  await sh(H, 'docker rmi test/web:exits >/dev/null');
});

test('delete removes the socket, proxy and container units and releases both ports', async () => {
  for (const name of ['sa-web', 'sa-idle']) {
    const json = await statusJson(name);
    const ports = [json.Socket.Port, json.Socket.PrivatePort];
    const r = await gear(H, ['delete', name]);
    assert.is(r.code, 0, r.stderr);
    for (const file of [`ctr-${name}.service`, `ctr-${name}.socket`, `gear-proxy-${name}.service`, `gear.target.wants/ctr-${name}.socket`])
      assert.is((await run(H, ['test', '-e', `/etc/systemd/system/${file}`])).code, 1, `${file} is gone`);
    for (const unit of [`ctr-${name}.service`, `ctr-${name}.socket`, `gear-proxy-${name}.service`]) assert.is(await active(unit), 'inactive', unit);
    for (const port of ports) {
      assert.is((await run(H, ['test', '-e', `/var/lib/gear/ports/${port}`])).code, 1, `port ${port} released`);
      assert.is((await sh(H, `ss -Hltn 'sport = :${port}'`)).trim(), '', `nothing listens on ${port}`);
    }
    assert.not.ok(await hasContainer(`ctr-${name}`));
  }
  assert.not.match((await gear(H, ['list-units', '--all'])).stdout, /^sa-(web|idle)\s/m);
});

test.run();
