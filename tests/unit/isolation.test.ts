import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostFs } from '../../src/host/fs.js';
import { loadUnitTemplates } from '../../src/host/templates.js';
import { UidReservations } from '../../src/host/uids.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import {
  hostUserName,
  idsInUserDb,
  imageUserRefusal,
  isolationRunArgs,
  mcsLevel,
  parseIdRange,
  selinuxMode,
  selinuxText,
  userDbEntry,
} from '../../src/model/isolation.js';
import { containerUnitRenderer, dockerRunArgs, type UnitContext } from '../../src/model/unit.js';
import { operations } from '../../src/operations/index.js';
import { volumeNameOf } from '../../src/model/volumes.js';
import { cleanHost } from '../../src/operations/clean.js';
import { fakeHost, type FakeHost } from '../fixtures/fake-host.js';

// Isolation's pure logic (model/isolation.ts), its uid reservations on real
// files (host/uids.ts), and install/delete of isolated containers on a fake
// host: the SELinux path (a host that enforces it) is checked here, since
// the test hosts have no SELinux.

test('GEAR_UID_RANGE: FIRST-LAST above the system users, without 65534/65535, not larger than the MCS levels', () => {
  assert.equal(parseIdRange('70000-79999'), { first: 70000, last: 79999 });
  assert.equal(parseIdRange('100000-100000'), { first: 100000, last: 100000 });
  for (const [text, message] of [
    ['70000', /not a range/],
    ['70000-', /not a range/],
    [' 70000-79999', /not a range/],
    ['-1-5', /not a range/],
    ['999-2000', /1000 <= FIRST/],
    ['80000-70000', /1000 <= FIRST/],
    ['60000-65534', /65534-65535/],
    ['65535-70000', /65534-65535/],
    ['100000-2147483647', /2147483646/],
    ['100000-700000', /more than 523776 ids/],
  ] as const)
    assert.throws(() => parseIdRange(text), message, text);
});

test('host user: ctr-NAME where every useradd takes it, else gear-UID', () => {
  assert.is(hostUserName('web-1', 70000), 'ctr-web-1');
  assert.is(hostUserName('db_2', 70001), 'ctr-db_2');
  assert.is(hostUserName('a'.repeat(28), 70002), `ctr-${'a'.repeat(28)}`);
  assert.is(hostUserName('a'.repeat(29), 70003), 'gear-70003');
  assert.is(hostUserName('Web-1', 70004), 'gear-70004');
  assert.is(hostUserName('web.1', 70005), 'gear-70005');
});

test("an image's USER: root or none runs isolated; a user of its own is refused with one line", () => {
  for (const user of [undefined, '', 'root', '0', '0:0', 'root:root', ' root ']) assert.is(imageUserRefusal('img', user), undefined, String(user));
  for (const user of ['nobody', '1000', '1000:1000', 'app:app', 'root:wheel', '0:100']) {
    const why = imageUserRefusal('img', user);
    assert.ok(why, user);
    assert.match(why!, new RegExp(`^image img runs as its own user ${JSON.stringify(user).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(USER in the image\\)`));
    assert.not.match(why!, /\n/);
  }
});

test('MCS levels: two categories, in order, distinct for every index of the range', () => {
  assert.is(mcsLevel(0), 's0:c0,c1');
  assert.is(mcsLevel(1), 's0:c0,c2');
  assert.is(mcsLevel(1022), 's0:c0,c1023');
  assert.is(mcsLevel(1023), 's0:c1,c2');
  assert.is(mcsLevel(523775), 's0:c1022,c1023');
  assert.throws(() => mcsLevel(523776), /no MCS level/);
  assert.throws(() => mcsLevel(-1), /no MCS level/);
  const seen = new Set<string>();
  for (let i = 0; i < 20000; i++) {
    const level = mcsLevel(i);
    const [a, b] = /^s0:c([0-9]+),c([0-9]+)$/.exec(level)!.slice(1).map(Number);
    assert.ok(a! < b! && b! < 1024, level);
    seen.add(level);
  }
  assert.is(seen.size, 20000);
});

