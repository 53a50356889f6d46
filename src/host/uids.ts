import { conflict } from '../model/errors.js';
import { idsInUserDb, type IdRange } from '../model/isolation.js';
import type { HostFs } from './fs.js';
import { readReservations } from './reservations.js';

/**
 * Host uid reservations of isolated containers, as ports are reserved
 * (host/ports.ts): one file per uid under the state directory, named by the
 * uid and holding its container's name, created whole or not at all
 * (O_EXCL-like link), so two installs never get the same uid, in one process
 * or two. The gid is the same number. A uid some user or group of the host
 * already has (/etc/passwd, /etc/group) is never handed out.
 */
export class UidReservations {
  constructor(
    private readonly fs: HostFs,
    private readonly dir: string,
    private readonly range: IdRange,
  ) {}

  private file(uid: number): string {
    return `${this.dir}/${uid}`;
  }

  /** The uid reserved for `owner`, if any. */
  async of(owner: string): Promise<number | undefined> {
    for (const [uid, who] of await this.all()) if (who === owner) return uid;
    return undefined;
  }

  /** Every reservation: uid -> owner. */
  all(): Promise<Map<number, string>> {
    return readReservations(this.fs, this.dir);
  }

  /**
   * A uid for `owner`: the one it holds already (stable across re-installs;
   * an install that crashed before its definition left it), or the lowest
   * free one of the range. `fresh` tells whether this call reserved it.
   */
  async reserve(owner: string): Promise<{ uid: number; fresh: boolean }> {
    const held = await this.of(owner);
    if (held !== undefined) return { uid: held, fresh: false };
    const [passwd, group] = await Promise.all([this.fs.read('/etc/passwd'), this.fs.read('/etc/group')]);
    const used = new Set([...idsInUserDb(passwd), ...idsInUserDb(group)]);
    const reserved = new Set((await this.fs.list(this.dir)).filter((e) => /^[0-9]+$/.test(e)).map(Number));
    for (let uid = this.range.first; uid <= this.range.last; uid++) {
      if (used.has(uid) || reserved.has(uid)) continue;
      // The create decides: a concurrent install may have taken it since the listing.
      if (await this.fs.createExclusive(this.file(uid), `${owner}\n`)) return { uid, fresh: true };
    }
    throw conflict(`no free uid left in ${this.range.first}-${this.range.last} for an isolated container (GEAR_UID_RANGE)`);
  }

  /** Give `owner`'s uid back; a uid someone else holds now is left alone. */
  async release(owner: string, uid: number): Promise<void> {
    if ((await this.fs.read(this.file(uid)))?.trim() === owner) await this.fs.remove(this.file(uid));
  }
}
