/**
 * The bundle's entry (dist/gear.js): refuse a Node.js too old to run gear,
 * turn on Node's module compile cache, then load the CLI. It imports only
 * Node built-ins, so that it parses on any Node and everything else loads
 * after the cache is on (the cache serves modules loaded after it starts).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

const MIN_NODE_MAJOR = 22;

const major = Number(process.versions.node.split('.')[0]);
if (major < MIN_NODE_MAJOR) {
  process.stderr.write(`gear: needs Node.js ${MIN_NODE_MAJOR} or newer; ${process.execPath} is ${process.version}\n`);
  process.exit(1);
}

/**
 * A directory only this user can write, for V8's compiled code: root's in
 * /var/cache/gear (gear runs as root; never a shared /tmp path that another
 * user could create first), anyone else's under their own cache home. None
 * when it cannot be made or is not ours alone: V8 runs what it finds there.
 */
function compileCacheDir(): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const base = uid === 0 ? '/var/cache/gear' : join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gear');
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

// A cache that cannot be used is skipped: enableCompileCache reports, never throws
// (NODE_DISABLE_COMPILE_CACHE=1 turns it off; Node 22.0 lacks it).
const cacheDir = typeof nodeModule.enableCompileCache === 'function' ? compileCacheDir() : undefined;
if (cacheDir) {
  try {
    nodeModule.enableCompileCache(cacheDir);
  } catch {
    // skipped
  }
}

await import('./main.js');
