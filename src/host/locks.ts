import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { busy } from '../model/errors.js';
import type { HostFs } from './fs.js';
import { startTimeOf, writerGone, writerTag } from './writer-tag.js';

const POLL_MS = 25;

/**
 * Per-container locks, held across processes: two `gear` commands, or the
 * agent and a command, never work on one container at once. A lock is a
 * directory holding the owner's pid and start time, so a lock left by a
 * killed process is recognised and broken. Within one
 * process, operations on a container queue on a promise chain instead of
 * polling.
 */
export class ContainerLocks {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly fs: HostFs,
    private readonly dir: string,
    private readonly timeoutMs = 60_000,
  ) {}

  with<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.withFileLock(name, work));
    this.queues.set(name, mine);
    void mine.catch(() => undefined).finally(() => {
      if (this.queues.get(name) === mine) this.queues.delete(name);
    });
    return mine;
  }

  private async withFileLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    const taken = await this.take(name, true);
    try {
      return await work();
    } finally {
      await releaseLock(taken.path, taken.key);
    }
  }

  /**
   * Run `work` under the lock only if nobody holds it now (a stale lock is
   * broken, as a waiter would): false, at once, when a live process (this
   * one included) holds it. For locks held for a long time, e.g. a job's
   * (`@gear-job-ID`): repair must not wait an hour for one to end.
   */
  async tryWith(name: string, work: () => Promise<void>): Promise<boolean> {
    if (this.queues.has(name)) return false;
    let ran = false;
    const mine = (async () => {
      const taken = await this.take(name, false);
      if (!taken) return;
      try {
        ran = true;
        await work();
      } finally {
        await releaseLock(taken.path, taken.key);
      }
    })();
    this.queues.set(name, mine);
    try {
      await mine;
    } finally {
      if (this.queues.get(name) === mine) this.queues.delete(name);
    }
    return ran;
  }

  /** Whether a live process (this one included) holds the lock `name` now; reads only (a dry run's question). */
  async isHeld(name: string): Promise<boolean> {
    if (this.queues.has(name)) return true;
    const path = this.fs.local(`${this.dir}/${name}.lock`);
    if (!(await fsp.stat(path).then(() => true, () => false))) return false;
    return !(await this.owner(path)).stale;
  }

  /**
   * Take the file lock: wait for it (up to the timeout, then busy), or with
   * `wait` false give up at once when a live process holds it.
   */
  private take(name: string, wait: true): Promise<{ path: string; key: string }>;
  private take(name: string, wait: false): Promise<{ path: string; key: string } | undefined>;
  private async take(name: string, wait: boolean): Promise<{ path: string; key: string } | undefined> {
    const path = this.fs.local(`${this.dir}/${name}.lock`);
    await fsp.mkdir(this.fs.local(this.dir), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + this.timeoutMs;
    // The lock appears whole: a directory with its owner file inside is
    // renamed into place (atomic; fails if the lock exists). A reader never
    // sees a lock without its owner, so it cannot take a fresh lock for a
    // stale one. The staging directory is made once; a wait only retries the
    // rename. Its name holds the taker's pid and start time, so a repair can
    // tell one left by a killed taker at once, even before its owner file.
    const staging = `${path}.${stagingTag()}.new`;
    await fsp.mkdir(staging, { mode: 0o700 });
    const line = ownerLine();
    try {
      await fsp.writeFile(`${staging}/owner`, line);
      for (;;) {
        try {
          await fsp.rename(staging, path);
          return { path, key: keyOf(line) };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
          const owner = await this.owner(path);
          // A break that did not happen (another breaker's tombstone has its name) waits like a live lock: never a busy loop.
          if (owner.stale && (await breakLock(path, owner.key))) continue;
          if (!wait) {
            await fsp.rm(staging, { recursive: true, force: true });
            return undefined;
          }
          if (Date.now() > deadline) throw busy(`${name.startsWith('@') ? `lock ${name.slice(1)}` : `container ${name}`} is busy: another gear operation (pid ${owner.pid}) holds its lock`);
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      }
    } catch (err) {
      await fsp.rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Tombstones of released locks whose names start with `prefix` and were
   * never taken again (each job's and build's lock has a name of its own),
   * once older than TOMBSTONE_MS: a run sweeps them, so they do not pile up
   * until the next repair.
   */
  async sweepOldTombstones(prefix: string): Promise<void> {
    const dir = this.fs.local(this.dir);
    const now = Date.now();
    for (const entry of await fsp.readdir(dir).catch(() => [] as string[]))
      if (entry.startsWith(prefix) && TOMBSTONE.test(entry)) await removeIfOld(join(dir, entry), now);
  }

  /**
   * Locks of this directory whose owner is gone (killed while holding
   * one), and staging directories of takers killed before they took theirs:
   * paths, removed unless `dryRun`. A waiter breaks a stale lock by itself;
   * this clears those nobody waits for. Each is broken as a waiter would
   * (breakLock), so a lock taken meanwhile is never lost.
   */
  async removeStale(dryRun: boolean): Promise<string[]> {
    const dir = this.fs.local(this.dir);
    const removed: string[] = [];
    for (const entry of await fsp.readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, entry);
      if (entry.endsWith('.lock')) {
        const owner = await this.owner(path);
        if (!owner.stale) continue;
        if (!dryRun && !(await breakLock(path, owner.key))) continue; // taken meanwhile, or its tombstone name is: left for a later repair
      } else if (TOMBSTONE.test(entry)) {
        // Bookkeeping, not a finding: old tombstones of names no lock was taken for since.
        if (!dryRun) await removeIfOld(path, Date.now());
        continue;
      } else if (STAGING.test(entry)) {
        if (!stagingIsStale(entry) && !(await this.owner(path)).stale) continue;
        if (!dryRun) await fsp.rm(path, { recursive: true, force: true });
      } else continue;
      removed.push(`${this.dir}/${entry}`);
    }
    return removed;
  }

  /**
   * Who holds the lock at path: its pid, whether that process is gone
   * (stale), and the key naming this very acquisition (pid, start time,
   * nonce), which a breaker uses to break this lock and no later one.
   */
  private async owner(path: string): Promise<{ pid: string; stale: boolean; key?: string }> {
    const text = await fsp.readFile(`${path}/owner`, 'utf8').catch(() => undefined);
    if (text === undefined) {
      // Locks appear and go with their owner file; an empty one was left by an older gear killed mid-removal.
      const age = await fsp.stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      return { pid: '?', stale: age > 5_000 };
    }
    const [pid, start] = text.trim().split(' ');
    const alive = pid !== undefined && /^[0-9]+$/.test(pid) && startTimeOf(Number(pid)) === start;
    return { pid: pid ?? '?', stale: !alive, key: keyOf(text) };
  }
}

/** The key naming one acquisition, from its owner line: pid, start time and nonce (its tombstone's name). */
export const keyOf = (ownerText: string) =>
  ownerText
    .trim()
    .split(' ')
    .filter(Boolean)
    .join('-')
    .replace(/[^0-9A-Za-z-]/g, '');

/** What this process writes into a lock: pid and start time (read once, fixed for its life), and a nonce per acquisition. */
let ownerText: string | undefined;
const ownerLine = () => `${(ownerText ??= `${process.pid} ${startTimeOf(process.pid) ?? ''}`)} ${randomBytes(8).toString('hex')}\n`;

/** A taker's staging directory: NAME.lock.[PID-START-]NONCE.new (older gears wrote no PID-START). */
const STAGING = /\.lock\.(?:([0-9]+)-([0-9]+)-)?[0-9a-f]+\.new$/;
const stagingTag = () => `${writerTag()}-${randomBytes(4).toString('hex')}`;

/** True when the staging directory's name says its taker is gone (false when its name does not say). */
function stagingIsStale(entry: string): boolean {
  const m = STAGING.exec(entry);
  return writerGone(m?.[1], m?.[2]);
}

/** Tombstones of locks (broken or released) are kept this long, so that a breaker that judged the same lock stale cannot use the name again. */
const TOMBSTONE_MS = 10 * 60_000;

/**
 * Break the stale lock whose owner key the caller read, and only that one.
 *
 * Reading the owner and removing the lock are two steps: between them
 * another process may break the same stale lock and take the lock itself,
 * and a plain remove (or a rename to a random name) would then throw away
 * that live lock, leaving two holders. So the stale lock is renamed to a
 * tombstone named after its owner key (unique to one acquisition). Every
 * breaker of that lock renames to the same name; rename onto a non-empty
 * directory fails, so exactly one wins, and a late breaker finds the
 * tombstone taken and leaves the new lock alone. A released lock ends at
 * the same name (releaseLock): its owner may exit right after, so a
 * breaker that read the owner line just before the release finds it stale
 * just after, and must not break the next holder's lock in its place.
 * Tombstones are kept for TOMBSTONE_MS, far longer than the two steps take.
 *
 * A lock without an owner file is empty, and rmdir removes only an empty
 * directory: a live lock is never empty. True when this call broke it.
 */
export async function breakLock(path: string, key: string | undefined): Promise<boolean> {
  if (!key) return fsp.rmdir(path).then(() => true, () => false);
  const tombstone = `${path}.dead-${key}`;
  const broken = await fsp.rename(path, tombstone).then(() => true, () => false);
  await sweepTombstones(path);
  return broken;
}

/** A tombstone's name: NAME.lock.dead-KEY (older gears: NAME.lock.released-RANDOM, left by a release killed half-way). */
const TOMBSTONE = /\.lock\.(?:dead|released)-[0-9A-Za-z-]+$/;

/** Tombstones of this lock renamed (ctime) longer than TOMBSTONE_MS ago, and what a release killed half-way left. */
async function sweepTombstones(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const now = Date.now();
  for (const entry of await fsp.readdir(dir).catch(() => [] as string[])) {
    if (entry.startsWith(prefix) && TOMBSTONE.test(entry)) await removeIfOld(join(dir, entry), now);
  }
}

/** Remove a tombstone renamed (ctime) longer than TOMBSTONE_MS before `now`. */
async function removeIfOld(tombstone: string, now: number): Promise<void> {
  const old = await fsp.stat(tombstone).then((s) => now - s.ctimeMs > TOMBSTONE_MS, () => false);
  if (old) await fsp.rm(tombstone, { recursive: true, force: true });
}

/**
 * Release: the lock goes whole (renamed, so no waiter sees it half gone) to
 * its own tombstone, kept like a broken lock's (see breakLock). Removed
 * instead, the name would be free for a late breaker's rename, which would
 * then move the next holder's live lock away: two holders (seen in
 * tests/unit/locks.test.ts under load).
 */
async function releaseLock(path: string, key: string): Promise<void> {
  const tombstone = `${path}.dead-${key}`;
  if (await fsp.rename(path, tombstone).then(() => true, () => false))
    // Its owner line is read by nobody now; emptied, a tombstone holds no data (a busy host keeps one per
    // operation for TOMBSTONE_MS: 2,000 after a crash storm filled a 4 MB state filesystem), and an empty
    // file still keeps the directory non-empty, which is what makes a late breaker's rename fail.
    await fsp.truncate(join(tombstone, 'owner'), 0).catch(() => undefined);
  await sweepTombstones(path);
}
