import { test } from 'uvu';
import { connect, type Socket } from 'node:net';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, allocatedPort, eventually, gear, hostIp, httpGet, remoteAgents, run, sh, stateListing } from './harness.js';

/**
 * Socket activation of a container with several published ports (a socket
 * and a proxy per port, one container), on a real host: the first
 * connection on either port wakes it and is answered; it idles only when
 * every port's proxy is idle; stop, repair, re-install and delete act on
 * every port's units. Then the same through `gear deploy`, with a link
 * from another instance waking it. Nothing here asserts how long anything
 * took.
 */
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const ipA = hostIp(A);
const ipB = hostIp(B);
const hostOf = (ip: string) => (ip === ipA ? A : B);

const active = async (h: string, unit: string) => (await run(h, ['systemctl', 'is-active', unit])).stdout.trim();
const show = async (h: string, unit: string, prop: string) => (await sh(h, `systemctl show -p ${prop} --value ${unit}`)).trim();
/** A socket that still holds its port: 'listening', or 'running' while a proxy it woke has not idled out yet
 *  (3 s after its last connection closed: whether a test's earlier wake is over by then depends on the machine's load). */
async function assertListens(h: string, unit: string) {
  assert.is(await show(h, unit, 'ActiveState'), 'active', `${unit} is active`);
  assert.match(await show(h, unit, 'SubState'), /^(listening|running)$/, `${unit} still listens`);
}
const exists = async (h: string, path: string) => (await run(h, ['test', '-e', path])).code === 0;
const hasContainer = async (h: string, ctr: string) => (await run(h, ['docker', 'inspect', ctr])).code === 0;
const statusJson = async (name: string) => JSON.parse((await gear(A, ['status', name, '--json'])).stdout);
/** A request from outside the host; a wide time limit: the answer waits for a container to start on a loaded machine. */
const get = (ip: string, port: number) => httpGet(`http://${ip}:${port}/`, 120_000);

/**
 * A connection to the echo port (8081 of test/two): resolves with what came
 * back once "ping" has, the connection left open (close it with end()), or
 * undefined when nothing came within the wait.
 */
function echo(ip: string, port: number, waitMs = 120_000): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const c = connect(port, ip);
    let got = '';
    const timer = setTimeout(() => finish(undefined), waitMs);
    function finish(v: Socket | undefined) {
      clearTimeout(timer);
      if (!v) c.destroy();
      resolve(v);
    }
    c.on('connect', () => c.write('ping\n'));
    c.on('data', (d) => {
      got += d;
      if (got.includes('ping')) finish(c);
    });
    c.on('error', () => finish(undefined));
    c.on('close', () => finish(undefined));
  });
}
/** A connection to the port, open (and silent) until destroyed: systemd accepts it at once, and its proxy stays while it is open. */
function hold(ip: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(port, ip);
    c.on('connect', () => resolve(c));
    c.on('error', reject);
  });
}
const echoOnce = async (ip: string, port: number) => {
  const c = await echo(ip, port);
  c?.destroy();
  return c !== undefined;
};

/** test/two: test/web's http on 8080, and an echo server (busybox nc, no idle timeout of its own) on 8081. */
async function buildTwo(h: string) {
  await sh(h, `printf 'FROM test/web\\nCMD ["sh", "-c", "nc -ll -p 8081 -e cat & exec /start"]\\n' | docker build -q -t test/two - >/dev/null`);
}

const D = '/etc/systemd/system';
let port1 = 0;
let port2 = 0;
let priv: number[] = [];

