// Bundle the CLI and agent (esbuild): dist/gear.js, the entry, and the
// modules it loads on demand in dist/chunks/. Splitting at the dynamic
// imports (the agent, dockerode, dbus-next, handlebars) keeps what a simple
// command parses at start small: Node compiles every file it loads whole.
import { build } from 'esbuild';
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/**
 * Parts of dockerode and docker-modem gear never reaches, replaced by stubs
 * that throw if ever called: the SSH transport (ssh2), BuildKit sessions
 * (@grpc/grpc-js) and BuildKit builds (protobufjs). About 700 KiB that
 * every command would otherwise compile at start.
 *
 * And Handlebars' source-map (100 KiB of source, loaded with the template
 * compiler by every install and by the agent): Handlebars makes source maps
 * of compiled templates only when asked (`srcName`), which gear never does,
 * and its code generator has its own small SourceNode for when source-map
 * is missing. The stub has no SourceNode, so that one is used.
 */
const unused = {
  name: 'gear-unused-docker-parts',
  setup(b) {
    b.onResolve({ filter: /^source-map$/ }, (args) =>
      args.importer.includes('/node_modules/handlebars/') ? { path: 'handlebars/source-map', namespace: 'gear-stub' } : undefined,
    );
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
 * Node's built-ins, loaded when the code first uses them. An ESM import of
 * a built-in makes Node read every export of it at once, and node:http's
 * include lazy ones (WebSocket, fetch's classes) that load undici, zlib,
 * http2 and perf_hooks: a third of `gear --version`'s start on Node 24.
 * Even by require(), http, tls, crypto, readline and the rest that the
 * CLI's modules import cost more than Node's own start, and a command uses
 * a few of them. So each import of a built-in gets a stand-in that
 * require()s it at the first access to any of its exports; esbuild reads
 * named imports as properties of it, at the time the code does. Its export
 * names are known now (Node reads them to bind the imports).
 */
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const require = createRequire(import.meta.url);
const src = fileURLToPath(new URL('../src/', import.meta.url));
const lazyRuntime = `module.exports = (load, names) => {
  let real;
  const module = () => (real ??= load());
  const own = new Set(names);
  return new Proxy({}, {
    get: (_, key) => module()[key],
    has: (_, key) => key in module(),
    ownKeys: () => [...own],
    getOwnPropertyDescriptor: (_, key) => (own.has(key) ? { configurable: true, enumerable: true, get: () => module()[key] } : undefined),
  });
};`;
/**
 * Built-ins a dependency require()s at load but calls only in a path gear
 * rarely takes: dbus-next's handshake hashes with crypto only for the
 * DBUS_COOKIE_SHA1 mechanism (gear authenticates as EXTERNAL), and
 * crypto's first load costs the agent about 3 MiB of resident memory;
 * `https` (with tls and crypto) costs every process that loads dockerode
 * about 9 MiB and its start-up time.
 */
const lazyInDependencies = [
  ['/node_modules/dbus-next/lib/handshake.js', 'crypto'],
  // docker-modem speaks HTTPS only to a Docker on TCP with TLS (gear uses its unix socket); dockerode gzips only build contexts.
  ['/node_modules/docker-modem/lib/http.js', 'https'],
  ['/node_modules/dockerode/lib/util.js', 'zlib'],
  // commander spawns only executable subcommands (gear has none); child_process loads net, dgram and
  // streams: a fifth of every command line's start (BENCHMARKS.md, issue 10, session 10).
  ['/node_modules/commander/lib/command.js', 'node:child_process'],
];
const lazyBuiltins = {
  name: 'gear-lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^gear-lazy-builtin$/ }, () => ({ path: 'runtime', namespace: 'gear-lazy' }));
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!builtins.has(args.path)) return undefined;
      if (args.namespace === 'gear-lazy') return { path: args.path, external: true };
      // gear's own modules, which import built-ins' named exports only (a
      // stand-in is no class to extend); dependencies get the real thing,
      // except where one is known to use a built-in's functions only, and rarely.
      const own = args.kind === 'import-statement' && args.importer.startsWith(src);
      if (!own && !lazyInDependencies.some(([file, name]) => args.kind === 'require-call' && args.importer.endsWith(file) && args.path === name)) return undefined;
      return { path: args.path, namespace: 'gear-lazy' };
    });
    b.onLoad({ filter: /.*/, namespace: 'gear-lazy' }, (args) => {
      if (args.path === 'runtime') return { contents: lazyRuntime, loader: 'js' };
      const name = JSON.stringify(args.path);
      const names = JSON.stringify(Object.getOwnPropertyNames(require(args.path)));
      return { contents: `module.exports = require('gear-lazy-builtin')(() => require(${name}), ${names});`, loader: 'js' };
    });
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
  plugins: [unused, lazyBuiltins],
  logLevel: 'warning',
});

const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const js = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
const total = js.reduce((sum, [, out]) => sum + out.bytes, 0);
console.log(`dist/gear.js and ${js.length - 1} chunks: ${kib(total)}`);

/**
 * The web console (issue 16): plain TypeScript and DOM, one script bundled
 * for the browser, its page and style copied beside it in dist/ui/, which
 * the agent serves under /ui/ (src/api/console.ts).
 */
const ui = await build({
  entryPoints: { console: 'src/console/main.ts' },
  outdir: 'dist/ui',
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  format: 'iife',
  minify: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css', 'favicon.svg']) copyFileSync(`src/console/${file}`, `dist/ui/${file}`);
const uiBytes = Object.values(ui.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0) + ['index.html', 'console.css', 'favicon.svg'].reduce((sum, f) => sum + statSync(`dist/ui/${f}`).size, 0);
console.log(`dist/ui (the console): ${kib(uiBytes)}`);
