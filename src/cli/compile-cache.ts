import { lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where Node's compile cache may live for this user, or none. V8 runs the
 * code it finds there and gear runs as root, so only a directory this user
 * alone can write will do: root's under /var/cache/gear (never a shared
 * /tmp path that another user could create first), anyone else's under
 * their own cache home.
 */
export function compileCacheDir(uid = process.getuid?.(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (uid === undefined) return undefined;
  const base = uid === 0 ? '/var/cache/gear' : join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gear');
  return privateDir(base, uid);
}

/**
 * BASE/node-compile-cache, made 0700 with any missing parents, when it and
 * BASE are directories (not links) owned by uid that neither group nor
 * others can write; else none (and nothing is changed that exists).
 */
export function privateDir(base: string, uid: number): string | undefined {
  const dir = join(base, 'node-compile-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const path of [base, dir]) {
      const st = lstatSync(path);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    }
    return dir;
  } catch {
    return undefined;
  }
}
