import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { HostFs } from './fs.js';
import type { ContainerLocks } from './locks.js';

/**
 * systemd's Reload, shared by every gear process on the host.
 *
 * A Reload re-reads every unit file, and systemd answers nothing else while
 * it runs: with a few hundred units it takes from a tenth of a second to
 * seconds. Each `gear install --start` enables its unit and so needs one
 * (operations of one process already share it: DbusSystemd's Batch), and
 * twenty of them launched together queued twenty Reloads behind each other.
 *
 * What a caller needs is a Reload that began after its own change was on
 * disk: any process's will do. So each Reload is recorded, under a lock,
 * with when it began (the kernel's boot clock, which every process reads
 * alike, and the boot it belongs to); a caller that finds one recorded
 * that began after its change skips its own. Twenty concurrent installs
 * then wait for one or two Reloads instead of twenty.
 *
 * The record lives in /run (gone at reboot, as the boot clock restarts);
 * the boot id guards against one kept anyway. The clock has a resolution
 * of 10 ms: a Reload that began in the same tick as the change does not
 * count, so the test errs towards reloading.
 */
export class SharedReloads {
  constructor(
    private readonly fs: HostFs,
    private readonly locks: ContainerLocks,
    private readonly file = '/run/gear/systemd-reload',
    private readonly clock: () => Promise<number> = bootClock,
  ) {}

  /** Run `reload` unless a Reload that began after `since` (bootClock()) is recorded; record it if it ran. */
  async after(since: number, reload: () => Promise<unknown>): Promise<void> {
    await this.locks.with(RELOAD_LOCK, async () => {
      const boot = await bootId();
      const [recordedBoot, began] = ((await this.fs.read(this.file).catch(() => undefined)) ?? '').trim().split(' ');
      if (boot && recordedBoot === boot && Number(began) > since) return;
      const now = await this.clock();
      await reload();
      // Not recorded (a read-only /run, say): later callers only reload once more.
      if (boot && Number.isFinite(now)) await this.record(`${boot} ${now}\n`).catch(() => undefined);
    });
  }

  private async record(text: string): Promise<void> {
    await fsp.mkdir(this.fs.local(dirname(this.file)), { recursive: true });
    await this.fs.writeAtomic(this.file, text, 0o644);
  }
}

/** The lock of the record (a leaf: held only around one Reload, never while taking another lock). */
export const RELOAD_LOCK = '@systemd-reload';

/** The kernel's boot clock in hundredths of a second (/proc/uptime), alike in every process; Infinity when unreadable (then nothing is skipped). */
export async function bootClock(): Promise<number> {
  const text = await fsp.readFile('/proc/uptime', 'utf8').catch(() => '');
  const m = /^(\d+)\.(\d{2})\s/.exec(text);
  return m ? Number(m[1]) * 100 + Number(m[2]) : Infinity;
}

/** The kernel's boot id, read once per process (it cannot change while the process runs). */
let bootIdRead: Promise<string | undefined> | undefined;
function bootId(): Promise<string | undefined> {
  return (bootIdRead ??= fsp.readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => (/^[0-9a-f-]{36}$/.test(text.trim()) ? text.trim() : undefined),
    () => undefined,
  ));
}
