/**
 * The bundle's entry (dist/gear.js): refuse a Node.js too old to run gear,
 * turn on Node's module compile cache, then load the CLI. It imports only
 * Node built-ins and compile-cache.ts, so that it parses on any Node and the
 * rest loads after the cache is on (the cache serves modules loaded later).
 */
import * as nodeModule from 'node:module';
import { compileCacheDir } from './compile-cache.js';

const MIN_NODE_MAJOR = 22;

if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  process.stderr.write(`gear: needs Node.js ${MIN_NODE_MAJOR} or newer; ${process.execPath} is ${process.version}\n`);
  process.exit(1);
}

// A cache that cannot be used is skipped: enableCompileCache reports, never
// throws. NODE_DISABLE_COMPILE_CACHE=1 turns it off, and nothing is made;
// Node 22.0 lacks it. Set for this process only: nothing gear starts inherits it.
if (typeof nodeModule.enableCompileCache === 'function' && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  const dir = compileCacheDir();
  if (dir) {
    try {
      nodeModule.enableCompileCache(dir);
    } catch {
      // skipped
    }
  }
}

// A reader that went away (`gear list-units | head -1`) ends gear as it ends
// any Unix tool, quietly and with the status a shell gives a process killed
// by SIGPIPE (128 + 13). Node ignores SIGPIPE, so the write fails with EPIPE
// instead, which unhandled printed a stack trace. Other errors stay fatal.
const SIGPIPE_STATUS = 141;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(SIGPIPE_STATUS);
    throw err;
  });
}

await import('./main.js');
