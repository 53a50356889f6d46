import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, allocatedPort, eventually, gear, hostIp, httpGet, run, sh, startAgent, stopAgent } from './harness.js';
import { GeardClient, GeardError, requestId } from './geard-client.js';

// geard's own clients against `gear daemon`: every route of GEARD-WIRE.md
// section 3, sent and decoded as geard's client did (./geard-client.ts,
// written from that sheet), to an agent that lets tokenless clients in on
// the host's address only because it was told to.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const ip = hostIp(H);
const ipB = hostIp(B);
const geard = new GeardClient(`${ip}:43273`);

/** GET a URL from inside a container (busybox wget). */
async function inside(name: string, url: string): Promise<string | undefined> {
  const r = await run(H, ['docker', 'exec', `ctr-${name}`, 'timeout', '5', 'wget', '-qO-', url]);
  return r.code === 0 ? r.stdout : undefined;
}
const active = async (name: string) => (await sh(H, `systemctl is-active ctr-${name} || true`)).trim();
const mainPid = async (name: string) => (await sh(H, `systemctl show -p MainPID --value ctr-${name}`)).trim();

/** What geard's client reported for a failed call. */
async function failure(p: Promise<unknown>): Promise<GeardError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GeardError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

// `gear install test/web localhost/cw-web-1 -p 8080:0 --start A=B -v /data` as geard's client sent it
// (GEARD-WIRE.md section 4), with the env id its CLI generated: 16 random bytes in base64url
// (it may start with "-" or "_", which gear takes as an env id though not as a name).
const ENV_ID = requestId();
const INSTALL = {
  Id: 'cw-web-1',
  Image: 'test/web',
  Simple: false,
  Isolate: false,
  SocketActivation: false,
  SkipSocketProxy: false,
  Ports: [{ Internal: 8080 }],
  Environment: { Variables: [{ Name: 'A', Value: 'B' }], Source: '', Id: ENV_ID },
  NetworkLinks: null,
  VolumeConfig: { Volumes: [{ Path: '/data' }], VolumeMounts: null },
  Started: true,
  SystemdSlice: 'container-small',
};
let external = 0;

test.before(async () => {
  await startAgent(H, ['--insecure-tokenless-listen', `${ip}:43273`, '--insecure-plaintext']);
});
test.after(async () => {
  await stopAgent(H);
});

test('the client sends what geard sent: a 22-character base64url request id', () => {
  assert.match(requestId(), /^[A-Za-z0-9_-]{22}$/);
});

test('install (the section 4 body): 202 text, X-PortMapping in the head, the container answers with its env', async () => {
  const r = await geard.install('cw-web-1', INSTALL);
  assert.is(r.status, 202);
  assert.is(r.text, 'Container cw-web-1 is installed and active\n');
  assert.is(r.ports.length, 1);
  assert.is(r.ports[0]!.Internal, 8080);
  external = r.ports[0]!.External;
  assert.ok(external > 0);
  assert.is(await active('cw-web-1'), 'active');
  const page = await eventually(() => httpGet(`http://${ip}:${external}/cgi-bin/env`));
  assert.ok(page && /^A=B$/m.test(page.body), page ? page.body : 'no answer');
  assert.match(await sh(H, 'systemctl show -p Slice --value ctr-cw-web-1'), /^gear\.slice$/m, "geard's container-small runs in gear's slice");
});

test('install without flags and not started: installed, inactive, no ports; list-units shows it only with ?all=1', async () => {
  const bare = { Id: 'cw-idle-1', Image: 'test/web', Simple: false, Isolate: false, SocketActivation: false, SkipSocketProxy: false, Ports: [], Environment: { Variables: null, Source: '', Id: '' }, NetworkLinks: null, VolumeConfig: null, Started: false, SystemdSlice: '' };
  const r = await geard.install('cw-idle-1', bare);
  assert.is(r.text, 'Container cw-idle-1 is installed\n');
  assert.equal(r.ports, []);
  assert.is(await active('cw-idle-1'), 'inactive');
  const loaded = await geard.listUnits();
  const row = loaded.find((c) => c.Id === 'cw-web-1');
  assert.equal(row && [row.ActiveState, row.SubState, row.LoadState, row.Server], ['active', 'running', 'loaded', `${ip}:43273`]);
  assert.not.ok(loaded.some((c) => c.Id === 'cw-idle-1'), 'not loaded: only with all');
  const all = await geard.listUnits(true);
  const idle = all.find((c) => c.Id === 'cw-idle-1');
  assert.equal(idle && [idle.ActiveState, idle.SubState], ['inactive', 'dead']);
});