test('install with two ports: a socket each, both listening, no container yet', async () => {
  await buildTwo(A);
  const r = await gear(A, ['install', 'test/two', 'sp-two', '--socket-activated', '-p', '8080:0', '-p', '8081:0', '--idle-after', '3s', '--start']);
  assert.is(r.code, 0, r.stderr);
  port1 = allocatedPort(r.stdout, 8080);
  port2 = allocatedPort(r.stdout, 8081);
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket']) {
    assert.is(await active(A, unit), 'active', unit);
    assert.is(await show(A, unit, 'SubState'), 'listening', unit);
  }
  // Only the first socket is enabled; it brings the other with it.
  assert.is(await show(A, 'ctr-sp-two.socket', 'UnitFileState'), 'enabled');
  assert.is(await show(A, 'ctr-sp-two@8081.socket', 'UnitFileState'), 'static');
  assert.is(await active(A, 'ctr-sp-two.service'), 'inactive');
  assert.not.ok(await hasContainer(A, 'ctr-sp-two'));
  for (const port of [port1, port2]) assert.match(await sh(A, `ss -Hltnp 'sport = :${port}'`), /systemd/, `systemd listens on ${port}`);
  const json = await statusJson('sp-two');
  assert.is(json.Socket.State, 'idle');
  assert.is(json.Socket.Sockets.length, 2);
  assert.equal(json.Socket.Sockets.map((s: { Unit: string; Port: number }) => [s.Unit, s.Port]), [['ctr-sp-two.socket', port1], ['ctr-sp-two@8081.socket', port2]]);
  priv = json.Socket.Sockets.map((s: { PrivatePort: number }) => s.PrivatePort);
  assert.is(new Set([port1, port2, ...priv]).size, 4, 'four distinct ports');
  // All four are gear's reservations.
  assert.is((await sh(A, `cat ${[port1, port2, ...priv].map((p) => `/var/lib/gear/ports/${p}`).join(' ')}`)).trim(), 'sp-two\nsp-two\nsp-two\nsp-two');
  const text = (await gear(A, ['status', 'sp-two'])).stdout;
  assert.match(text, new RegExp(`^ {3}Socket: ctr-sp-two\\.socket on port ${port1}, idle: .*proxied to 127\\.0\\.0\\.1:${priv[0]}\\)$`, 'm'));
  assert.match(text, new RegExp(`^ {11}ctr-sp-two@8081\\.socket on port ${port2}, listening \\(its port 8081; proxied to 127\\.0\\.0\\.1:${priv[1]}\\)$`, 'm'));
  assert.match((await gear(A, ['list-units', '--all'])).stdout, /^sp-two\s+inactive\s+dead\s+\S+\s+idle$/m);
  for (const unit of ['ctr-sp-two.service', 'ctr-sp-two.socket', 'ctr-sp-two@8081.socket', 'gear-proxy-sp-two.service', 'gear-proxy-sp-two@8081.service']) {
    const verify = await sh(A, `systemd-analyze verify ${D}/${unit} 2>&1`);
    assert.is(verify.trim(), '', `${unit}: ${verify}`);
  }
});

test('the first connection on the second port wakes it and is answered; the first port then answers too', async () => {
  // Held open while the state is read: with 3 s of idle, a closed one would let it stop meanwhile.
  const woke = await echo(ipA, port2);
  assert.ok(woke, 'the waking connection on the second port was answered');
  try {
    assert.is(await active(A, 'ctr-sp-two.service'), 'active');
    assert.is(await active(A, 'gear-proxy-sp-two@8081.service'), 'active');
    assert.is(await active(A, 'gear-proxy-sp-two.service'), 'inactive', 'only the woken port\'s proxy runs');
    // Both container ports on loopback, at their private ports.
    assert.is((await sh(A, 'docker port ctr-sp-two 8080/tcp')).trim(), `127.0.0.1:${priv[0]}`);
    assert.is((await sh(A, 'docker port ctr-sp-two 8081/tcp')).trim(), `127.0.0.1:${priv[1]}`);
    assert.match((await get(ipA, port1))?.body ?? '', /hello from test\/web/);
    assert.is((await statusJson('sp-two')).Socket.State, 'awake');
  } finally {
    woke.destroy();
  }
});

test('idle only when every port is: an open connection on one port keeps it running while the other port\'s proxy exits idle', async () => {
  const held = await echo(ipA, port2);
  assert.ok(held, 'the held connection was answered');
  try {
    // The first port's proxy idles out (3 s without a connection on it)...
    const idled = await eventually(async () => (await active(A, 'gear-proxy-sp-two.service')) === 'inactive', 120_000, 500);
    assert.ok(idled, 'the first port\'s proxy exited idle');
    // ...and the container still runs: the second port's proxy, with its connection open, still wants it.
    assert.is(await active(A, 'gear-proxy-sp-two@8081.service'), 'active');
    assert.is(await active(A, 'ctr-sp-two.service'), 'active');
    assert.is((await statusJson('sp-two')).Socket.State, 'awake');
  } finally {
    held.end();
  }
  // The connection closed: that proxy idles out too, and the container stops.
  const stopped = await eventually(async () => (await active(A, 'ctr-sp-two.service')) === 'inactive' && !(await hasContainer(A, 'ctr-sp-two')), 120_000, 500);
  assert.ok(stopped, `container unit: ${await active(A, 'ctr-sp-two.service')}`);
  assert.is(await active(A, 'gear-proxy-sp-two@8081.service'), 'inactive');
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket']) assert.is(await show(A, unit, 'SubState'), 'listening', unit);
  assert.is((await statusJson('sp-two')).Socket.State, 'idle');
});

