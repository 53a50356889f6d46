import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/lock-worker.ts');

/** A lock left by a process that is gone: a pid no process has (pid_max is at most 2^22). */
function staleLock(dir: string, name: string): void {
  mkdirSync(`${dir}/locks/${name}.lock`, { recursive: true });
  writeFileSync(`${dir}/locks/${name}.lock/owner`, '4194305 1 0123abcd\n');
}

/** Holders, in log order, must alternate +A -A +B -B ...: never two inside at once. */
function overlaps(log: string): string[] {
  const bad: string[] = [];
  let inside: string | undefined;
  for (const line of log.trim().split('\n')) {
    const pid = line.slice(1);
    if (line[0] === '+') {
      if (inside !== undefined) bad.push(`${pid} entered while ${inside} held the lock`);
      inside = pid;
    } else inside = undefined;
  }
  return bad;
}

test('many processes breaking one stale lock at once: never two holders', async () => {
  const contenders = 8;
  for (let round = 0; round < 3; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'gear-locks-'));
    try {
      staleLock(dir, 'web');
      const start = `${dir}/go`;
      const procs = Array.from({ length: contenders }, () =>
        spawn(process.execPath, ['--import', 'tsx', WORKER, dir, 'web', start], { stdio: ['ignore', 'ignore', 'pipe'] }),
      );
      const exits = procs.map(
        (p) =>
          new Promise<string>((resolve) => {
            let err = '';
            p.stderr!.on('data', (d) => (err += d));
            p.on('exit', (code) => resolve(code === 0 ? '' : `exit ${code}: ${err}`));
          }),
      );
      // Let every worker load and poll, then release them together.
      await new Promise((r) => setTimeout(r, 1500));
      writeFileSync(start, '');
      const errors = (await Promise.all(exits)).filter(Boolean);
      assert.equal(errors, []);
      const log = readFileSync(`${dir}/log`, 'utf8');
      assert.equal(overlaps(log), [], log);
      assert.is(log.trim().split('\n').length, 2 * contenders);
      // Nothing held afterwards: the lock itself is gone.
      assert.not.ok(readdirSync(`${dir}/locks`).includes('web.lock'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('removeStale lists (dry run) and then breaks locks of gone owners, never a live one; a stale lock whose tombstone name is taken waits instead of spinning', async () => {
  const { ContainerLocks } = await import('../../src/host/locks.js');
  const { HostFs } = await import('../../src/host/fs.js');
  const dir = mkdtempSync(join(tmpdir(), 'gear-stale-'));
  try {
    staleLock(dir, 'gone');
    const locks = new ContainerLocks(new HostFs(dir), '/locks', 300);
    let listed: string[] = [];
    await locks.with('live', async () => {
      listed = await locks.removeStale(true);
    });
    assert.equal(listed, ['/locks/gone.lock']);
    assert.ok(readdirSync(`${dir}/locks`).includes('gone.lock'), 'a dry run removes nothing');
    assert.equal(await locks.removeStale(false), ['/locks/gone.lock']);
    assert.not.ok(readdirSync(`${dir}/locks`).includes('gone.lock'));
    assert.equal(await locks.removeStale(false), []);
    // The same stale owner again, its tombstone still there: the break cannot happen, the taker times out as busy.
    staleLock(dir, 'gone');
    await locks.with('gone', async () => undefined).then(
      () => assert.unreachable('took a lock it could not break'),
      (err: Error) => assert.match(err.message, /container gone is busy/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('removeStale clears at once the staging directory of a taker killed before it wrote its owner; a live taker\'s stays', async () => {
  const { ContainerLocks } = await import('../../src/host/locks.js');
  const { HostFs } = await import('../../src/host/fs.js');
  const dir = mkdtempSync(join(tmpdir(), 'gear-staging-'));
  try {
    const ownStart = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19];
    // Empty, as a taker killed between its mkdir and its owner file leaves it; just made (no age to judge by).
    mkdirSync(`${dir}/locks/web.lock.4194305-1-0a1b2c3d.new`, { recursive: true });
    mkdirSync(`${dir}/locks/web.lock.${process.pid}-${ownStart}-0a1b2c3d.new`, { recursive: true });
    const locks = new ContainerLocks(new HostFs(dir), '/locks', 300);
    assert.equal(await locks.removeStale(false), ['/locks/web.lock.4194305-1-0a1b2c3d.new']);
    assert.equal(readdirSync(`${dir}/locks`), [`web.lock.${process.pid}-${ownStart}-0a1b2c3d.new`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a breaker that read the owner of a lock since released cannot break the next holder\'s lock', async () => {
  const { ContainerLocks, breakLock, keyOf } = await import('../../src/host/locks.js');
  const { HostFs } = await import('../../src/host/fs.js');
  const dir = mkdtempSync(join(tmpdir(), 'gear-late-'));
  try {
    const locks = new ContainerLocks(new HostFs(dir), '/locks', 1000);
    const path = `${dir}/locks/web.lock`;
    // What a breaker read while the first holder held the lock (it then judges it stale: its owner exited).
    let readKey = '';
    await locks.with('web', async () => {
      readKey = keyOf(readFileSync(`${path}/owner`, 'utf8'));
    });
    await locks.with('web', async () => {
      const mine = readFileSync(`${path}/owner`, 'utf8');
      assert.is(await breakLock(path, readKey), false, 'the late break must not happen');
      assert.is(readFileSync(`${path}/owner`, 'utf8'), mine, 'the second holder still holds the lock');
    });
    assert.not.ok(readdirSync(`${dir}/locks`).includes('web.lock'));
    // The tombstones a release leaves hold no data (a busy host keeps one per operation for ten minutes),
    // yet each still holds its emptied owner file: a directory that is not empty is what a late rename cannot replace.
    const tombstones = readdirSync(`${dir}/locks`).filter((e) => e.startsWith('web.lock.dead-'));
    assert.is(tombstones.length, 2, tombstones.join(' '));
    for (const t of tombstones) assert.equal([readdirSync(`${dir}/locks/${t}`), readFileSync(`${dir}/locks/${t}/owner`, 'utf8')], [['owner'], ''], t);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tryWith: runs only when nobody holds the lock (a stale one is broken), never waits; isHeld only reads', async () => {
  const { ContainerLocks } = await import('../../src/host/locks.js');
  const { HostFs } = await import('../../src/host/fs.js');
  const dir = mkdtempSync(join(tmpdir(), 'gear-locks-'));
  try {
    const locks = new ContainerLocks(new HostFs(dir), '/locks', 60_000);
    // Free: runs.
    assert.is(await locks.isHeld('@gear-job-0123456789ab'), false);
    assert.is(await locks.tryWith('@gear-job-0123456789ab', async () => undefined), true);
    // Held in this process: refused at once (not after the 60 s timeout), and reported held.
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const holding = locks.with('@gear-job-aaaaaaaaaaaa', () => new Promise<void>((r) => ((release = r), entered())));
    await inside;
    assert.is(await locks.isHeld('@gear-job-aaaaaaaaaaaa'), true);
    let ran = false;
    assert.is(await locks.tryWith('@gear-job-aaaaaaaaaaaa', async () => void (ran = true)), false);
    assert.is(ran, false);
    release();
    await holding;
    // Held by another live process (its owner file names this process's parent, alive).
    const start = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const startTime = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
    mkdirSync(`${dir}/locks/@gear-build-bbbbbbbbbbbb.lock`, { recursive: true });
    writeFileSync(`${dir}/locks/@gear-build-bbbbbbbbbbbb.lock/owner`, `${process.ppid} ${startTime} 0123abcd\n`);
    assert.is(await locks.isHeld('@gear-build-bbbbbbbbbbbb'), true);
    assert.is(await locks.tryWith('@gear-build-bbbbbbbbbbbb', async () => undefined), false);
    // Left by a gone process: isHeld says free without touching it; tryWith breaks it and runs.
    staleLock(dir, '@gear-build-cccccccccccc');
    assert.is(await locks.isHeld('@gear-build-cccccccccccc'), false);
    assert.ok(readdirSync(`${dir}/locks`).includes('@gear-build-cccccccccccc.lock'));
    assert.is(await locks.tryWith('@gear-build-cccccccccccc', async () => undefined), true);
    assert.not.ok(readdirSync(`${dir}/locks`).includes('@gear-build-cccccccccccc.lock'));
    // No staging directory is left by a refused try.
    assert.equal(readdirSync(`${dir}/locks`).filter((e) => e.endsWith('.new')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
