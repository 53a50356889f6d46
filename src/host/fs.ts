import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

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
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fsp.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      // open() applies the umask; the mode must be exactly what was asked (0600 for secrets).
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fsp.rename(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  /** Create a file only if it does not exist yet; false if it did. The basis of port reservations. */
  async createExclusive(hostPath: string, data: string): Promise<boolean> {
    const target = this.local(hostPath);
    await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
    try {
      const handle = await fsp.open(target, 'wx', 0o644);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
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

  async exists(hostPath: string): Promise<boolean> {
    return fsp.access(this.local(hostPath)).then(
      () => true,
      () => false,
    );
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
