import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostFs } from '../../src/host/fs.js';
import { ContainerStore } from '../../src/host/store.js';

// ContainerStore.ids() reuses its last listing while the directory is
// unchanged: every change must still show in the next call.

const def = (Id: string) => ({ Id, Image: 'test/web', Ports: [], VolumeConfig: { Volumes: [], BindMounts: [] }, SystemdSlice: 'gear.slice', Created: '' });

test('a definition written or removed right after a listing shows in the next one', async () => {
  const store = new ContainerStore(new HostFs(mkdtempSync(join(tmpdir(), 'gear-store-'))), '/state');
  assert.equal(await store.ids(), []);
  await store.write(def('a'));
  assert.equal(await store.ids(), ['a']);
  await store.write(def('b'));
  assert.equal(await store.ids(), ['a', 'b']);
  await store.remove('a');
  assert.equal(await store.ids(), ['b']);
});

test('a settled directory is listed once; a change shows even when its mtime is put back', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gear-store-'));
  const store = new ContainerStore(new HostFs(root), '/state');
  await store.write(def('a'));
  const dir = join(root, 'state/containers');
  const old = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  utimesSync(dir, old, old);
  assert.equal(await store.ids(), ['a']);
  assert.equal(await store.ids(), ['a'], 'reused');
  writeFileSync(join(dir, 'b.json'), JSON.stringify(def('b')));
  utimesSync(dir, old, old); // mtime as before; ctime moved
  assert.is(statSync(dir).mtimeMs, old.getTime());
  assert.equal(await store.ids(), ['a', 'b']);
});

test('listings of one turn share one look at the directory, made after all of them asked; a change before a listing asked always shows', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gear-store-'));
  const fs = new HostFs(root);
  let stats = 0;
  const stamp = fs.dirStamp.bind(fs);
  fs.dirStamp = (dir: string) => (stats++, stamp(dir));
  const store = new ContainerStore(fs, '/state');
  await store.write(def('a'));
  const dir = join(root, 'state/containers');
  const old = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  utimesSync(dir, old, old);
  const first = store.ids();
  // Written after the first listing asked but in the same turn, before the look: it may show, and does.
  writeFileSync(join(dir, 'b.json'), JSON.stringify(def('b')));
  utimesSync(dir, old, old);
  const second = store.ids();
  assert.equal(await Promise.all([first, second]), [['a', 'b'], ['a', 'b']]);
  assert.is(stats, 1, 'one stat for both');
  // Every change made before a listing asked shows in it.
  writeFileSync(join(dir, 'c.json'), JSON.stringify(def('c')));
  utimesSync(dir, old, old);
  assert.equal(await store.ids(), ['a', 'b', 'c']);
  assert.is(stats, 2);
});

test.run();
