import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GearError, failed } from '../../src/model/errors.js';
import { cleanHost } from '../../src/operations/clean.js';
import { operations } from '../../src/operations/index.js';
import { fakeHost, filesUnder, type FakeHost } from '../fixtures/fake-host.js';

// Operation logic in-process, on a temp dir as the host's root with fake
// systemd and Docker: what files, reservations and volumes an install
// leaves when each of its steps fails (none), what clean removes, and a
// restart that finds its container busy.

const installBody = {
  Image: 'test/web',
  Ports: [{ Internal: 8080, External: 0 }],
  VolumeConfig: { Volumes: ['/data', '/logs'] },
  Environment: { Variables: [{ Name: 'A', Value: 'secret' }] },
  NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 5432, ToHost: '10.0.0.9', ToPort: 5432 }],
};
const install = (h: FakeHost, id: string, body: object = installBody) =>
  operations.install.run(h.host, operations.install.parse({ params: { id }, query: {}, body }), {});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

test('a successful install writes the definition, env, links, unit, port and volumes', async () => {
  const h = fakeHost();
  const r = await install(h, 'web');
  assert.equal(r.Ports, [{ Internal: 8080, External: 41000 }]);
  assert.equal(filesUnder(h.root), [
    '/etc/systemd/system/ctr-web.service',
    '/var/lib/gear/containers/web.json',
    '/var/lib/gear/env/web.env',
    '/var/lib/gear/links/web.json',
    '/var/lib/gear/ports/41000',
    '/var/lib/gear/volumes/web.json',
  ]);
  assert.is(h.docker.volumes.size, 2);
});

// Each step of an install, made to fail; the rest is real.
const steps: [string, (h: FakeHost) => void][] = [
  ['reserving a port (taken by another container)', (h) => {
    mkdirSync(join(h.root, 'var/lib/gear/ports'), { recursive: true });
    writeFileSync(join(h.root, 'var/lib/gear/ports/41005'), 'other\n');
  }],
  ['creating the second volume', (h) => {
    const create = h.docker.createVolume.bind(h.docker);
    let n = 0;
    h.docker.createVolume = async (name, labels) => {
      if (++n === 2) throw failed('docker: no space left');
      return create(name, labels);
    };
  }],
  ['writing the env file', (h) => void (h.host.store.writeEnv = async () => { throw failed('disk full'); })],
  ['writing the links file', (h) => void (h.host.store.writeLinks = async () => { throw failed('disk full'); })],
  ['writing the unit file', (h) => void (h.host.units.write = async () => { throw failed('disk full'); })],
  ['reloading systemd', (h) => {
    h.systemd.stale = true;
    h.systemd.fail.reload = failed('systemd: Reload failed');
  }],
  ['writing the definition (the commit)', (h) => void (h.host.store.write = async () => { throw failed('disk full'); })],
];

for (const [step, breakIt] of steps) {
  test(`install failing at ${step} leaves nothing behind`, async () => {
    const h = fakeHost();
    breakIt(h);
    const before = filesUnder(h.root);
    const body = step.startsWith('reserving') ? { ...installBody, Ports: [{ Internal: 8080, External: 41005 }] } : installBody;
    const err = await rejection(install(h, 'web', body));
    assert.instance(err, GearError);
    assert.equal(filesUnder(h.root), before, 'no file, reservation or record left');
    assert.equal([...h.docker.volumes.keys()], [], 'no volume left');
    assert.ok(!h.systemd.calls.some((c) => c.startsWith('start')), 'nothing started');
  });
}

test('install failing after Docker went away: the volumes it could not remove stay recorded, the error names them and gear clean, which removes them', async () => {
  const h = fakeHost();
  // Docker stops after the volumes were made: the unit's step fails, and so does every volume call of the undo.
  h.host.units.write = async () => {
    h.docker.fail.volume = failed('docker: Docker is not running');
    h.docker.fail.removeVolume = failed('docker: Docker is not running');
    throw failed('docker: Docker is not running');
  };
  const err = await rejection(install(h, 'web'));
  assert.instance(err, GearError);
  assert.match(err.message, /^docker: Docker is not running; its new volumes gear\.web\.\S+, gear\.web\.\S+ could not be removed: once Docker runs, `gear clean` removes them$/);
  assert.equal(filesUnder(h.root), ['/var/lib/gear/volumes/web.json'], 'only the record of the volumes left');
  assert.is(h.docker.volumes.size, 2);
  // Docker back: clean removes them and their record.
  delete h.docker.fail.volume;
  delete h.docker.fail.removeVolume;
  const cleaned = await cleanHost(h.host);
  assert.is(cleaned.Removed.filter((r) => r.startsWith('volume gear.web.')).length, 2, cleaned.Removed.join('\n'));
  assert.equal(filesUnder(h.root), []);
  assert.is(h.docker.volumes.size, 0);
});

