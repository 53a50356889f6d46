import { conflict, failed } from '../model/errors.js';
import { userDbEntry } from '../model/isolation.js';
import { ConcurrencyLimit } from '../lib/concurrency.js';
import { runCaptured } from './exec.js';
import type { HostFs } from './fs.js';

/** The host users and groups of isolated containers (model/isolation.ts). */
export interface HostUsers {
  /** Make user and group `name` with these ids unless they exist as such; true when this call made the user. */
  ensure(name: string, uid: number, gid: number, comment: string): Promise<boolean>;
  /** Remove user and group `name`, only if they are the ones gear made (these ids, gear's comment). */
  remove(name: string, uid: number, gid: number, comment: string): Promise<void>;
  /** Set the login shell and home of gear's user `name` (SSH logins: gear's login shell); absent in fakes. */
  setLogin?(name: string, shell: string, home: string): Promise<void>;
}

/**
 * shadow's useradd/groupadd/userdel/groupdel, which lock and update
 * /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow as every other tool
 * on the host expects; `--prefix` when the host's root is mounted elsewhere
 * (the SPC's /host). A system user: no home, no login shell, no password.
 */
export class ShadowUsers implements HostUsers {
  /**
   * One shadow command at a time in this process: each locks the user
   * database, and a burst of isolated installs (30 in one command) would
   * otherwise meet shadow's lock and wait out its 1 s retries. Between
   * processes (the CLI and the agent) that lock still decides.
   */
  private readonly one = new ConcurrencyLimit(1);

  constructor(private readonly fs: HostFs) {}

  private async run(argv: string[]): Promise<void> {
    const prefix = this.fs.root === '/' ? [] : ['--prefix', this.fs.root];
    const r = await runCaptured([argv[0]!, ...prefix, ...argv.slice(1)], { timeoutMs: 30_000 });
    if (r.code !== 0) throw failed(`${argv[0]} ${argv.at(-1)}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`);
  }

  ensure(name: string, uid: number, gid: number, comment: string): Promise<boolean> {
    return this.one.run(() => this.ensureNow(name, uid, gid, comment));
  }

  remove(name: string, uid: number, gid: number, comment: string): Promise<void> {
    return this.one.run(() => this.removeNow(name, uid, gid, comment));
  }

  setLogin(name: string, shell: string, home: string): Promise<void> {
    return this.one.run(() => this.run(['usermod', '--shell', shell, '--home', home, name]));
  }

  private async ensureNow(name: string, uid: number, gid: number, comment: string): Promise<boolean> {
    const [passwd, group] = await Promise.all([this.fs.read('/etc/passwd'), this.fs.read('/etc/group')]);
    const user = userDbEntry(passwd, name);
    const grp = userDbEntry(group, name);
    if (user && (user.id !== uid || user.comment !== comment)) throw conflict(`host user ${name} exists (uid ${user.id}) and is not gear's user of this container`);
    if (grp && grp.id !== gid) throw conflict(`host group ${name} exists (gid ${grp.id}) and is not gear's group of this container`);
    if (!grp) await this.run(['groupadd', '--system', '--gid', String(gid), name]);
    if (user) return false;
    await this.run(['useradd', '--system', '--uid', String(uid), '--gid', String(gid), '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', comment, name]);
    return true;
  }

  private async removeNow(name: string, uid: number, gid: number, comment: string): Promise<void> {
    const user = userDbEntry(await this.fs.read('/etc/passwd'), name);
    if (user && user.id === uid && user.comment === comment) await this.run(['userdel', name]);
    // userdel removes the user's own group too, where the host's USERGROUPS_ENAB says so.
    const grp = userDbEntry(await this.fs.read('/etc/group'), name);
    if (grp && grp.id === gid) await this.run(['groupdel', name]);
  }
}