test('stop, start, restart: 202 text each; stopped before the answer; restart gives a new pid', async () => {
  const stop = await geard.change('PUT', '/container/cw-web-1/stopped');
  assert.is(stop.status, 202);
  assert.is(stop.text, 'Container cw-web-1 is inactive (dead)\n');
  assert.is(await active('cw-web-1'), 'inactive');
  const start = await geard.change('PUT', '/container/cw-web-1/started');
  assert.is(start.text, 'Container cw-web-1 is active (running)\n');
  assert.is(await active('cw-web-1'), 'active');
  const pid = await mainPid('cw-web-1');
  const restart = await geard.change('POST', '/container/cw-web-1/restart');
  assert.is(restart.text, 'Container cw-web-1 is active (running)\n');
  assert.is.not(await mainPid('cw-web-1'), pid);
});

test('status: 202 text like systemctl status; of a missing container: 404, printed as Error: Message', async () => {
  const text = await geard.read('/container/cw-web-1/status');
  assert.match(text, /^● ctr-cw-web-1\.service - gear container cw-web-1 \(test\/web\)$/m);
  assert.match(text, /^ {3}Active: active \(running\)/m);
  assert.match(text, new RegExp(`Ports: 8080 -> ${external}`));
  const missing = await failure(geard.read('/container/cw-ghost/status'));
  assert.is(missing.status, 404);
  assert.is(missing.message, 'Error: container cw-ghost is not installed');
});

test('env and set-env (PATCH merges, PUT replaces) with the body geard sent', async () => {
  assert.is(await geard.read('/environment/cw-web-1'), 'A=B\n');
  // The container's name names the environment it reads: the one of the generated id.
  assert.is(await geard.read(`/environment/${ENV_ID}`), 'A=B\n');
  const patch = await geard.change('PATCH', '/environment/cw-web-1', { Variables: [{ Name: 'C', Value: 'D' }], Source: '', Id: 'cw-web-1' });
  assert.ok(patch.status === 202 || patch.status === 204, String(patch.status));
  assert.is(await geard.read('/environment/cw-web-1'), 'A=B\nC=D\n');
  await geard.change('PUT', '/environment/cw-web-1', { Variables: [{ Name: 'E', Value: 'F' }], Source: '', Id: 'cw-web-1' });
  assert.is(await geard.read('/environment/cw-web-1'), 'E=F\n');
  assert.is((await failure(geard.read('/environment/cw-ghost'))).status, 404);
});

test('link (POST /containers/links, geard body): inside the container, 127.0.0.2:8081 reaches a container on host B', async () => {
  const b = await gear(B, ['install', 'test/web', 'cw-b', '--start', '-p', '8080:0', '-e', 'GREETING=from-b']);
  assert.is(b.code, 0, b.stderr);
  const portB = allocatedPort(b.stdout);
  const r = await geard.change('POST', '/containers/links', { Links: [{ Id: 'cw-web-1', NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 8081, ToPort: portB, ToHost: ipB }] }] });
  assert.ok(r.status === 202 || r.status === 204, String(r.status));
  const page = await eventually(() => inside('cw-web-1', 'http://127.0.0.2:8081/cgi-bin/env'));
  assert.match(page || '', /^GREETING=from-b$/m);
});

