import { promises as fsp } from 'node:fs';
import { fingerprintFile, fingerprintOfFile, type Access, type PublicKey } from '../model/ssh.js';
import type { HostFs } from './fs.js';

/**
 * The lock every change of grants holds (taken inside a container's or a
 * repository's own lock, never around one): a revocation forgets a key no
 * login uses, which a grant at the same time may be about to use.
 */
export const KEYS_LOCK = '@ssh-keys';

/**
 * SSH keys and the access they grant, under STATE/ssh (0700, files 0600:
 * root's alone; sshd reads them through `gear auth-keys-command`, run as
 * root):
 *   keys/FP            the key, "TYPE BASE64", one file per fingerprint
 *   access/LOGIN/FP    "read" or "write": that key may log in as LOGIN
 *                      (ctr-NAME or repo-NAME)
 * FP is the SHA256 fingerprint in base64url. Each file is written whole
 * (temp and rename); a key added twice is the same file.
 */
export class KeyStore {
  constructor(
    private readonly fs: HostFs,
    private readonly dir: string,
  ) {}

  private async privateDir(hostDir: string): Promise<void> {
    await fsp.mkdir(this.fs.local(hostDir), { recursive: true, mode: 0o700 });
    await fsp.chmod(this.fs.local(hostDir), 0o700);
  }

  /** Store the keys and grant each `access` to each login (a grant given again replaces the old one). */
  async grant(keys: PublicKey[], logins: string[], access: Access): Promise<void> {
    await this.privateDir(this.dir);
    await this.privateDir(`${this.dir}/keys`);
    for (const k of keys) await this.fs.writeAtomic(`${this.dir}/keys/${fingerprintFile(k.fingerprint)}`, `${k.type} ${k.blob}\n`, 0o600);
    for (const login of logins) {
      await this.privateDir(`${this.dir}/access`);
      await this.privateDir(`${this.dir}/access/${login}`);
      for (const k of keys) await this.fs.writeAtomic(`${this.dir}/access/${login}/${fingerprintFile(k.fingerprint)}`, `${access}\n`, 0o600);
    }
  }

  /** The keys that may log in as `login`, with their access; a grant whose key file is gone is skipped. */
  async of(login: string): Promise<{ type: string; blob: string; fingerprint: string; access: Access }[]> {
    const out = [];
    for (const file of (await this.fs.list(`${this.dir}/access/${login}`)).sort()) {
      const fingerprint = fingerprintOfFile(file);
      if (!fingerprint) continue;
      const access = (await this.fs.read(`${this.dir}/access/${login}/${file}`))?.trim();
      const key = (await this.fs.read(`${this.dir}/keys/${file}`))?.trim().split(' ');
      if ((access !== 'read' && access !== 'write') || key?.length !== 2) continue;
      out.push({ type: key[0]!, blob: key[1]!, fingerprint, access: access as Access });
    }
    return out;
  }

  /** Every grant: login, fingerprint, key type and access, sorted by login then fingerprint. */
  async grants(): Promise<{ login: string; fingerprint: string; type: string; access: Access }[]> {
    const out = [];
    for (const login of (await this.fs.list(`${this.dir}/access`)).sort())
      for (const k of await this.of(login)) out.push({ login, fingerprint: k.fingerprint, type: k.type, access: k.access });
    return out;
  }

  /** Whether `fingerprint` may log in as `login`. */
  async granted(login: string, fingerprint: string): Promise<boolean> {
    return this.fs.exists(`${this.dir}/access/${login}/${fingerprintFile(fingerprint)}`);
  }

  /**
   * Take the grants of these keys to these logins away (sshd asks at each
   * login: the next one is refused). A key no login may use any more is
   * forgotten too. The caller holds KEYS_LOCK.
   */
  async revoke(fingerprints: string[], logins: string[]): Promise<void> {
    for (const login of logins)
      for (const fp of fingerprints) await fsp.rm(this.fs.local(`${this.dir}/access/${login}/${fingerprintFile(fp)}`), { force: true });
    await this.forgetUnused(fingerprints.map(fingerprintFile));
  }

  /** Of these key files, remove those no login has a grant of. */
  private async forgetUnused(files: string[]): Promise<void> {
    const used = new Set<string>();
    for (const login of await this.fs.list(`${this.dir}/access`)) for (const file of await this.fs.list(`${this.dir}/access/${login}`)) used.add(file);
    for (const file of files) if (!used.has(file)) await fsp.rm(this.fs.local(`${this.dir}/keys/${file}`), { force: true });
  }

  /** Whether any key was ever granted `login` (its directory of grants exists). */
  async has(login: string): Promise<boolean> {
    return this.fs.exists(`${this.dir}/access/${login}`);
  }

  /** Every grant to `login` goes (its container or repository was deleted), and the keys no other login uses. The caller holds KEYS_LOCK. */
  async revokeAll(login: string): Promise<void> {
    const files = await this.fs.list(`${this.dir}/access/${login}`);
    await fsp.rm(this.fs.local(`${this.dir}/access/${login}`), { recursive: true, force: true });
    await this.forgetUnused(files);
  }
}
