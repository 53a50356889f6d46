// Bundle the CLI and agent (esbuild): dist/gear.js, the entry, and the
// modules it loads on demand in dist/chunks/. Splitting at the dynamic
// imports (the agent, dockerode, dbus-next, handlebars) keeps what a simple
// command parses at start small: Node compiles every file it loads whole.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/**
 * Parts of dockerode and docker-modem gear never reaches, replaced by stubs
 * that throw if ever called: the SSH transport (ssh2), BuildKit sessions
 * (@grpc/grpc-js) and BuildKit builds (protobufjs). About 700 KiB that
 * every command would otherwise compile at start.
 */
const unused = {
  name: 'gear-unused-docker-parts',
  setup(b) {
    const stubbed = { 'docker-modem': ['./ssh'], dockerode: ['./session', './buildkit'] };
    b.onResolve({ filter: /^\.\/(ssh|session|buildkit)$/ }, (args) => {
      const pkg = Object.keys(stubbed).find((p) => args.importer.includes(`/node_modules/${p}/`));
      if (!pkg || !stubbed[pkg].includes(args.path)) return undefined;
      return { path: `${pkg}/${args.path.slice(2)}`, namespace: 'gear-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'gear-stub' }, (args) => ({
      contents: `module.exports = function () { throw new Error('gear is built without ${args.path}'); };`,
      loader: 'js',
    }));
  },
};

// Chunk names carry a hash: a stale chunk of an earlier build goes with the directory.
rmSync('dist', { recursive: true, force: true });

/**
 * Node's built-ins loaded with require(), not import: an ESM import of a
 * built-in makes Node read every export of it at once, and node:http's
 * include lazy ones (WebSocket, fetch's classes) that load undici, zlib,
 * http2 and perf_hooks: a third of `gear --version`'s start on Node 24.
 * esbuild then reads named imports through getters, as late as the code does.
 */
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const builtinsByRequire = {
  name: 'gear-builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!builtins.has(args.path)) return undefined;
      if (args.namespace === 'gear-builtin') return { path: args.path, external: true };
      if (args.kind !== 'import-statement') return undefined;
      return { path: args.path, namespace: 'gear-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'gear-builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

const result = await build({
  entryPoints: { gear: 'src/cli/entry.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  metafile: true,
  define: { GEAR_VERSION: JSON.stringify(pkg.version) },
  // Bundled CommonJS dependencies use require() and __dirname; ESM output needs them recreated.
  banner: {
    js: [
      "import { createRequire as __gearCreateRequire } from 'node:module';",
      "import { fileURLToPath as __gearFileURLToPath } from 'node:url';",
      "const require = __gearCreateRequire(import.meta.url);",
      "const __filename = __gearFileURLToPath(import.meta.url);",
      "const __dirname = __gearFileURLToPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
  // Optional add-ons gear never uses: ssh2's native helpers (via docker-modem; gear
  // speaks to unix sockets only) and dbus-next's X11 discovery and usocket.
  external: ['cpu-features', '*.node', 'x11', 'usocket'],
  plugins: [unused, builtinsByRequire],
  logLevel: 'warning',
});

const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const js = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
const total = js.reduce((sum, [, out]) => sum + out.bytes, 0);
console.log(`dist/gear.js and ${js.length - 1} chunks: ${kib(total)}`);
