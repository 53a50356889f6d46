import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  imageVolumePath,
  isVolumeOf,
  parseVolumeFlag,
  planVolumes,
  validateNamedVolumes,
  validateVolumeConfig,
  volumeLabels,
  volumeNameOf,
  type VolumeConfig,
} from '../../src/model/volumes.js';
import { install } from '../../src/operations/install.js';

test('-v flags: bind mounts with ro/rw, and anonymous volumes', () => {
  const v: VolumeConfig = { Volumes: [], BindMounts: [] };
  parseVolumeFlag('/srv/data:/data:ro', v);
  parseVolumeFlag('/srv/my files:/files', v);
  parseVolumeFlag('/cache', v);
  assert.equal(v, {
    Volumes: ['/cache'],
    BindMounts: [
      { HostPath: '/srv/data', ContainerPath: '/data', ReadOnly: true },
      { HostPath: '/srv/my files', ContainerPath: '/files', ReadOnly: false },
    ],
  });
});

test('-v flags: relative, traversal, control characters and bad modes are refused', () => {
  const v: VolumeConfig = { Volumes: [], BindMounts: [] };
  for (const bad of ['srv:/data', '/srv/../etc:/data', '/srv:/data:rx', '/a:/b:ro:x', '/a\n:/b', '/a/:/b', '/a,b:/c'])
    assert.throws(() => parseVolumeFlag(bad, v), /path|HOST_PATH/);
  assert.equal(v, { Volumes: [], BindMounts: [] });
});

test('API VolumeConfig validation', () => {
  assert.equal(validateVolumeConfig(undefined), { Volumes: [], BindMounts: [] });
  assert.throws(() => validateVolumeConfig({ BindMounts: [{ HostPath: '/a', ContainerPath: 'b' }] }), /absolute/);
  // Types are the schema's (checked in install's parse before validateVolumeConfig).
  const VolumeConfig = { BindMounts: [{ HostPath: '/a', ContainerPath: '/b', ReadOnly: 'yes' }] };
  assert.throws(() => install.parse({ params: { id: 'v' }, query: {}, body: { Image: 'test/web', VolumeConfig } }), /true or false/);
});

const DOCKER_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

test('volume names: gear.NAME.SLUG.HASH, deterministic, valid for Docker, readable', () => {
  const name = volumeNameOf('db-1', '/var/lib/postgresql/data');
  assert.match(name, /^gear\.db-1\.var-lib-postgresql-data\.[0-9a-f]{8}$/);
  assert.is(volumeNameOf('db-1', '/var/lib/postgresql/data'), name, 'same name and path, same volume');
  for (const path of ['/', '/data', '/my files/$HOME/100%', "/it's", '/a.b/_c-d', `/${'x'.repeat(300)}`, '/é']) {
    const n = volumeNameOf('web.1', path);
    assert.match(n, DOCKER_VOLUME_NAME, n);
    assert.ok(n.length <= 5 + 64 + 1 + 40 + 1 + 8, `${n} is short`);
  }
  assert.match(volumeNameOf('a', '/'), /^gear\.a\.root\./);
});

test('volume names never collide: paths the slug renders alike, names and paths that concatenate alike', () => {
  const pairs: [string, string][] = [
    ['a', '/x y'], ['a', '/x_y'], ['a', '/x/y'], ['a', '/x-y'], ['a', `/${'z'.repeat(50)}1`], ['a', `/${'z'.repeat(50)}2`],
    ['a.b', '/c'], ['a', '/b.c'], ['a', '/b/c'], ['a.b', '/x y'],
  ];
  const names = pairs.map(([id, path]) => volumeNameOf(id, path));
  assert.is(new Set(names).size, names.length, names.join('\n'));
});

test('labels, and what counts as gear\'s volume of a container and path', () => {
  const name = volumeNameOf('web-1', '/data');
  const labels = volumeLabels('web-1', '/data');
  assert.equal(labels, { 'io.gear.volume': '1', 'io.gear.container': 'web-1', 'io.gear.path': '/data' });
  assert.ok(isVolumeOf({ Name: name, Labels: labels }, 'web-1', '/data'));
  assert.not.ok(isVolumeOf({ Name: name, Labels: null }, 'web-1', '/data'), 'unlabelled: foreign');
  assert.not.ok(isVolumeOf({ Name: name, Labels: volumeLabels('web-2', '/data') }, 'web-1', '/data'), "another container's");
  assert.not.ok(isVolumeOf({ Name: 'mydata', Labels: labels }, 'web-1', '/data'), 'labels copied onto another name');
  assert.not.ok(isVolumeOf({ Name: name, Labels: { ...labels, 'io.gear.volume': 'yes' } }, 'web-1', '/data'));
});

test('plan: -v volumes, then the image\'s VOLUMEs, each path once; a bind mount on the same path wins', () => {
  const config: VolumeConfig = { Volumes: ['/cache', '/data'], BindMounts: [{ HostPath: '/srv/logs', ContainerPath: '/logs', ReadOnly: false }] };
  const plan = planVolumes('web-1', config, ['/var/lib/z', '/data', '/logs', '/a']);
  assert.equal(plan.map((v) => v.Path), ['/cache', '/data', '/a', '/var/lib/z']);
  assert.equal(plan.map((v) => v.Name), plan.map((v) => volumeNameOf('web-1', v.Path)));
  assert.equal(planVolumes('web-1', { Volumes: [], BindMounts: [] }, []), []);
});

test("image VOLUMEs are normalised, and ones gear cannot mount by name are refused", () => {
  assert.is(imageVolumePath('/data/', 'img'), '/data');
  assert.is(imageVolumePath('/var//lib/./x', 'img'), '/var/lib/x');
  assert.is(imageVolumePath('/', 'img'), '/');
  assert.throws(() => imageVolumePath('/a:b', 'img'), /image img declares VOLUME "\/a:b"/);
  assert.throws(() => imageVolumePath('data', 'img'), /absolute/);
});

test('volumes read back from state are checked: a name gear would not give is refused', () => {
  const ok = [{ Name: volumeNameOf('web-1', '/data'), Path: '/data' }];
  assert.equal(validateNamedVolumes(ok, 'web-1', 'f'), ok);
  assert.throws(() => validateNamedVolumes([{ Name: 'postgres-data', Path: '/data' }], 'web-1', 'f'), /not the name gear gives/);
  assert.throws(() => validateNamedVolumes([{ Name: volumeNameOf('web-2', '/data'), Path: '/data' }], 'web-1', 'f'), /not the name/);
  assert.throws(() => validateNamedVolumes([{ Name: 'x', Path: '/a\nb' }], 'web-1', 'f'), /control/);
  assert.throws(() => validateNamedVolumes({}, 'web-1', 'f'), /list/);
  assert.throws(() => validateNamedVolumes([], '../x', 'f'), /not valid/);
});

test.run();