test('woken again through the other port (the first), and answered', async () => {
  const before = await show(A, 'ctr-sp-two.service', 'InvocationID');
  // A connection on the first port held open while the state is read: with 3 s of idle, a loaded machine could
  // let the container idle out between the answer and systemctl.
  const held = await hold(ipA, port1);
  try {
    const woken = await get(ipA, port1);
    assert.ok(woken, 'the waking connection was answered');
    assert.match(woken.body, /hello from test\/web/);
    assert.is(await active(A, 'ctr-sp-two.service'), 'active');
    assert.is.not(await show(A, 'ctr-sp-two.service', 'InvocationID'), before, 'a new run of the container unit');
  } finally {
    held.destroy();
  }
});

test('stop: every socket stops, neither port wakes it; start: both listen again', async () => {
  const r = await gear(A, ['stop', 'sp-two']);
  assert.is(r.code, 0, r.stderr);
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket', 'gear-proxy-sp-two.service', 'gear-proxy-sp-two@8081.service', 'ctr-sp-two.service'])
    assert.is(await active(A, unit), 'inactive', unit);
  assert.is(await httpGet(`http://${ipA}:${port1}/`, 10_000), undefined, 'refused on the first port');
  assert.not.ok(await echo(ipA, port2, 10_000), 'refused on the second port');
  assert.is(await active(A, 'ctr-sp-two.service'), 'inactive', 'it did not wake');
  assert.is((await statusJson('sp-two')).Socket.State, 'stopped');
  const s = await gear(A, ['start', 'sp-two']);
  assert.is(s.code, 0, s.stderr);
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket']) assert.is(await show(A, unit, 'SubState'), 'listening', unit);
  assert.ok(await echoOnce(ipA, port2), 'the second port wakes it again');
});

test('repair: nothing wrong, then a missing second socket and proxy are rendered again', async () => {
  const dry = await gear(A, ['clean', '--repair', '--dry-run']);
  assert.is(dry.code, 0, dry.stderr);
  assert.not.match(dry.stdout, /sp-two/, dry.stdout);
  await sh(A, `rm ${D}/ctr-sp-two@8081.socket ${D}/gear-proxy-sp-two@8081.service`);
  const r = await gear(A, ['clean', '--repair']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /container sp-two is installed but its unit files \/etc\/systemd\/system\/ctr-sp-two@8081\.socket, \/etc\/systemd\/system\/gear-proxy-sp-two@8081\.service are gone: render the unit files again/);
  assert.match(await sh(A, `cat ${D}/gear-proxy-sp-two@8081.service`), new RegExp(`--exit-idle-time=3s 127\\.0\\.0\\.1:${priv[1]}$`, 'm'));
  // A gear socket unit of a port it does not publish (left by a re-install killed half-way: planted) is removed and stopped.
  // It listens on 62999: outside gear's port range (4000-60000) and the kernel's ephemeral ports (to 60999), so
  // free whatever else runs on this host (a port near the private ones was once taken by another test's container).
  // The planted pair has its own proxy, as a real left-over would: systemd refuses to start a socket whose
  // Service= is already running, and @8081's proxy may still run from the last wake (a CI failure once).
  await sh(A, `sed -e 's/^ListenStream=.*/ListenStream=62999/' -e 's/@8081/@9999/g' ${D}/ctr-sp-two@8081.socket > ${D}/ctr-sp-two@9999.socket && sed 's/@8081/@9999/g' ${D}/gear-proxy-sp-two@8081.service > ${D}/gear-proxy-sp-two@9999.service && systemctl daemon-reload && systemctl start ctr-sp-two@9999.socket`);
  const stale = await gear(A, ['clean', '--repair']);
  assert.is(stale.code, 0, stale.stderr);
  assert.match(stale.stdout, /container sp-two has socket unit files \/etc\/systemd\/system\/ctr-sp-two@9999\.socket, \/etc\/systemd\/system\/gear-proxy-sp-two@9999\.service of ports it does not publish: remove the files and stop those units/);
  for (const file of ['ctr-sp-two@9999.socket', 'gear-proxy-sp-two@9999.service']) assert.not.ok(await exists(A, `${D}/${file}`), file);
  assert.is(await active(A, 'ctr-sp-two@9999.socket'), 'inactive');
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket']) await assertListens(A, unit);
});

