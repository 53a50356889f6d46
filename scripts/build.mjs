// Bundle the CLI and agent into one file, dist/gear.js (esbuild).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

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

const result = await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/gear.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
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
  plugins: [unused],
  logLevel: 'warning',
});

const js = result.metafile.outputs['dist/gear.js'].bytes;
console.log(`dist/gear.js: ${(js / 1024).toFixed(0)} KiB`);
