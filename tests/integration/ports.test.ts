import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, allocatedPort, eventually, gear, run, sh, stateListing } from './harness.js';

test('a port reserved by another container is refused and nothing is written', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'p-1', '-p', '8080:4500'])).code, 0);
  const before = await stateListing(H);
  const r = await gear(H, ['install', 'test/web', 'p-2', '-p', '8080:4500']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^gear: p-2: port 4500 is already reserved by container p-1\n$/);
  assert.is(await stateListing(H), before);
  assert.is((await sh(H, 'cat /var/lib/gear/ports/4500')).trim(), 'p-1');
});

test('a port some host process listens on is never handed out', async () => {
  // A listener outside gear's knowledge, on the first port of a tiny range.
  const squatter = `squatter-${Date.now()}`;
  await sh(H, `systemd-run --collect --unit=${squatter} busybox httpd -f -p 4700`);
  // systemd-run returns once the unit is forked, before httpd listens (a fixed half-second wait was a guess
  // that a loaded machine can miss): wait for the listening socket (port 125C hex, state 0A LISTEN) itself.
  const listening = async () => (await run(H, ['grep', '-qE', ':125C [0-9A-F]+:0000 0A', '/proc/net/tcp', '/proc/net/tcp6'])).code === 0;
  try {
    assert.ok(await eventually(listening, 60_000, 100), 'the squatter listens on 4700');
    const explicit = await gear(H, ['install', 'test/web', 'p-3', '-p', '8080:4700']);
    assert.is(explicit.code, 1);
    assert.match(explicit.stderr, /port 4700 is already in use on the host/);
    const r = await gear(H, ['install', 'test/web', 'p-3', '-p', '8080:0'], { env: { GEAR_PORT_RANGE: '4700-4702' } });
    assert.is(r.code, 0, r.stderr);
    assert.is(allocatedPort(r.stdout), 4701);
    const full = await gear(H, ['install', 'test/web', 'p-4', '-p', '8080:0', '-p', '9090:0'], { env: { GEAR_PORT_RANGE: '4700-4702' } });
    assert.is(full.code, 1);
    assert.match(full.stderr, /no free port left in 4700-4702/);
    assert.is((await sh(H, 'ls /var/lib/gear/ports/4702 2>/dev/null || echo none')).trim(), 'none', 'a failed install gives back what it took');
  } finally {
    await sh(H, `systemctl stop ${squatter} || true`);
  }
});

test('concurrent installs never share a port (separate processes and one process)', async () => {
  const names = Array.from({ length: 8 }, (_, i) => `c-${i}`);
  const script = names.map((n) => `${GEAR} install test/web ${n} -p 8080:0 -p 9090:0 &`).join('\n') + '\nwait';
  await sh(H, script);
  const many = await gear(H, ['install', 'test/web', ...Array.from({ length: 8 }, (_, i) => `d-${i}`), '-p', '8080:0']);
  assert.is(many.code, 0, many.stderr);
  const owners = (await sh(H, 'cd /var/lib/gear/ports && grep -H . *')).trim().split('\n');
  const ports = owners.map((l) => l.split(':')[0]);
  assert.is(new Set(ports).size, ports.length);
  for (const n of [...names, ...Array.from({ length: 8 }, (_, i) => `d-${i}`)]) {
    const def = JSON.parse(await sh(H, `cat /var/lib/gear/containers/${n}.json`));
    for (const p of def.Ports) assert.ok(owners.includes(`${p.External}:${n}`), `${n} owns ${p.External}`);
  }
  assert.is(owners.filter((o) => /:(c|d)-/.test(o)).length, 8 * 2 + 8);
});

test('cleanup: delete releases every port', async () => {
  const all = JSON.parse((await gear(H, ['list-units', '--all', '--json'])).stdout).Containers.map((c: { Id: string }) => c.Id);
  const r = await gear(H, ['delete', ...all]);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'ls /var/lib/gear/ports | wc -l')).trim(), '0');
});

test.run();
