import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseVolumeFlag, validateVolumeConfig, type VolumeConfig } from '../../src/model/volumes.js';

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
  assert.throws(() => validateVolumeConfig({ BindMounts: [{ HostPath: '/a', ContainerPath: '/b', ReadOnly: 'yes' }] }), /true or false/);
});

test.run();
