import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, curl, gear, run, sh, startAgent, stopAgent } from './harness.js';

// podman as a host's runtime, with the real podman of the test host
// (Debian 12's 4.3) and its Docker-compatible API (podman.socket): install
// through that API (image, labelled named volumes), the unit systemd
// verifies, `podman create` with the unit's own arguments, doctor, the
// install's check, delete. What cannot run here: starting a container.
// podman's storage needs an overlay mount, and inside these sandboxes
// (/var/lib/containers on the host's overlay root, no /dev/fuse) both the
// kernel's overlay and fuse-overlayfs refuse it ("fuse: device not found"),
// so `podman start`, and with it `gear start`, fails; docs/export.md.
const PODMAN = { GEAR_RUNTIME: 'podman' };
const podman = (args: string) => sh(A, `podman ${args}`);

test.before(async () => {
  await sh(A, 'systemctl start podman.socket');
  // The test image from the host's Docker into podman's store (podman names it localhost/test/web).
  await sh(A, 'docker save test/web | podman load >/dev/null');
});

test.after(async () => {
  await gear(A, ['delete', 'pod-1'], { env: PODMAN });
  await stopAgent(A);
  await run(A, ['sh', '-c', 'podman rm -af >/dev/null 2>&1; podman rmi -af >/dev/null 2>&1; systemctl stop podman.socket podman.service']);
});

let unit = '';

test('install --runtime podman: through podman API, with a labelled named volume; the unit runs podman and systemd verifies it', async () => {
  const r = await gear(A, ['install', '--runtime', 'podman', 'test/web', 'pod-1', '-p', '8080:0', '-v', '/data', '-e', 'SECRET=s3cret',
    '--health-cmd', 'test -f /start', '--memory', '64M'], { env: PODMAN });
  assert.is(r.code, 0, r.stderr);
  unit = await sh(A, 'cat /etc/systemd/system/ctr-pod-1.service');
  const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
  assert.match(exec, /^ExecStart=\/usr\/bin\/podman run --rm --name ctr-pod-1 --label io\.gear\.container=pod-1 --env-file \/var\/lib\/gear\/env\/pod-1\.env -p \d+:8080 -v gear\.pod-1\.data\.[0-9a-f]+:\/data --health-cmd "test -f \/start" /);
  assert.match(exec, / --health-on-failure kill /);
  assert.match(exec, / --memory 67108864 --memory-swap 67108864 test\/web$/);
  assert.match(unit, /^Requires=podman\.socket$/m);
  assert.is(JSON.parse(await sh(A, 'cat /var/lib/gear/containers/pod-1.json')).Runtime, 'podman');
  const verify = await run(A, ['systemd-analyze', 'verify', '/etc/systemd/system/ctr-pod-1.service']);
  assert.is(verify.code, 0, verify.stderr);
  assert.not.match(verify.stderr, /ctr-pod-1\.service:\d+/, verify.stderr);
  // The volume is podman's, with gear's labels, as Docker's would be.
  const volumes = (await podman(`volume ls --filter label=io.gear.container=pod-1 --format '{{.Name}}'`)).trim().split('\n');
  assert.is(volumes.length, 1);
  assert.match(exec, new RegExp(`-v ${volumes[0]!.replace(/\./g, '\\.')}:/data`));
  assert.equal(JSON.parse(await podman(`volume inspect ${volumes[0]} --format '{{json .Labels}}'`)), { 'io.gear.container': 'pod-1', 'io.gear.path': '/data', 'io.gear.volume': '1' });
});

test("podman create takes the unit's own arguments: the container it describes exists, with gear's label", async () => {
  const args = unit.split('\n').find((l) => l.startsWith('ExecStart='))!.replace('ExecStart=/usr/bin/podman run --rm ', '');
  // (The line has no "$" or "%": systemd's unquoting is the shell's for it.)
  assert.not.match(args, /[$%]/);
  await sh(A, `podman create ${args} >/dev/null`);
  assert.is((await podman(`inspect --type container -f '{{.State.Status}} {{index .Config.Labels "io.gear.container"}}' ctr-pod-1`)).trim(), 'created pod-1');
  await podman('rm -f ctr-pod-1 >/dev/null');
});

test('doctor says the host runs podman, and reaches its API', async () => {
  const r = await gear(A, ['doctor', '--json'], { env: PODMAN });
  const findings = JSON.parse(r.stdout).Hosts.local.Findings as { Check: string; Level: string; Message: string }[];
  const f = (c: string) => findings.find((x) => x.Check === c)!;
  assert.is(f('runtime').Level, 'ok');
  assert.match(f('runtime').Message, /^containers run with podman: \/usr\/bin\/podman/);
  assert.match(f('docker').Message, /^podman's Docker API 4\.[0-9.]+ \(API [0-9.]+\) reachable$/);
});

test('a runtime that is not the host\'s: 400 / one line, exit 1, nothing installed; through the agent the same', async () => {
  const r = await gear(A, ['install', '--runtime', 'docker', 'test/web', 'pod-2'], { env: PODMAN });
  assert.is(r.code, 1);
  assert.is(r.stderr.trim(), "gear: pod-2: this host runs its containers with podman, not docker (a host's runtime is its agent's GEAR_RUNTIME, one per host)");
  assert.not.ok((await run(A, ['test', '-e', '/var/lib/gear/containers/pod-2.json'])).code === 0);
  const bad = await gear(A, ['install', '--runtime', 'lxc', 'test/web', 'pod-2']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /--runtime "lxc" must be docker or podman/);
  await startAgent(A, [], PODMAN);
  const api = await curl(A, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', 'http://agent/container/pod-2', '-d', JSON.stringify({ Image: 'test/web', Runtime: 'docker' })]);
  assert.is(api.status, 400, api.body);
  assert.match(api.body, /runs its containers with podman, not docker/);
  await stopAgent(A);
});

test("export --quadlet of a podman host's container names the image as podman has it", async () => {
  const r = await gear(A, ['export', '--quadlet', 'pod-1'], { env: PODMAN });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Image=localhost\/test\/web:latest$/m);
  assert.match(r.stdout, /^Volume=gear\.pod-1\.data\.[0-9a-f]+:\/data$/m);
});

test('delete removes the container\'s volume through podman\'s API', async () => {
  const r = await gear(A, ['delete', 'pod-1'], { env: PODMAN });
  assert.is(r.code, 0, r.stderr);
  assert.is((await podman(`volume ls --filter label=io.gear.container=pod-1 --format '{{.Name}}'`)).trim(), '');
});

test.run();