test('re-install updates in place: the port by Internal kept, a new one allocated, the volume and its data kept, restarted', async () => {
  await sh(H, 'docker exec ctr-cw-web-1 sh -c "echo kept > /data/file"');
  const pid = await mainPid('cw-web-1');
  const body = { ...INSTALL, Ports: [{ Internal: 8080 }, { Internal: 9090 }], Environment: { Variables: [{ Name: 'A', Value: 'again' }], Source: '', Id: '' } };
  const r = await geard.install('cw-web-1', body);
  assert.is(r.text, 'Container cw-web-1 is updated and active\n');
  assert.is(r.ports.find((p) => p.Internal === 8080)?.External, external, 'its port kept');
  const other = r.ports.find((p) => p.Internal === 9090)?.External ?? 0;
  assert.ok(other > 0 && other !== external);
  assert.is.not(await mainPid('cw-web-1'), pid, 'restarted to apply it');
  assert.is((await sh(H, 'docker exec ctr-cw-web-1 cat /data/file')).trim(), 'kept');
  const page = await eventually(() => httpGet(`http://${ip}:${external}/cgi-bin/env`));
  assert.ok(page && /^A=again$/m.test(page.body), page ? page.body : 'no answer');
  assert.match(await geard.read('/container/cw-web-1/status'), new RegExp(`Ports: 8080 -> ${external}, 9090 -> ${other}`));
  // Its link stays (links have their own route; the install carried none).
  assert.match((await eventually(() => inside('cw-web-1', 'http://127.0.0.2:8081/cgi-bin/env'))) || '', /^GREETING=from-b$/m);
});

test('install refusals: 4xx JSON printed as Error: Message; nothing changed', async () => {
  const socket = await failure(geard.install('cw-web-2', { ...INSTALL, Id: 'cw-web-2', SocketActivation: true }));
  assert.is(socket.status, 400);
  assert.match(socket.message, /^Error: SocketActivation is not supported yet \(body\/SocketActivation must be false or absent\)$/);
  const unknown = await failure(geard.install('cw-web-2', { ...INSTALL, Id: 'cw-web-2', Privileged: false }));
  assert.is(unknown.message, 'Error: invalid request: body has an unknown field "Privileged"');
  const taken = await failure(geard.install('cw-web-2', { ...INSTALL, Id: 'cw-web-2', Ports: [{ Internal: 8080, External: external }] }));
  assert.is(taken.status, 409);
  assert.match(taken.message, new RegExp(`port ${external} is already reserved by container cw-web-1`));
  assert.is((await sh(H, 'ls /var/lib/gear/containers/cw-web-2.json 2>/dev/null || echo none')).trim(), 'none');
});

test('purge: every container stopped and disabled; definitions and volumes kept', async () => {
  const r = await geard.change('DELETE', '/containers');
  assert.ok(r.status === 202 || r.status === 204, String(r.status));
  assert.is(await active('cw-web-1'), 'inactive');
  assert.is((await sh(H, 'systemctl is-enabled ctr-cw-web-1 || true')).trim(), 'disabled');
  const all = await geard.listUnits(true);
  assert.ok(all.some((c) => c.Id === 'cw-web-1') && all.some((c) => c.Id === 'cw-idle-1'), 'still installed');
  assert.ok((await sh(H, 'docker volume ls -q')).includes('gear.cw-web-1.data.'), 'its volume kept');
});

test('delete: 202/204; of a missing id (the one just deleted, or never there) it succeeds too; so does stop', async () => {
  for (const id of ['cw-web-1', 'cw-idle-1']) {
    const r = await geard.change('DELETE', `/container/${id}`);
    assert.ok(r.status === 202 || r.status === 204, String(r.status));
  }
  assert.is((await sh(H, 'ls /var/lib/gear/containers/ | grep -c ^cw- || true')).trim(), '0');
  const again = await geard.change('DELETE', '/container/cw-web-1');
  assert.is(again.text, 'Container cw-web-1 is not installed, nothing to delete\n');
  const stop = await geard.change('PUT', '/container/cw-never-1/stopped');
  assert.is(stop.text, 'Container cw-never-1 is not installed, nothing to stop\n');
  // gear's own CLI says so too, and exits 0.
  const cli = await gear(H, ['delete', 'cw-never-1']);
  assert.is(cli.code, 0, cli.stderr);
  assert.is(cli.stdout, 'cw-never-1 is not installed, nothing to delete\n');
  assert.is((await gear(B, ['delete', 'cw-b'])).code, 0);
});

test.run();