test('export: Quadlet publishes both ports and says socket activation is not exported', async () => {
  const r = await gear(A, ['export', '--quadlet', 'sp-two']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^PublishPort=${port1}:8080$`, 'm'));
  assert.match(r.stdout, new RegExp(`^PublishPort=${port2}:8081$`, 'm'));
  assert.match(r.stdout, /socket activation .*a socket and a proxy per port\) is not exported/);
});

test('update to another image keeps both sockets, their ports and private ports; the next wake runs the new image', async () => {
  await sh(A, 'docker tag test/two test/two:2');
  const before = await statusJson('sp-two');
  const r = await gear(A, ['update', 'sp-two', '--image', 'test/two:2']);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  const after = await statusJson('sp-two');
  assert.is(after.Image, 'test/two:2');
  assert.equal(after.Socket.Sockets.map((k: { Port: number; PrivatePort: number }) => [k.Port, k.PrivatePort]), before.Socket.Sockets.map((k: { Port: number; PrivatePort: number }) => [k.Port, k.PrivatePort]));
  for (const unit of ['ctr-sp-two.socket', 'ctr-sp-two@8081.socket']) await assertListens(A, unit);
  const woke = await echo(ipA, port2);
  assert.ok(woke, 'the second port wakes it on the new image');
  try {
    assert.match(await sh(A, "docker inspect -f '{{.Config.Image}}' ctr-sp-two"), /test\/two:2/);
  } finally {
    woke.destroy();
  }
});

test('re-install without the second port: its socket and proxy go, its ports are released; the first port still wakes it', async () => {
  const r = await gear(A, ['install', 'test/two', 'sp-two', '--socket-activated', '-p', `8080:${port1}`, '--idle-after', '3s']);
  assert.is(r.code, 0, r.stderr);
  for (const file of ['ctr-sp-two@8081.socket', 'gear-proxy-sp-two@8081.service']) assert.not.ok(await exists(A, `${D}/${file}`), `${file} is gone`);
  assert.is(await active(A, 'ctr-sp-two@8081.socket'), 'inactive');
  assert.is((await sh(A, `ss -Hltn 'sport = :${port2}'`)).trim(), '', `nothing listens on ${port2}`);
  for (const port of [port2, priv[1]!]) assert.not.ok(await exists(A, `/var/lib/gear/ports/${port}`), `port ${port} released`);
  assert.is(await show(A, 'ctr-sp-two.socket', 'SubState'), 'listening', 'it ran, so it runs again');
  assert.not.match(await sh(A, `cat ${D}/ctr-sp-two.socket`), /Requires=/);
  assert.match((await get(ipA, port1))?.body ?? '', /hello from test\/web/);
  // And back: the second port gets a socket again.
  const back = await gear(A, ['install', 'test/two', 'sp-two', '--socket-activated', '-p', `8080:${port1}`, '-p', '8081:0', '--idle-after', '3s']);
  assert.is(back.code, 0, back.stderr);
  port2 = allocatedPort(back.stdout, 8081);
  assert.is(await show(A, 'ctr-sp-two@8081.socket', 'SubState'), 'listening');
  assert.ok(await echoOnce(ipA, port2), 'the new second port answers');
});

test('bad input: one line, exit 1, nothing changed', async () => {
  const before = await stateListing(A);
  const many = Array.from({ length: 17 }, (_, i) => ['-p', `${9000 + i}:0`]).flat();
  const cases: [string[], RegExp][] = [
    [['--socket-activated', ...many], /--socket-activated takes at most 16 published ports \(-p\); 17 are given/],
    [['-p', '8080:0', '-p', '8081:0', '--idle-after', '3s'], /--idle-after needs --socket-activated/],
    [['--socket-activated', '-p', '8080:0', '-p', '8080:0'], /internal port 8080 is listed twice/],
    [['--socket-activated', '-p', '8080:0', '-p', `8081:${port1}`], new RegExp(`port ${port1} is already reserved by container sp-two`)],
  ];
  for (const [args, message] of cases) {
    const r = await gear(A, ['install', 'test/two', 'sp-bad', ...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.is(await stateListing(A), before);
});

test('delete: every port\'s socket and proxy, the container unit and all four ports are gone', async () => {
  const json = await statusJson('sp-two');
  const ports = json.Socket.Sockets.flatMap((s: { Port: number; PrivatePort: number }) => [s.Port, s.PrivatePort]);
  assert.is(ports.length, 4);
  const r = await gear(A, ['delete', 'sp-two']);
  assert.is(r.code, 0, r.stderr);
  const units = ['ctr-sp-two.service', 'ctr-sp-two.socket', 'ctr-sp-two@8081.socket', 'gear-proxy-sp-two.service', 'gear-proxy-sp-two@8081.service'];
  for (const file of [...units, 'gear.target.wants/ctr-sp-two.socket']) assert.not.ok(await exists(A, `${D}/${file}`), `${file} is gone`);
  for (const unit of units) assert.is(await active(A, unit), 'inactive', unit);
  for (const port of ports) {
    assert.not.ok(await exists(A, `/var/lib/gear/ports/${port}`), `port ${port} released`);
    assert.is((await sh(A, `ss -Hltn 'sport = :${port}'`)).trim(), '', `nothing listens on ${port}`);
  }
  assert.not.ok(await hasContainer(A, 'ctr-sp-two'));
  assert.is((await sh(A, `ls ${D} | grep sp-two || true`)).trim(), '');
});

// gear deploy: a socket-activated container with two ports, and a client linked to it.
const TOKEN = 'sock-deploy-token-0123456789abcdef';
const agents = remoteAgents([A, B], TOKEN);
interface Resolved {
  Containers: Record<string, unknown>[];
  Instances: { Id: string; From: string; On: string; Ports: { Internal: number; External: number; Target?: { Host: string; Port: number } }[] }[];
}
const deployFile = 'sock.json';
const app = {
  containers: [
    { name: 'sdb', image: 'test/two', count: 1, publicports: [{ internal: 8080 }, { internal: 8081 }], socketactivation: true, idleafter: '3s' },
    { name: 'sdc', image: 'test/web', count: 1, links: [{ to: 'sdb' }] },
  ],
};
let resolved: Resolved;
const inst = (from: string) => resolved.Instances.find((i) => i.From === from)!;

test('deploy: a socket-activated container with two ports is installed idle; the resolved file keeps SocketActivation and IdleAfter', async () => {
  await buildTwo(B);
  await agents.start();
  writeFileSync(join(agents.dir, deployFile), JSON.stringify(app));
  const r = await agents.cli(['deploy', deployFile, ipA, ipB]);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  const file = readdirSync(agents.dir).filter((f) => f.startsWith(`${deployFile}.`)).sort().pop()!;
  resolved = JSON.parse(readFileSync(join(agents.dir, file), 'utf8'));
  const spec = resolved.Containers.find((c) => c.Name === 'sdb')!;
  assert.is(spec.SocketActivation, true);
  assert.is(spec.IdleAfter, '3s');
  const db = inst('sdb');
  const h = hostOf(db.On);
  for (const unit of [`ctr-${db.Id}.socket`, `ctr-${db.Id}@8081.socket`]) assert.is(await show(h, unit, 'SubState'), 'listening', unit);
  assert.match(await sh(h, `cat ${D}/gear-proxy-${db.Id}@8081.service`), /--exit-idle-time=3s /);
  // Both public ports answer from outside, the second one waking it if the first did not already.
  assert.match((await get(db.On, db.Ports.find((p) => p.Internal === 8080)!.External))?.body ?? '', /hello from test\/web/);
  assert.ok(await echoOnce(db.On, db.Ports.find((p) => p.Internal === 8081)!.External));
  // A second deploy of the same file changes nothing.
  const again = await agents.cli(['deploy', file, ipA, ipB, '--plan']);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /^plan: 0 to install, 0 to change \(0 restarted\), 2 unchanged, 0 to remove$/m, again.stdout);
});

test('deploy: a link from another instance to the idle socket-activated one wakes it, on either port', async () => {
  const db = inst('sdb');
  const client = inst('sdc');
  const h = hostOf(db.On);
  const idle = async () => (await active(h, `ctr-${db.Id}.service`)) === 'inactive' && !(await hasContainer(h, `ctr-${db.Id}`));
  for (const internal of [8080, 8081]) {
    assert.ok(await eventually(idle, 120_000, 500), `${db.Id} idles (before the link to ${internal})`);
    const before = await show(h, `ctr-${db.Id}.service`, 'InvocationID');
    const target = db.Ports.find((p) => p.Internal === internal)!.Target!;
    assert.ok(target, `port ${internal} has a link address`);
    // The echo port: nc runs /tmp/ping on the connection (it sends "ping" and waits for the echo; no
    // half-close, which systemd-socket-proxyd would take for the end of the connection).
    const cmd =
      internal === 8080
        ? ['timeout', '120', 'wget', '-qO-', `http://${target.Host}:${target.Port}/`]
        : ['sh', '-c', `printf '#!/bin/sh\\necho ping\\nread r\\necho "got $r" >&2\\n' >/tmp/ping && chmod +x /tmp/ping && timeout 120 nc ${target.Host} ${target.Port} -e /tmp/ping 2>&1`];
    const out = await run(hostOf(client.On), ['docker', 'exec', `ctr-${client.Id}`, ...cmd]);
    assert.match(out.stdout, internal === 8080 ? /hello from test\/web/ : /got ping/, `link to ${internal}: ${out.stdout}${out.stderr}`);
    // A new run of the container unit (whether it still runs depends on the machine's speed: it idles 3 s after the answer).
    assert.is.not(await show(h, `ctr-${db.Id}.service`, 'InvocationID'), before, `the link to ${internal} woke it`);
  }
});

