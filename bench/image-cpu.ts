/**
 * CPU of gear's two ends of an image transfer, on this machine, without
 * test hosts: the CPU time (user + system) the sending end and the
 * receiving end spend per transfer, each in its own process, on the same
 * code paths as `gear push-image` to an agent:
 *   sender:   "docker save" (a fake Docker on a unix socket, its own process,
 *             serving a synthesized image archive) -> filterForReceiver ->
 *             transfer() -> the agent client's upload over TLS with a token;
 *   receiver: an HTTPS server with the agent's image routes
 *             (registerImageRoutes) -> verifyForLoad -> "docker load" (the
 *             fake Docker, which reads and discards).
 * The fake Docker's CPU is not counted (it stands for dockerd). On a loaded
 * machine wall time says little; CPU time per transfer is what gear adds.
 * It also counts each end's garbage collections (major / minor) per transfer.
 * BENCH_CPU_LAYERS (5) layers of BENCH_CPU_LAYER_MB (40) MB of random bytes;
 * BENCH_CPU_ROUNDS (5); BENCH_CPU_NODE_FLAGS (node flags of both ends, e.g.
 * --trace-gc); BENCH_CPU_VARIANTS: environments of both ends separated by
 * ";" (e.g. "X=0;X=1"), compared round by round, each with its own receiver.
 * Usage: node --import tsx bench/image-cpu.ts (not part of npm run bench:
 * it needs no test host and measures CPU, not a ratio).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { AgentClient } from '../src/api/client.js';
import { remoteImagePeer } from '../src/api/image-client.js';
import { registerImageRoutes } from '../src/api/images.js';
import { JobQueue } from '../src/api/jobs.js';
import type { Host } from '../src/host/context.js';
import { DockerImages } from '../src/host/images.js';
import { localImagePeer, transfer } from '../src/operations/images.js';
import { median } from './common.js';

const LAYERS = Number(process.env.BENCH_CPU_LAYERS ?? 5);
const LAYER_MB = Number(process.env.BENCH_CPU_LAYER_MB ?? 40);
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5);
const TOKEN = 'bench-cpu-token-0123456789abcdef';
const role = process.argv[2];

/** Garbage collections since the process started: major (mark-compact) and minor (scavenge). */
const gcs = { major: 0, minor: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
  }
}).observe({ entryTypes: ['gc'] });

const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

/** A `docker save`-like archive: per layer a directory, VERSION, json, layer.tar; the config; manifest.json. */
async function makeArchive(file: string): Promise<{ id: string; diffIds: string[] }> {
  const p = pack();
  const out = pipeline(p as unknown as NodeJS.ReadableStream, createWriteStream(file));
  const put = (header: Parameters<typeof p.entry>[0], body?: Buffer) => new Promise<void>((res, rej) => (body ? p.entry(header, body, (e) => (e ? rej(e) : res())) : p.entry(header, (e) => (e ? rej(e) : res()))));
  const diffIds: string[] = [];
  const dirs: string[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const dir = randomBytes(32).toString('hex');
    dirs.push(dir);
    await put({ name: `${dir}/`, type: 'directory' });
    await put({ name: `${dir}/VERSION`, size: 3 }, Buffer.from('1.0'));
    const json = Buffer.from(JSON.stringify({ id: dir, created: '2026-12-03T00:00:00Z' }));
    await put({ name: `${dir}/json`, size: json.length }, json);
    const size = LAYER_MB * 1_000_000;
    const hash = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      const sink = p.entry({ name: `${dir}/layer.tar`, size }, (e) => (e ? reject(e) : resolve())) as unknown as NodeJS.WritableStream;
      let left = size;
      const more = () => {
        while (left > 0) {
          const b = randomBytes(Math.min(left, 1 << 20));
          left -= b.length;
          hash.update(b);
          if (!sink.write(b)) return void sink.once('drain', more);
        }
        sink.end();
      };
      more();
    });
    diffIds.push(`sha256:${hash.digest('hex')}`);
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const hex = createHash('sha256').update(config).digest('hex');
  await put({ name: `${hex}.json`, size: config.length }, config);
  const manifest = Buffer.from(JSON.stringify([{ Config: `${hex}.json`, RepoTags: ['bench/cpu:1'], Layers: dirs.map((d) => `${d}/layer.tar`) }]));
  await put({ name: 'manifest.json', size: manifest.length }, manifest);
  p.finalize();
  await out;
  return { id: `sha256:${hex}`, diffIds };
}

/** The fake Docker: inspect, list, save (the archive, in 32 KiB writes as dockerd's io.Copy) and load (read, discarded). */
function fakeDocker(socket: string, archive: string, id: string, diffIds: string[]): void {
  createHttp((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/images/json')) return void res.end('[]');
    if (url.includes('/json')) return void res.end(JSON.stringify({ Id: id, RepoTags: ['bench/cpu:1'], RootFS: { Layers: diffIds }, Size: LAYERS * LAYER_MB * 1e6 }));
    if (url.startsWith('/images/get')) return void createReadStream(archive, { highWaterMark: 32 * 1024 }).pipe(res);
    if (url.startsWith('/images/load')) {
      req.on('data', () => undefined);
      req.on('end', () => res.end('{"stream":"Loaded image: bench/cpu:1\\n"}\n'));
      return;
    }
    res.writeHead(404).end('{"message":"no"}');
  }).listen(socket, () => process.send?.('ready'));
}

