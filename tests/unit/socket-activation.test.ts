import Handlebars from 'handlebars';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadUnitTemplates } from '../../src/host/templates.js';
import { reservedPortsOf, type ContainerDefinition } from '../../src/model/definition.js';
import { GearError } from '../../src/model/errors.js';
import {
  SOCKET_UNIT_HEADER,
  activatedPorts,
  activationUnitsOf,
  isMorePortUnit,
  listeningGateScript,
  parseSocketActivation,
  proxyUnitOf,
  proxyUnitText,
  socketStateWord,
  socketsActiveState,
  socketUnitOf,
  socketUnitText,
} from '../../src/model/socket-activation.js';
import { containerUnitRenderer, dockerRunArgs, type UnitContext } from '../../src/model/unit.js';
import { operations, type RawRequest } from '../../src/operations/index.js';

const def: ContainerDefinition = {
  Id: 'web-4',
  Image: 'test/web',
  Ports: [{ Internal: 8080, External: 4100 }],
  VolumeConfig: { Volumes: [], BindMounts: [] },
  SystemdSlice: 'gear.slice',
  SocketActivation: { PrivatePort: 4101, IdleAfterMs: 600_000 },
  Created: '2026-01-01T00:00:00.000Z',
};
const ctx: UnitContext = {
  dockerBin: '/usr/bin/docker',
  runtimeService: 'docker.service',
  envFile: '/var/lib/gear/env/web-4.env',
  definitionFile: '/var/lib/gear/containers/web-4.json',
  stopTimeout: 10,
  version: '1.0.0',
  selfCommand: ['/usr/bin/node', '/opt/gear/dist/gear.js'],
  stateDir: '/var/lib/gear',
};
const sctx = { version: '1.0.0', proxyd: '/lib/systemd/systemd-socket-proxyd', definitionFile: '/var/lib/gear/containers/web-4.json' };
const render = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container);

function invalidWith(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, GearError, String(err));
    assert.is((err as GearError).kind, 'invalid');
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable('accepted');
}

const one = [{ Internal: 8080, External: 0 }];

test('the request: SocketActivation with an optional IdleAfter, one port, no SkipSocketProxy', () => {
  assert.is(parseSocketActivation({}, one), undefined);
  assert.is(parseSocketActivation({ SocketActivation: false, SkipSocketProxy: true }, one), undefined);
  assert.is(parseSocketActivation({ SocketActivation: null, IdleAfter: null }, one), undefined);
  assert.equal(parseSocketActivation({ SocketActivation: true }, one), {});
  assert.equal(parseSocketActivation({ SocketActivation: true, SkipSocketProxy: false, IdleAfter: '10m' }, one), { IdleAfterMs: 600_000 });
  assert.equal(parseSocketActivation({ SocketActivation: true, IdleAfter: '1.5s' }, one), { IdleAfterMs: 1500 });
  invalidWith(() => parseSocketActivation({ IdleAfter: '10m' }, one), /^IdleAfter needs SocketActivation/);
  invalidWith(() => parseSocketActivation({ SocketActivation: true, SkipSocketProxy: true }, one), /^SkipSocketProxy is not supported with SocketActivation/);
  invalidWith(() => parseSocketActivation({ SocketActivation: true }, []), /^SocketActivation needs a published port \(Ports\); none is given/);
  // Several ports: a socket and a proxy each, up to 16.
  assert.equal(parseSocketActivation({ SocketActivation: true }, [...one, { Internal: 9090, External: 0 }]), {});
  const many = Array.from({ length: 17 }, (_, i) => ({ Internal: 8000 + i, External: 0 }));
  invalidWith(() => parseSocketActivation({ SocketActivation: true }, many), /^SocketActivation takes at most 16 published ports \(Ports\); 17 are given/);
  assert.equal(parseSocketActivation({ SocketActivation: true }, many.slice(1)), {});
  for (const bad of ['soon', '', '10 m', '5d', '-1s', '3s\nExecStart=/bin/sh', '1e3', '%n'])
    invalidWith(() => parseSocketActivation({ SocketActivation: true, IdleAfter: bad }, one), /^IdleAfter .* is not a duration/);
  invalidWith(() => parseSocketActivation({ SocketActivation: true, IdleAfter: '500ms' }, one), /^IdleAfter 500ms must be between 1s and 24h/);
  invalidWith(() => parseSocketActivation({ SocketActivation: true, IdleAfter: '25h' }, one), /must be between 1s and 24h/);
  const cli = { activation: '--socket-activated', idle: '--idle-after', skip: 'SkipSocketProxy', ports: '-p' };
  invalidWith(() => parseSocketActivation({ IdleAfter: '3s' }, one, cli), /^--idle-after needs --socket-activated/);
});