test('deploy: bad descriptors (IdleAfter without SocketActivation, no port, a bad duration) are refused in one line, nothing installed', async () => {
  const before = [await stateListing(A), await stateListing(B)];
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ name: 'sbad', image: 'test/web', publicports: [{ internal: 8080 }], idleafter: '3s' }, /containers\[0\]\.idleafter needs containers\[0\]\.socketactivation/],
    [{ name: 'sbad', image: 'test/web', socketactivation: true }, /containers\[0\]\.socketactivation needs a published port \(containers\[0\]\.publicports\)/],
    [{ name: 'sbad', image: 'test/web', publicports: [{ internal: 8080 }], socketactivation: true, idleafter: 'soon' }, /containers\[0\]\.idleafter "soon" is not a duration/],
    [{ name: 'sbad', image: 'test/web', publicports: [{ internal: 8080 }], socketactivation: 'yes' }, /containers\[0\]\.socketactivation: must be true or false/],
  ];
  for (const [c, message] of cases) {
    writeFileSync(join(agents.dir, 'bad.json'), JSON.stringify({ containers: [c] }));
    const r = await agents.cli(['deploy', 'bad.json', ipA, ipB]);
    assert.is(r.code, 1, `${JSON.stringify(c)}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal([await stateListing(A), await stateListing(B)], before);
});

test('deploy: removing the instances (count 0) removes every socket and proxy', async () => {
  const db = inst('sdb');
  const h = hostOf(db.On);
  const file = readdirSync(agents.dir).filter((f) => f.startsWith(`${deployFile}.`)).sort().pop()!;
  const d = JSON.parse(readFileSync(join(agents.dir, file), 'utf8'));
  for (const c of d.Containers) c.Count = 0;
  writeFileSync(join(agents.dir, file), JSON.stringify(d));
  const r = await agents.cli(['deploy', file, ipA, ipB]);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.is((await sh(h, `ls ${D} | grep ${db.Id} || true`)).trim(), '');
  for (const p of db.Ports) assert.not.ok(await exists(h, `/var/lib/gear/ports/${p.External}`));
  await agents.stop();
});

test.run();