/** The receiving agent: its image routes, over HTTPS with the token. */
function receiver(socket: string, cert: string, key: string): void {
  const host = { images: new DockerImages(socket) } as unknown as Host;
  let handler!: (call: { req: unknown; res: unknown; params: object; query: Record<string, string>; body: unknown }) => Promise<void>;
  registerImageRoutes(
    ((method: string, path: string, h: typeof handler) => {
      if (method === 'POST' && path === '/images/load') handler = h;
    }) as never,
    { host, jobs: new JobQueue(4, 16), log: () => undefined },
  );
  const server = createHttps({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    const start = process.cpuUsage();
    const gc0 = { ...gcs };
    const query = Object.fromEntries(new URL(req.url ?? '', 'https://x').searchParams);
    handler({ req, res, params: {}, query, body: req }).then(
      () => process.send?.({ cpu: cpuSeconds(start), major: gcs.major - gc0.major, minor: gcs.minor - gc0.minor }),
      (err: Error) => (res.writeHead(500).end(err.message), process.send?.({ error: err.message })),
    );
  });
  server.requestTimeout = 0; // a transfer on a loaded machine can take minutes
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as { port: number }).port }));
}

async function sender(socket: string, port: number, ca: string): Promise<void> {
  const local = localImagePeer({ images: new DockerImages(socket) } as unknown as Host);
  const remote = remoteImagePeer(new AgentClient({ label: 'receiver', host: '127.0.0.1', port, token: TOKEN, tls: { ca: readFileSync(ca) } }));
  const start = process.cpuUsage();
  const gc0 = { ...gcs };
  const t0 = performance.now();
  const r = await transfer(local, { ...remote, layersHad: async () => [] }, 'bench/cpu:1');
  process.send?.({ cpu: cpuSeconds(start), ms: performance.now() - t0, bytes: r.Transferred, major: gcs.major - gc0.major, minor: gcs.minor - gc0.minor });
}

function child(args: string[], env: Record<string, string> = {}): ChildProcess {
  const flags = (process.env.BENCH_CPU_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return spawn(process.execPath, [...process.execArgv, ...flags, new URL(import.meta.url).pathname, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
}
const message = <T>(c: ChildProcess, pick: (m: unknown) => T | undefined) =>
  new Promise<T>((resolve, reject) => {
    const on = (m: unknown) => {
      const v = pick(m);
      if (v !== undefined) (c.off('message', on), resolve(v));
    };
    c.on('message', on);
    c.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gear-image-cpu-'));
  try {
    const archive = join(dir, 'image.tar');
    const { id, diffIds } = await makeArchive(archive);
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const socket = join(dir, 'docker.sock');
    const docker = child(['docker', socket, archive, id, diffIds.join(',')]);
    await message(docker, (m) => (m === 'ready' ? true : undefined));
    // Variants (BENCH_CPU_VARIANTS: environments separated by ";", e.g. "X=1;X=2"), compared round by round on a
    // machine whose load changes by the minute: each has its receiver; rounds alternate between them.
    const variants = (process.env.BENCH_CPU_VARIANTS ?? '').split(';').map((v) => Object.fromEntries(v.split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string])));
    const receivers = await Promise.all(
      variants.map(async (env) => {
        const c = child(['receiver', socket, cert, key], env);
        return { env, c, port: await message(c, (m) => (m as { port?: number }).port), rows: [] as { send: number; recv: number; ms: number }[] };
      }),
    );
    const bytes = statSync(archive).size;
    console.log(`node ${process.version}; archive ${(bytes / 1e6).toFixed(1)} MB in ${LAYERS} layers; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    for (let i = 0; i <= ROUNDS; i++) {
      for (const v of receivers) {
        const recvCpu = message(v.c, (m) => {
          const r = m as { cpu?: number; major: number; minor: number; error?: string };
          if (r.error) throw new Error(r.error);
          return r.cpu === undefined ? undefined : r;
        });
        const s = child(['sender', socket, String(v.port), cert], v.env);
        const sent = await message(s, (m) => m as { cpu: number; ms: number; bytes: number; major: number; minor: number });
        const got = await recvCpu;
        const row = { send: sent.cpu, recv: got.cpu!, ms: sent.ms };
        if (i > 0) v.rows.push(row); // the first is a warm-up (page cache, JIT of the receiver)
        const name = JSON.stringify(v.env);
        console.log(`${i === 0 ? 'warm-up' : `round ${i}`} ${name}: sender ${row.send.toFixed(2)} s CPU, receiver ${row.recv.toFixed(2)} s CPU, ${(row.ms / 1000).toFixed(2)} s wall; GCs major/minor: sender ${sent.major}/${sent.minor}, receiver ${got.major}/${got.minor}`);
      }
    }
    const per = (s: number) => `${s.toFixed(2)} s (${((s / bytes) * 1e9).toFixed(1)} ns/byte)`;
    for (const v of receivers)
      console.log(`median of ${ROUNDS} ${JSON.stringify(v.env)}: sender ${per(median(v.rows.map((r) => r.send)))}, receiver ${per(median(v.rows.map((r) => r.recv)))}, wall ${(median(v.rows.map((r) => r.ms)) / 1000).toFixed(2)} s`);
    console.log(`load average at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    // Asked to exit (not killed): a --cpu-prof of them is written.
    for (const c of [...receivers.map((v) => v.c), docker]) c.send('exit', () => undefined); // one already gone: no EPIPE
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.on('message', (m) => m === 'exit' && process.exit(0));
if (role === 'docker') fakeDocker(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!.split(','));
else if (role === 'receiver') receiver(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else if (role === 'sender') sender(process.argv[3]!, Number(process.argv[4]), process.argv[5]!).then(() => process.exit(0));
else if (existsSync('/proc/loadavg')) main().catch((err) => (console.error(err), process.exit(1)));