test('install over the API: SocketActivation true is taken (in geard\'s wire shape), bad values are refused', () => {
  const req = (body: Record<string, unknown>): RawRequest => ({ params: { id: 'web-4' }, query: {}, body: { Image: 'test/web', Ports: [{ Internal: 8080 }], ...body } });
  const geard = { Simple: false, Isolate: false, SkipSocketProxy: false, Environment: { Variables: null, Source: '', Id: '' }, NetworkLinks: null, VolumeConfig: null };
  assert.equal(operations.install.parse(req({ ...geard, SocketActivation: true })).SocketActivation, {});
  assert.equal(operations.install.parse(req({ SocketActivation: true, IdleAfter: '3s' })).SocketActivation, { IdleAfterMs: 3000 });
  assert.is(operations.install.parse(req({ ...geard, SocketActivation: false })).SocketActivation, undefined);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ SocketActivation: 'yes' }, /body\/SocketActivation must be/],
    [{ SocketActivation: true, IdleAfter: 600 }, /body\/IdleAfter must be/],
    [{ SocketActivation: true, IdleAfter: 'x'.repeat(33) }, /body\/IdleAfter/],
    [{ IdleAfter: '3s' }, /IdleAfter needs SocketActivation/],
  ];
  for (const [body, message] of cases) {
    try {
      operations.install.parse(req(body));
      assert.unreachable(JSON.stringify(body));
    } catch (err) {
      assert.match((err as Error).message, message);
    }
  }
});

test('the socket unit: the public port, the proxy as its service, enabled in gear.target', () => {
  const text = socketUnitText('web-4', activatedPorts(def)[0]!, activatedPorts(def), sctx);
  assert.not.match(text, /Requires=|PartOf=/);
  assert.match(text, SOCKET_UNIT_HEADER);
  assert.match(text, /^\[Socket\]\nListenStream=4100\nFreeBind=yes\nAccept=no\nService=gear-proxy-web-4\.service$/m);
  assert.match(text, /^\[Install\]\nWantedBy=gear\.target$/m);
  assert.is(socketUnitOf('web-4'), 'ctr-web-4.socket');
  assert.is(proxyUnitOf('web-4'), 'gear-proxy-web-4.service');
  // The proxy's name is outside ctr-*.service: no container name can collide with it, and listings never take it for one.
  assert.not.match(proxyUnitOf('web-4'), /^ctr-/);
});

test('the proxy unit: requires and follows the container and the socket; idles when asked to', () => {
  const [port] = activatedPorts(def);
  const text = proxyUnitText('web-4', port!, def.SocketActivation!, 'gear-small.slice', sctx);
  assert.match(text, SOCKET_UNIT_HEADER);
  assert.match(text, /^Wants=ctr-web-4\.service$/m);
  assert.match(text, /^Requires=ctr-web-4\.socket$/m);
  assert.match(text, /^After=ctr-web-4\.service ctr-web-4\.socket$/m);
  assert.match(text, /^Slice=gear-small\.slice$/m);
  assert.match(text, /^ExecStart=\/lib\/systemd\/systemd-socket-proxyd --exit-idle-time=10m 127\.0\.0\.1:4101$/m);
  const never = proxyUnitText('web-4', port!, { PrivatePort: 4101 }, 'gear.slice', sctx);
  assert.match(never, /^ExecStart=\/lib\/systemd\/systemd-socket-proxyd 127\.0\.0\.1:4101$/m);
  assert.match(proxyUnitText('web-4', port!, { PrivatePort: 4101, IdleAfterMs: 1500 }, 'gear.slice', sctx), /--exit-idle-time=1500ms /);
  // A % in a name or path is a specifier to systemd: escaped.
  assert.match(proxyUnitText('web-4', port!, { PrivatePort: 4101 }, 'gear.slice', { ...sctx, proxyd: '/opt/50%/proxyd' }), /^ExecStart="\/opt\/50%%\/proxyd" /m);
});

