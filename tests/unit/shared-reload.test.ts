import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContainerLocks } from '../../src/host/locks.js';
import { SharedReloads, bootClock } from '../../src/host/shared-reload.js';
import { fakeHost } from '../fixtures/fake-host.js';

// systemd Reloads shared between gear processes: each process here is its
// own SharedReloads and lock set on one state directory, on a clock of the
// test's, with a Reload that takes a while.

const FILE = '/run/gear/systemd-reload';

function processes(n: number, clock: () => Promise<number>) {
  const h = fakeHost();
  return { root: h.root, each: Array.from({ length: n }, () => new SharedReloads(h.host.fs, new ContainerLocks(h.host.fs, '/var/lib/gear/locks'), FILE, clock)) };
}

test('the boot clock reads /proc/uptime in hundredths and moves forward', async () => {
  const a = await bootClock();
  await new Promise((r) => setTimeout(r, 30));
  const b = await bootClock();
  assert.ok(Number.isInteger(a) && a > 0, String(a));
  assert.ok(b > a, `${a} then ${b}`);
});

test('ten processes whose changes were done before the first Reload began share it: one Reload', async () => {
  let now = 100;
  const { root, each } = processes(10, async () => now);
  let reloads = 0;
  const reload = async () => {
    reloads++;
    now += 50; // the Reload takes half a second of boot clock
    await new Promise((r) => setTimeout(r, 20));
  };
  now = 101; // every change was done at 100, the first Reload begins at 101
  await Promise.all(each.map((p) => p.after(100, reload)));
  assert.is(reloads, 1);
  assert.match(readFileSync(join(root, FILE), 'utf8'), /^[0-9a-f-]{36} 101\n$/);
});

test('a change done after the last Reload began, or in the same tick, gets its own', async () => {
  let now = 200;
  const { each } = processes(1, async () => now);
  const [p] = each;
  let reloads = 0;
  const reload = async () => void reloads++;
  await p!.after(199, reload); // began at 200
  assert.is(reloads, 1);
  await p!.after(199, reload); // began after 199: skipped
  assert.is(reloads, 1);
  await p!.after(200, reload); // same tick as the Reload's start: not known to be before it
  assert.is(reloads, 2);
  now = 300;
  await p!.after(250, reload);
  assert.is(reloads, 3);
});

test('a record of another boot, an unreadable clock or a failed Reload never skips a Reload', async () => {
  const { root, each } = processes(1, async () => Infinity);
  const [p] = each;
  let reloads = 0;
  await p!.after(5, async () => void reloads++);
  assert.is(reloads, 1);
  assert.not.ok(existsSync(join(root, FILE)), 'nothing recorded without a clock');
  const other = processes(1, async () => 10);
  const [q] = other.each;
  await q!.after(5, async () => void reloads++);
  const text = readFileSync(join(other.root, FILE), 'utf8');
  writeFileSync(join(other.root, FILE), text.replace(/^\S+/, '00000000-0000-0000-0000-000000000000'));
  await q!.after(5, async () => void reloads++);
  assert.is(reloads, 3, 'a record of another boot is not taken');
  const third = processes(1, async () => 10);
  const [r] = third.each;
  let error: Error | undefined;
  await r!.after(5, async () => Promise.reject(new Error('Reload failed'))).catch((e: Error) => (error = e));
  assert.is(error?.message, 'Reload failed', 'its failure reaches the caller');
  await r!.after(5, async () => void reloads++);
  assert.is(reloads, 4, 'a failed Reload is not recorded');
});

test.run();
