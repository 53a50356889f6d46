import { randomBytes } from 'node:crypto';
import { promises as fsp, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writerGone, writerTag } from './writer-tag.js';

/**
 * The host's filesystem, seen from wherever gear runs. Callers speak in host
 * paths (/etc/systemd/system/...); the root maps them to where the host's
 * files are for this process: "/" on the host itself, "/host" inside the SPC,
 * /proc/PID/root for a test host.
 */
export class HostFs {
  constructor(readonly root: string) {}

  local(hostPath: string): string {
    return this.root === '/' ? hostPath : join(this.root, hostPath);
  }

  /**
   * Write a file so that readers see the old content or the new, never a
   * mix, even across a crash: temp file in the same directory, fsync, rename,
   * fsync the directory.
   */
  async writeAtomic(hostPath: string, data: string, mode: number): Promise<void> {
    const target = this.local(hostPath);
    const dir = dirname(target);
    const temp = await writeTemp(dir, data, mode);
    try {
      await fsp.rename(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  /**
   * Create a file with its content only if no file of that name exists;
   * false if one did. The content is written to a temp file first and
   * hard-linked into place (link fails on an existing name, atomically), so
   * a crash never leaves the file empty. The basis of port reservations.
   */
  async createExclusive(hostPath: string, data: string): Promise<boolean> {
    const target = this.local(hostPath);
    const dir = dirname(target);
    const temp = await writeTemp(dir, data, 0o644);
    try {
      await fsp.link(temp, target);
      await syncDir(dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fsp.rm(temp, { force: true });
    }
  }

  /**
   * Remove temp files (".*.tmp") a killed writer left in a directory: at
   * once when their name says the writer is gone, else once older than
   * `ageMs` (`dryRun`: only list them).
   */
  async removeStaleTemps(hostDir: string, ageMs: number, dryRun = false): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await this.list(hostDir)) {
      const m = TEMP_NAME.exec(name);
      if (!m) continue;
      const path = this.local(`${hostDir}/${name}`);
      const stat = await fsp.stat(path).catch(() => undefined);
      if (stat && (writerGone(m[1], m[2]) || Date.now() - stat.mtimeMs > ageMs)) {
        if (!dryRun) await fsp.rm(path, { force: true });
        removed.push(`${hostDir}/${name}`);
      }
    }
    return removed;
  }

  async read(hostPath: string): Promise<string | undefined> {
    try {
      return await fsp.readFile(this.local(hostPath), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(hostDir: string): Promise<string[]> {
    try {
      return await fsp.readdir(this.local(hostDir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async remove(hostPath: string): Promise<void> {
    await fsp.rm(this.local(hostPath), { force: true });
  }

  /**
   * What changes whenever an entry of the directory is added, removed or
   * renamed (inode, mtime and ctime in ns), and its mtime in ms; undefined
   * when it does not exist. One stat, answered from the inode cache.
   */
  dirStamp(hostDir: string): { stamp: string; mtimeMs: number } | undefined {
    try {
      const st = statSync(this.local(hostDir), { bigint: true });
      return { stamp: `${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`, mtimeMs: Number(st.mtimeMs) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(hostPath: string): Promise<boolean> {
    return fsp.access(this.local(hostPath)).then(
      () => true,
      () => false,
    );
  }
}

/** Temp files of writeTemp: hidden, the writer's PID-START (older gears: none), random, ".tmp". */
const TEMP_NAME = /^\.(?:([0-9]+)-([0-9]+)-)?[0-9a-f]+\.tmp$/;

/**
 * A new temp file in `dir` (made if missing) holding `data`, flushed to
 * disk, with exactly `mode` (open() applies the umask; 0600 must stay 0600).
 */
async function writeTemp(dir: string, data: string, mode: number): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  const temp = join(dir, `.${writerTag()}-${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fsp.open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