test('the container unit: its port on loopback at the private port, StopWhenUnneeded, the listening gate instead of the running gate', () => {
  const args = dockerRunArgs(def, ctx);
  assert.ok(args.includes('127.0.0.1:4101:8080'), args.join(' '));
  assert.not.ok(args.some((a) => a.startsWith('4100')), 'the public port is the socket\'s');
  const text = render(def, ctx);
  assert.match(text, /^StopWhenUnneeded=yes$/m);
  const posts = text.split('\n').filter((l) => l.startsWith('ExecStartPost='));
  assert.is(posts.length, 1, posts.join('\n'));
  assert.match(posts[0]!, /\/proc\/\$\$p\/net\/tcp/);
  assert.match(posts[0]!, /:1F90 /);
  // Not socket-activated: none of it.
  const plain = render({ ...def, SocketActivation: undefined }, ctx);
  assert.not.match(plain, /StopWhenUnneeded/);
  assert.match(plain, /-p 4100:8080/);
  assert.equal(reservedPortsOf(def), [4100, 4101]);
  assert.equal(reservedPortsOf({ ...def, SocketActivation: undefined }), [4100]);
});

/** Two published ports: 8080 on 4100 (private 4101), 8081 on 4102 (private 4103). */
const two: ContainerDefinition = {
  ...def,
  Ports: [{ Internal: 8080, External: 4100 }, { Internal: 8081, External: 4102 }],
  SocketActivation: { PrivatePort: 4101, PrivatePorts: [{ Internal: 8080, Private: 4101 }, { Internal: 8081, Private: 4103 }], IdleAfterMs: 3000 },
};

test('several ports: a socket and a proxy each; the first socket requires the others, which are part of it', () => {
  const ports = activatedPorts(two);
  assert.equal(ports, [
    { Internal: 8080, Public: 4100, Private: 4101, Socket: 'ctr-web-4.socket', Proxy: 'gear-proxy-web-4.service' },
    { Internal: 8081, Public: 4102, Private: 4103, Socket: 'ctr-web-4@8081.socket', Proxy: 'gear-proxy-web-4@8081.service' },
  ]);
  assert.equal(activationUnitsOf(two), ['ctr-web-4.socket', 'ctr-web-4@8081.socket', 'gear-proxy-web-4.service', 'gear-proxy-web-4@8081.service']);
  assert.equal(activationUnitsOf({ ...two, SocketActivation: undefined }), []);
  const first = socketUnitText('web-4', ports[0]!, ports, sctx);
  assert.match(first, /^Requires=ctr-web-4@8081\.socket\nAfter=ctr-web-4@8081\.socket$/m);
  assert.match(first, /^ListenStream=4100$/m);
  assert.match(first, /^\[Install\]\nWantedBy=gear\.target$/m);
  const second = socketUnitText('web-4', ports[1]!, ports, sctx);
  assert.match(second, SOCKET_UNIT_HEADER);
  assert.match(second, /^PartOf=ctr-web-4\.socket$/m);
  assert.match(second, /^ListenStream=4102$/m);
  assert.match(second, /^Service=gear-proxy-web-4@8081\.service$/m);
  assert.not.match(second, /\[Install\]|Requires=/);
  const proxy = proxyUnitText('web-4', ports[1]!, two.SocketActivation!, 'gear.slice', sctx);
  assert.match(proxy, /^Wants=ctr-web-4\.service$/m);
  assert.match(proxy, /^Requires=ctr-web-4@8081\.socket$/m);
  assert.match(proxy, /^ExecStart=\/lib\/systemd\/systemd-socket-proxyd --exit-idle-time=3s 127\.0\.0\.1:4103$/m);
  // The container: both ports on loopback at their private ports; the gate waits for both.
  const args = dockerRunArgs(two, ctx);
  assert.ok(args.includes('127.0.0.1:4101:8080') && args.includes('127.0.0.1:4103:8081'), args.join(' '));
  const gate = render(two, ctx).split('\n').find((l) => l.startsWith('ExecStartPost='))!;
  assert.match(gate, /:1F90 .*:1F91 /);
  assert.match(gate, /ended before it listened on ports 8080, 8081/);
  assert.equal(reservedPortsOf(two), [4100, 4102, 4101, 4103]);
  // Only that container's further ports' units: a name cannot contain "@".
  assert.ok(isMorePortUnit('web-4', 'ctr-web-4@8081.socket'));
  assert.ok(isMorePortUnit('web-4', 'gear-proxy-web-4@8081.service'));
  for (const other of ['ctr-web-4.socket', 'ctr-web-4-2@8081.socket', 'ctr-web@8081.socket', 'ctr-web-4@x.socket', 'ctr-web-4@8081.service', 'gear-proxy-web-4@8081.socket'])
    assert.not.ok(isMorePortUnit('web-4', other), other);
  // A definition without the port's private port is an error, not a wrong unit.
  assert.throws(() => activatedPorts({ ...two, SocketActivation: { PrivatePort: 4101 } }), /no private port for port 8081/);
});

