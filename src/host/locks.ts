import { promises as fsp, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { busy } from '../model/errors.js';
import type { HostFs } from './fs.js';

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
    const path = this.fs.local(`${this.dir}/${name}.lock`);
    await fsp.mkdir(this.fs.local(this.dir), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + this.timeoutMs;
    // The lock appears whole: a directory with its owner file inside is
    // renamed into place (atomic; fails if the lock exists). A reader never
    // sees a lock without its owner, so it cannot take a fresh lock for a
    // stale one. The staging directory is made once; a wait only retries the rename.
    const staging = `${path}.${randomBytes(4).toString('hex')}.new`;
    await fsp.mkdir(staging, { mode: 0o700 });
    try {
      await fsp.writeFile(`${staging}/owner`, ownerLine());
      for (;;) {
        try {
          await fsp.rename(staging, path);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
          const owner = await this.liveOwner(path);
          if (owner === undefined) {
            await breakLock(path);
            continue;
          }
          if (Date.now() > deadline) throw busy(`container ${name} is busy: another gear operation (pid ${owner}) holds its lock`);
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      }
    } catch (err) {
      await fsp.rm(staging, { recursive: true, force: true });
      throw err;
    }
    try {
      return await work();
    } finally {
      await fsp.rm(path, { recursive: true, force: true });
    }
  }

  /** The pid holding the lock, or undefined when that process is gone (the lock is stale). */
  private async liveOwner(path: string): Promise<string | undefined> {
    const text = await fsp.readFile(`${path}/owner`, 'utf8').catch(() => undefined);
    if (text === undefined) {
      // Locks appear with their owner file; without one it is being broken or removed.
      const age = await fsp.stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      return age > 5_000 ? undefined : '?';
    }
    const [pid, start] = text.trim().split(' ');
    const alive = pid !== undefined && /^[0-9]+$/.test(pid) && startTimeOf(Number(pid)) === start;
    return alive ? pid : undefined;
  }
}

/** What this process writes into its locks: pid and start time, fixed for its life (read once, on first use). */
let ownerText: string | undefined;
const ownerLine = () => (ownerText ??= `${process.pid} ${startTimeOf(process.pid) ?? ''}\n`);

/** Field 22 of /proc/PID/stat: tells a live owner from a later process that reused its pid. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function breakLock(path: string): Promise<void> {
  // Rename first so that two breakers cannot both delete a fresh lock.
  const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
  await fsp.rename(path, aside).then(
    () => fsp.rm(aside, { recursive: true, force: true }),
    () => undefined,
  );
}
