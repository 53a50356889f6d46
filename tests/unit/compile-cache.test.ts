import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileCacheDir, privateDir } from '../../src/cli/compile-cache.js';

const uid = process.getuid!();
const scratch = () => mkdtempSync(join(tmpdir(), 'gear-cc-'));

test('a missing cache directory is made 0700, parents too, and used', () => {
  const t = scratch();
  const base = join(t, 'var/cache/gear');
  assert.is(privateDir(base, uid), join(base, 'node-compile-cache'));
  assert.is(statSync(base).mode & 0o777, 0o700);
  assert.is(statSync(join(base, 'node-compile-cache')).mode & 0o777, 0o700);
  rmSync(t, { recursive: true });
});

test('a directory others can write is not used, and is left as it was', () => {
  for (const which of ['base', 'dir']) {
    const t = scratch();
    const base = join(t, 'gear');
    mkdirSync(join(base, 'node-compile-cache'), { recursive: true, mode: 0o700 });
    const path = which === 'base' ? base : join(base, 'node-compile-cache');
    chmodSync(path, 0o777); // as another user could have made it in a shared place
    assert.is(privateDir(base, uid), undefined, which);
    assert.is(statSync(path).mode & 0o777, 0o777);
    chmodSync(path, 0o720); // group-writable
    assert.is(privateDir(base, uid), undefined, which);
    rmSync(t, { recursive: true });
  }
});

test("another user's directory is not used", () => {
  if (uid !== 0) return; // only root can give a directory away
  const t = scratch();
  const base = join(t, 'gear');
  mkdirSync(join(base, 'node-compile-cache'), { recursive: true, mode: 0o700 });
  chownSync(join(base, 'node-compile-cache'), 65534, 65534);
  assert.is(privateDir(base, uid), undefined);
  rmSync(t, { recursive: true });
});

test('a link or a file in its place is not used', () => {
  const t = scratch();
  const elsewhere = join(t, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  mkdirSync(join(t, 'a'), { mode: 0o700 });
  symlinkSync(elsewhere, join(t, 'a/node-compile-cache'));
  assert.is(privateDir(join(t, 'a'), uid), undefined);
  mkdirSync(join(t, 'b'), { mode: 0o700 });
  writeFileSync(join(t, 'b/node-compile-cache'), '');
  assert.is(privateDir(join(t, 'b'), uid), undefined);
  rmSync(t, { recursive: true });
});

test("another user's cache is under their cache home, and used only by them", () => {
  const t = scratch();
  const got = compileCacheDir(1000, { XDG_CACHE_HOME: t });
  assert.is(statSync(join(t, 'gear/node-compile-cache')).isDirectory(), true);
  // This process made it: not user 1000's own unless this process is 1000.
  assert.is(got, uid === 1000 ? join(t, 'gear/node-compile-cache') : undefined);
  rmSync(t, { recursive: true });
});

test.run();