test('several sockets together: failed when one failed, listening only when all are', () => {
  assert.is(socketsActiveState(['active', 'active']), 'active');
  assert.is(socketsActiveState(['active', 'inactive']), 'inactive');
  assert.is(socketsActiveState(['inactive', 'failed']), 'failed');
  assert.is(socketStateWord(socketsActiveState(['active', 'inactive']), 'active'), 'stopped');
});

test('state in a word: idle, waking, awake, stopped, failed', () => {
  assert.is(socketStateWord('active', 'inactive'), 'idle');
  assert.is(socketStateWord('active', 'failed'), 'idle');
  assert.is(socketStateWord('active', 'active'), 'awake');
  assert.is(socketStateWord('active', 'activating'), 'waking');
  assert.is(socketStateWord('inactive', 'inactive'), 'stopped');
  assert.is(socketStateWord('inactive', 'active'), 'stopped');
  assert.is(socketStateWord('failed', 'inactive'), 'failed');
});

/**
 * The listening gate run by /bin/sh against a fake docker client whose
 * inspect prints a pid from a file, and this process's real socket table:
 * it waits for a listener on the port in that pid's network namespace.
 */
function fakeDocker() {
  const dir = mkdtempSync(join(tmpdir(), 'gear-listen-'));
  writeFileSync(`${dir}/pid`, '');
  writeFileSync(`${dir}/docker`, `#!/bin/sh\necho "$*" >> ${dir}/calls\ncat ${dir}/pid\n`);
  chmodSync(`${dir}/docker`, 0o755);
  const calls = () => readFileSync(`${dir}/calls`, 'utf8').trim().split('\n');
  return { dir, calls, setPid: (pid: string) => writeFileSync(`${dir}/pid`, pid), done: () => rmSync(dir, { recursive: true, force: true }) };
}

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
const freePort = async () => {
  const s = await listen(0);
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
};

test('the listening gate: waits for the container to run and listen on its port, then the start completes', async () => {
  const d = fakeDocker();
  const main = spawn('sleep', ['300']);
  const port = await freePort();
  let server: Server | undefined;
  try {
    const gate = spawn('/bin/sh', ['-c', listeningGateScript(`${d.dir}/docker`, 'ctr-web-4', [port])], { env: { ...process.env, MAINPID: String(main.pid) } });
    let exited = false;
    const exit = new Promise<number | null>((r) => gate.on('exit', (code) => ((exited = true), r(code))));
    // Not running yet (inspect prints nothing), then running but not listening: the gate waits.
    for (let n = 0; n < 2; n++) await until(() => callCount(d) > n);
    d.setPid(String(process.pid));
    const seen = callCount(d);
    await until(() => callCount(d) > seen + 1);
    assert.not.ok(exited, 'it waits while nothing listens');
    server = await listen(port);
    assert.is(await exit, 0);
    assert.ok(d.calls().every((c) => c === 'inspect --type container -f {{if .State.Running}}{{.State.Pid}}{{end}} ctr-web-4'), d.calls().join('\n'));
  } finally {
    server?.close();
    main.kill('SIGKILL');
    d.done();
  }
});

test('the listening gate: the docker run client gone first, the start fails', async () => {
  const d = fakeDocker();
  const main = spawn('sleep', ['300']);
  try {
    const gate = spawn('/bin/sh', ['-c', listeningGateScript(`${d.dir}/docker`, 'ctr-web-4', [await freePort()])], { env: { ...process.env, MAINPID: String(main.pid) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    gate.stderr!.on('data', (b) => (stderr += b));
    const exit = new Promise<number | null>((r) => gate.on('exit', (code) => r(code)));
    await until(() => callCount(d) > 0);
    main.kill('SIGKILL');
    assert.is(await exit, 1);
    assert.match(stderr, /gear: ctr-web-4 ended before it listened on port/);
  } finally {
    d.done();
  }
});

function callCount(d: { calls: () => string[] }): number {
  try {
    return d.calls().length;
  } catch {
    return 0;
  }
}

async function until(ready: () => boolean): Promise<void> {
  for (let waited = 0; !ready(); waited += 20) {
    if (waited > 60_000) throw new Error('never got there');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.run();