test('install --start whose start fails stays installed, and says so', async () => {
  const h = fakeHost();
  h.systemd.fail.start = failed('start of ctr-web.service failed');
  const err = await rejection(install(h, 'web', { ...installBody, Started: true }));
  assert.match(err.message, /container web is installed but did not start/);
  assert.ok(filesUnder(h.root).includes('/var/lib/gear/containers/web.json'));
});

test('clean removes what an install killed before its commit left, and nothing of installed containers', async () => {
  const h = fakeHost();
  await install(h, 'kept');
  await install(h, 'crashed');
  // As if killed just before writing its definition.
  await h.host.fs.remove('/var/lib/gear/containers/crashed.json');
  const result = await cleanHost(h.host);
  assert.ok(h.systemd.calls.includes('stop ctr-crashed.service'), 'its unit stopped');
  assert.ok(result.Removed.includes('/etc/systemd/system/ctr-crashed.service'), result.Removed.join('\n'));
  assert.equal(result.NotRemoved, []);
  assert.equal(filesUnder(h.root), [
    '/etc/systemd/system/ctr-kept.service',
    '/var/lib/gear/containers/kept.json',
    '/var/lib/gear/env/kept.env',
    '/var/lib/gear/links/kept.json',
    '/var/lib/gear/ports/41000',
    '/var/lib/gear/volumes/kept.json',
  ]);
  assert.equal([...h.docker.volumes.values()].map((v) => v.Labels?.['io.gear.container']), ['kept', 'kept']);
});

test('clean --dry-run lists what clean would remove and changes nothing; clean then removes exactly that', async () => {
  const h = fakeHost();
  await install(h, 'kept');
  await install(h, 'crashed');
  await h.host.fs.remove('/var/lib/gear/containers/crashed.json');
  const before = filesUnder(h.root);
  const volumes = h.docker.volumes.size;
  const calls = h.systemd.calls.length;
  const dry = await cleanHost(h.host, true);
  assert.is(dry.DryRun, true);
  assert.ok(dry.Removed.includes('/etc/systemd/system/ctr-crashed.service'), dry.Removed.join('\n'));
  assert.ok(dry.Removed.some((r) => r.startsWith('volume gear.crashed.')), dry.Removed.join('\n'));
  assert.equal(filesUnder(h.root), before, 'no file removed');
  assert.is(h.docker.volumes.size, volumes, 'no volume removed');
  assert.equal(h.systemd.calls.slice(calls), [], 'no unit stopped');
  const real = await cleanHost(h.host);
  assert.equal(real.Removed, dry.Removed);
  assert.is(real.DryRun, undefined);
});

test('clean lists volumes kept by delete --keep-volumes and leaves them', async () => {
  const h = fakeHost();
  await install(h, 'db');
  await operations.remove.run(h.host, { Id: 'db', KeepVolumes: true }, {});
  const result = await cleanHost(h.host);
  assert.equal(result.Kept.map((k) => [k.Id, k.Path]), [['db', '/data'], ['db', '/logs']]);
  assert.is(h.docker.volumes.size, 2);
  assert.equal(filesUnder(h.root), ['/var/lib/gear/kept-volumes/db.json']);
});

test('restart of a container whose unit is changing state is refused as busy, nothing restarted', async () => {
  const h = fakeHost();
  await install(h, 'web');
  h.systemd.units.set('ctr-web.service', { Id: 'ctr-web.service', LoadState: 'loaded', ActiveState: 'activating', SubState: 'start' });
  const err = await rejection(operations.restart.run(h.host, { Id: 'web' }, {}));
  assert.instance(err, GearError);
  assert.is((err as GearError).kind, 'busy');
  assert.ok(!h.systemd.calls.some((c) => c.startsWith('restart')));
});

test('restart waits for the container lock another operation holds, then restarts', async () => {
  const h = fakeHost();
  await install(h, 'web');
  let restarted = false;
  await h.host.locks.with('web', async () => {
    const restart = operations.restart.run(h.host, { Id: 'web' }, {}).then(() => (restarted = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!h.systemd.calls.some((c) => c.startsWith('restart')), 'not while the lock is held');
    void restart;
  });
  for (let i = 0; i < 100 && !restarted; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(restarted);
  assert.ok(h.systemd.calls.includes('restart ctr-web.service'));
});

test.run();
