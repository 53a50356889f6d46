// Bundle the CLI and agent into one file, dist/gear.js (esbuild).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

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
  logLevel: 'warning',
});

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dist/gear.js: ${(bytes / 1024).toFixed(0)} KiB`);