test('SELinux: the mode from /sys/fs/selinux/enforce, and what gear says of it', () => {
  assert.is(selinuxMode(undefined), 'disabled');
  assert.is(selinuxMode('1\n'), 'enforcing');
  assert.is(selinuxMode('0\n'), 'permissive');
  const iso = { Uid: 70000, Gid: 70000, User: 'ctr-web-1' };
  assert.is(selinuxText(iso, 'disabled'), 'no SELinux label (SELinux is disabled on this host)');
  assert.is(selinuxText(iso, 'permissive'), 'no SELinux label (SELinux is permissive on this host)');
  assert.match(selinuxText(iso, 'enforcing'), /enforcing now, but was not at install/);
  assert.is(selinuxText({ ...iso, Label: 's0:c0,c1' }, 'enforcing'), 'SELinux level s0:c0,c1');
});

test('docker run of an isolated container: --user, no capabilities, no new privileges, the label only when it has one, volumes nocopy', () => {
  const iso = { Uid: 70000, Gid: 70000, User: 'ctr-web-1' };
  assert.equal(isolationRunArgs(iso), ['--user', '70000:70000', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges']);
  assert.equal(isolationRunArgs({ ...iso, Label: 's0:c3,c7' }).slice(-2), ['--security-opt', 'label=level:s0:c3,c7']);
  const def: ContainerDefinition = {
    Id: 'web-1',
    Image: 'test/web',
    Ports: [],
    VolumeConfig: { Volumes: ['/data'], BindMounts: [{ HostPath: '/srv', ContainerPath: '/srv', ReadOnly: false }] },
    NamedVolumes: [{ Name: 'gear.web-1.data.0123456789', Path: '/data' }],
    SystemdSlice: 'gear.slice',
    Isolation: iso,
    Created: '2026-01-01T00:00:00.000Z',
  };
  const ctx: UnitContext = {
    dockerBin: '/usr/bin/docker',
    runtimeService: 'docker.service',
    envFile: '/var/lib/gear/env/web-1.env',
    definitionFile: '/var/lib/gear/containers/web-1.json',
    stopTimeout: 10,
    version: '1.0.0',
    selfCommand: ['/usr/local/bin/gear'],
    stateDir: '/var/lib/gear',
  };
  const args = dockerRunArgs(def, ctx);
  assert.ok(args.includes('gear.web-1.data.0123456789:/data:nocopy'));
  assert.ok(args.includes('/srv:/srv:rw'), 'a bind mount is the host\'s: as given');
  assert.equal(args.slice(-7), ['--user', '70000:70000', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', 'test/web']);
  const unit = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container)(def, ctx);
  assert.match(unit, /^# gear: isolated, runs as ctr-web-1 \(uid 70000, gid 70000\), no capabilities, no new privileges$/m);
  const plain = dockerRunArgs({ ...def, Isolation: undefined }, ctx);
  assert.ok(plain.includes('gear.web-1.data.0123456789:/data'));
  assert.not.ok(plain.includes('--user'));
});

test('/etc/passwd and /etc/group: the ids in use, an entry by name', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nctr-web-1:x:70000:70000:gear container web-1:/nonexistent:/usr/sbin/nologin\n#bad\n\n';
  assert.equal([...idsInUserDb(passwd)], [0, 70000]);
  assert.equal(userDbEntry(passwd, 'ctr-web-1'), { id: 70000, comment: 'gear container web-1' });
  assert.is(userDbEntry(passwd, 'ctr-web'), undefined);
  assert.equal([...idsInUserDb(undefined)], []);
});

/** A host root with /etc/passwd and /etc/group holding these ids. */
function uidHost(used: number[], range = { first: 70000, last: 70004 }) {
  const h = fakeHost();
  mkdirSync(join(h.root, 'etc'), { recursive: true });
  writeFileSync(join(h.root, 'etc/passwd'), used.map((id) => `u${id}:x:${id}:${id}::/:/bin/false\n`).join(''));
  writeFileSync(join(h.root, 'etc/group'), 'g:x:70001:\n');
  return { ...h, uids: new UidReservations(new HostFs(h.root), '/var/lib/gear/uids', range) };
}

test('uid reservations: the lowest free uid no host user or group has, stable per name, distinct when concurrent, released only by its owner', async () => {
  const h = uidHost([70000]);
  // 70000 is a user's, 70001 a group's.
  assert.equal(await h.uids.reserve('a'), { uid: 70002, fresh: true });
  assert.equal(await h.uids.reserve('a'), { uid: 70002, fresh: false });
  const [b, c] = await Promise.all([h.uids.reserve('b'), h.uids.reserve('c')]);
  assert.equal([b.uid, c.uid].sort(), [70003, 70004]);
  assert.is(readFileSync(join(h.root, 'var/lib/gear/uids/70002'), 'utf8'), 'a\n');
  const full = await h.uids.reserve('d').catch((err: Error) => err);
  assert.match(String(full), /no free uid left in 70000-70004/);
  await h.uids.release('b', c.uid); // not b's
  assert.is(await h.uids.of('c'), c.uid);
  await h.uids.release('c', c.uid);
  assert.is(await h.uids.of('c'), undefined);
  assert.equal(await h.uids.reserve('d'), { uid: c.uid, fresh: true });
});

const install = (h: FakeHost, id: string, body: object) => operations.install.run(h.host, operations.install.parse({ params: { id }, query: {}, body }), {});

test('install parses Isolate: true asks for it; false and null (geard sends them) keep what the container has', () => {
  const parse = (Isolate: unknown) => operations.install.parse({ params: { id: 'w' }, query: {}, body: { Image: 'test/web', Isolate } }) as { Isolate?: true };
  assert.is(parse(true).Isolate, true);
  assert.is(parse(false).Isolate, undefined);
  assert.is(parse(null).Isolate, undefined);
});

test('an isolated install on a host that enforces SELinux: uid, host user, MCS level in the definition and the unit; a re-install keeps them; delete gives them back', async () => {
  const h = fakeHost();
  mkdirSync(join(h.root, 'sys/fs/selinux'), { recursive: true });
  writeFileSync(join(h.root, 'sys/fs/selinux/enforce'), '1\n');
  const r = await install(h, 'web-1', { Image: 'test/web', Isolate: true });
  assert.equal(r.Isolation, { Uid: 70000, Gid: 70000, User: 'ctr-web-1', Label: 's0:c0,c1' });
  assert.is(r.SELinux, 'enforcing');
  const unit = readFileSync(join(h.root, 'etc/systemd/system/ctr-web-1.service'), 'utf8');
  assert.match(unit, /--user 70000:70000 --cap-drop ALL --security-opt no-new-privileges --security-opt label=level:s0:c0,c1 test\/web/);
  assert.equal([...h.users.users], [['ctr-web-1', 70000]]);
  const second = await install(h, 'web-2', { Image: 'test/web', Isolate: true });
  assert.equal(second.Isolation, { Uid: 70001, Gid: 70001, User: 'ctr-web-2', Label: 's0:c0,c2' });
  // Re-installed without the flag (as geard's client sends it: false): still isolated, same uid and level.
  const again = await install(h, 'web-1', { Image: 'test/web', Isolate: false });
  assert.equal(again.Isolation, r.Isolation);
  assert.is(await h.host.uids.of('web-1'), 70000);
  await operations.remove.run(h.host, operations.remove.parse({ params: { id: 'web-1' }, query: {}, body: undefined }), {});
  assert.is(await h.host.uids.of('web-1'), undefined);
  assert.equal([...h.users.users], [['ctr-web-2', 70001]]);
});

test('an image with a USER of its own is refused before anything is reserved', async () => {
  const h = fakeHost();
  h.docker.images.set('test/app', []);
  h.docker.imageUsers.set('test/app', 'app');
  const err = await install(h, 'app-1', { Image: 'test/app', Isolate: true }).catch((e: Error) => e);
  assert.match(String(err), /image test\/app runs as its own user "app"/);
  assert.is(await h.host.uids.of('app-1'), undefined);
  assert.equal(h.users.calls, []);
  assert.is(await h.host.store.read('app-1'), undefined);
});

test("clean: the uid and host user of an install that never reached its definition go; one kept with volumes stays", async () => {
  const h = fakeHost();
  const { uid } = await h.host.uids.reserve('ghost');
  await h.users.ensure('ctr-ghost', uid);
  const keeper = await h.host.uids.reserve('keeper');
  await h.host.store.writeVolumes(h.host.store.keptVolumesFile('keeper'), 'keeper', [{ Name: volumeNameOf('keeper', '/data'), Path: '/data' }]);
  const dry = await cleanHost(h.host, true);
  assert.ok(dry.Removed.includes(`uid ${uid} (reserved by ghost)`), dry.Removed.join('\n'));
  assert.is(await h.host.uids.of('ghost'), uid);
  const r = await cleanHost(h.host, false);
  assert.ok(r.Removed.includes(`uid ${uid} (reserved by ghost)`), r.Removed.join('\n'));
  assert.is(await h.host.uids.of('ghost'), undefined);
  assert.equal([...h.users.users], []);
  assert.is(await h.host.uids.of('keeper'), keeper.uid);
});

test.run();
