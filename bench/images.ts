/**
 * Benchmarks of image transfer between agents (issue 12) on real test
 * hosts, each printed against a baseline measured in the same run:
 *   1. an image of about 200 MB in 5 layers of random bytes, host A to
 *      host B: `gear push-image` (the CLI in A, B's agent over TLS with a
 *      token) against `docker save | docker load` through a pipe (A's
 *      Docker into B's, on the machine through the hosts' Docker sockets),
 *      and against `docker pull` on B from Debian's docker-registry run in
 *      A (pushed once before; only the pull is timed); the image is
 *      deleted on B before each timed run; throughput ratios, medians;
 *   2. bytes sent when the receiver has the base already, as a fraction
 *      of the whole archive, against the size of the new layers;
 *   3. fan-out: `gear push-image IMAGE B C D E` against 4 pipes one after
 *      another and 4 pipes at once.
 * BENCH_ROUNDS (3), BENCH_FANOUT_ROUNDS (BENCH_ROUNDS), BENCH_LAYER_MB (40),
 * BENCH_IMAGES ("one base fanout": the parts to run).
 * Usage: GEAR_TEST_HOST=A GEAR_TEST_HOST_B=B ..._C ..._D ..._E tsx bench/images.ts
 * (npm run bench boots all five).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { GEAR, TEST_HOST as A, hostIp, remoteAgents, run, sh, testhost, type Result } from '../tests/integration/harness.js';
import { median, seconds, timed } from './common.js';

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-bench-b';
const FANOUT = [B, process.env.GEAR_TEST_HOST_C ?? 'gear-bench-c', process.env.GEAR_TEST_HOST_D ?? 'gear-bench-d', process.env.GEAR_TEST_HOST_E ?? 'gear-bench-e'];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Rounds of the fan-out (each moves 4 x 200 MB three times). */
const FANOUT_ROUNDS = Number(process.env.BENCH_FANOUT_ROUNDS ?? ROUNDS);
/** Megabytes of random bytes per layer (5 layers: the base's 4 and the image's own). */
const LAYER_MB = Number(process.env.BENCH_LAYER_MB ?? 40);
const TOKEN = 'bench-token-0123456789abcdef';
const agents = remoteAgents([A, ...FANOUT], TOKEN);
const ip = Object.fromEntries([A, ...FANOUT].map((h) => [h, hostIp(h)]));
/** The CLI in A reaches the agents with the token and CA that remoteAgents put in every host. */
const inHost = { GEAR_TOKEN_FILE: '/root/gear.token', GEAR_CA: '/root/gear-cert.pem' };
const REGISTRY = `${ip[A]}:5000`;

const BASE = 'bench/base:1'; // test/web + 4 layers of random bytes
const BIG = 'bench/big:1'; // BASE + 1 more: about 200 MB
const APP = 'bench/app:1'; // BASE + a small layer, as an application on a shared base

/** Each host's Docker socket as the machine reaches it. */
const dockerHost = (h: string) => /DOCKER_HOST=['"]?([^'"\s]+)/.exec(testhost(['env', h]))![1]!;

async function ok(r: Promise<Result>): Promise<Result> {
  const res = await r;
  if (res.code !== 0) throw new Error(res.stderr || res.stdout);
  return res;
}

/** A bash script on the machine (pipefail: a failing docker save fails it); throws unless it exits 0. */
function local(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${script}\nexit ${code}: ${stderr}`))));
  });
}

/** Build NAME in A: FROM base, one RUN per command (each a layer). */
async function build(name: string, from: string, runs: string[]): Promise<void> {
  const dir = `/root/bench-${name.replace(/[^a-z0-9]/g, '-')}`;
  const dockerfile = [`FROM ${from}`, ...runs.map((r) => `RUN ${r}`)].join('\n');
  await sh(A, `rm -rf ${dir} && mkdir -p ${dir} && printf '%s\\n' '${dockerfile}' > ${dir}/Dockerfile && docker build -q -t ${name} ${dir} >/dev/null`);
}

const idOf = async (h: string, image: string) => (await sh(h, `docker image inspect -f '{{.Id}}' ${image}`)).trim();
const noise = (file: string) => `head -c ${LAYER_MB * 1_000_000} /dev/urandom > /${file}`;

/** Every bench image gone from a receiver (all tags, their layers with them); test/web stays. */
async function clean(h: string): Promise<void> {
  await sh(h, `docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '(^|/)bench/' | xargs -r docker rmi -f >/dev/null; docker image prune -f >/dev/null`);
  const left = await sh(h, "docker images --format '{{.Repository}}' | grep -E '(^|/)bench/' || true");
  if (left.trim()) throw new Error(`${h} still has ${left}`);
}

/** The image is on host h with the id it has in A. */
async function arrived(h: string, image: string, id: string): Promise<void> {
  const got = await idOf(h, image);
  if (got !== id) throw new Error(`${h}: ${image} is ${got}, not ${id}`);
}

interface Pushed {
  sent: number;
  layers: number;
  layerBytes: number;
  transferred: number;
}

/** CPU seconds (user + system) the agent of host h has used so far (/proc/PID/stat, in clock ticks of 1/100 s). */
async function agentCpu(h: string): Promise<number> {
  const stat = await sh(h, 'cat /proc/$(systemctl show -p MainPID --value gear-agent)/stat');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: fields 14 and 15
}

/** CPU seconds of each gear push-image in A (its user + system time, from the shell's `times`) and of the receiving agent. */
const cpu = { cli: [] as number[], agent: [] as number[] };

/** gear push-image in A to hosts; its result line per host. With `measure`, its CPU and the agent's (one receiver) go to `cpu`. */
async function gearPush(image: string, hosts: string[], measure = false): Promise<Map<string, Pushed>> {
  const before = measure ? await agentCpu(hosts[0]!) : 0;
  // `times` prints the shell's and then its children's user and system time: the CLI's (bin/gear execs node).
  const r = await ok(run(A, ['bash', '-c', '"$@"; s=$?; times; exit $s', 'gear', GEAR, 'push-image', '-q', image, ...hosts.map((h) => ip[h]!)], { env: inHost, timeoutMs: 600_000 }));
  if (measure) {
    cpu.agent.push((await agentCpu(hosts[0]!)) - before);
    const t = [...r.stdout.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)].at(-1)!;
    cpu.cli.push(Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]));
  }
  const out = new Map<string, Pushed>();
  for (const h of hosts) {
    const m = new RegExp(`^${ip[h]}: \\S+ \\(sha256:[0-9a-f]{64}\\) loaded: (\\d+) of (\\d+) layers sent \\((\\d+) bytes of layers\\), \\d+ already there; (\\d+) bytes transferred`, 'm').exec(r.stdout);
    if (!m) throw new Error(`no result line for ${h}: ${r.stdout}`);
    out.set(h, { sent: Number(m[1]), layers: Number(m[2]), layerBytes: Number(m[3]), transferred: Number(m[4]) });
  }
  return out;
}

const pipe = (image: string, to: string) => `docker -H ${dockerHost(A)} save ${image} | docker -H ${dockerHost(to)} load -q >/dev/null`;

/** Milliseconds of `work` on receivers emptied first; checks the image arrived on each. */
async function timedTo(hosts: string[], image: string, id: string, work: () => Promise<unknown>): Promise<number> {
  for (const h of hosts) await clean(h);
  const ms = await timed(async () => void (await work()));
  for (const h of hosts) await arrived(h, image, id);
  return ms;
}

const MB = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');

/** One result line: time and throughput, then the throughput ratio (baseline time / this time). */
function line(what: string, ms: number, bytes: number, baseline: string, baseMs: number): void {
  console.log(`${what.padEnd(46)} ${seconds(ms).padStart(9)} ${MB(bytes, ms).padStart(11)}   throughput ${(baseMs / ms).toFixed(2)}x ${baseline} (${seconds(baseMs)}, ${MB(bytes, baseMs)})`);
}

async function startRegistry(): Promise<void> {
  // Debian's docker-registry with its own config (the packaged one does not start as shipped), over
  // TLS with the certificate the agents use (it names every host's address); A and B trust it through certs.d.
  await sh(A, `cat > /root/bench-registry.yml <<'EOF'
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/bench-registry
http:
  addr: ${REGISTRY}
  tls:
    certificate: /root/gear-cert.pem
    key: /root/gear-key.pem
EOF
systemctl stop bench-registry 2>/dev/null; rm -rf /var/lib/bench-registry; systemd-run --unit=bench-registry --collect -p Restart=no /usr/bin/docker-registry serve /root/bench-registry.yml >/dev/null`);
  for (const h of [A, B]) await sh(h, `mkdir -p /etc/docker/certs.d/${REGISTRY} && cp /root/gear-cert.pem /etc/docker/certs.d/${REGISTRY}/ca.crt`);
  for (let i = 0; ; i++) {
    if ((await run(A, ['curl', '-sf', '--cacert', '/root/gear-cert.pem', `https://${REGISTRY}/v2/`])).code === 0) break;
    if (i > 100) throw new Error(`docker-registry in ${A} did not come up: ${await sh(A, 'journalctl -u bench-registry --no-pager | tail')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await sh(A, `docker tag ${BIG} ${REGISTRY}/${BIG} && docker push -q ${REGISTRY}/${BIG} >/dev/null && docker rmi ${REGISTRY}/${BIG} >/dev/null`);
}

async function stopRegistry(): Promise<void> {
  await sh(A, 'systemctl stop bench-registry 2>/dev/null; rm -rf /var/lib/bench-registry; true');
  for (const h of [A, B]) await sh(h, `rm -rf /etc/docker/certs.d/${REGISTRY}`);
}

/** 1. About 200 MB, A to B: gear against the pipe and the registry pull. */
async function oneToOne(id: string, bytes: number): Promise<void> {
  const pulled = `${REGISTRY}/${BIG}`;
  const gearRun = () => timedTo([B], BIG, id, () => gearPush(BIG, [B], true));
  const pipeRun = () => timedTo([B], BIG, id, () => local(pipe(BIG, B)));
  const pullRun = () => timedTo([B], pulled, id, () => ok(run(B, ['docker', 'pull', '-q', pulled], { timeoutMs: 600_000 })));
  // Warm-up, outside the measurements: A's layers in the page cache, every path once.
  await gearRun();
  await pipeRun();
  await pullRun();
  cpu.cli.length = cpu.agent.length = 0; // the warm-up's left out
  const runs = { gear: [] as number[], pipe: [] as number[], pull: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.gear.push(await gearRun());
    runs.pipe.push(await pipeRun());
    runs.pull.push(await pullRun());
  }
  console.log(`seconds per round: gear ${all(runs.gear)} | pipe ${all(runs.pipe)} | registry pull ${all(runs.pull)}`);
  console.log(`CPU per gear transfer (user + system, s): CLI in A ${all(cpu.cli.map((c) => c * 1000))}, median ${median(cpu.cli).toFixed(2)}; agent in B ${all(cpu.agent.map((c) => c * 1000))}, median ${median(cpu.agent).toFixed(2)}`);
  const [g, p, r] = [median(runs.gear), median(runs.pipe), median(runs.pull)];
  line(`gear push-image, ${(bytes / 1e6).toFixed(0)} MB, A to B`, g, bytes, 'docker save | docker load', p);
  line('', g, bytes, 'docker pull from docker-registry', r);
}

/** 2. The receiver has the base: what crosses, against the whole and against the new layers. */
async function baseThere(): Promise<void> {
  const archive = async (image: string) => Number((await sh(A, `docker save ${image} | wc -c`)).trim());
  const base = await archive(BASE);
  for (const image of [BIG, APP]) {
    await clean(B);
    await gearPush(BASE, [B]);
    const whole = await archive(image);
    const pushed = (await gearPush(image, [B])).get(B)!;
    await arrived(B, image, await idOf(A, image));
    const fresh = whole - base; // the new layers' layer.tar and metadata, and the image's own config and manifest
    console.log(
      `${`gear push-image ${image}, base on the receiver`.padEnd(46)} ${pushed.sent} of ${pushed.layers} layers, ${pushed.transferred} bytes sent = ${((100 * pushed.transferred) / whole).toFixed(2)}% of the whole archive (${whole}); ` +
        `${(pushed.transferred / fresh).toFixed(3)}x the new layers (${fresh} = archive of the image - archive of its base; ${pushed.layerBytes} bytes of layer.tar)`,
    );
  }
}

/** 3. Fan-out to 4 hosts: gear's one command against 4 pipes one after another, and 4 at once. */
async function fanOut(id: string, bytes: number): Promise<void> {
  const gearRun = () => timedTo(FANOUT, BIG, id, () => gearPush(BIG, FANOUT));
  const sequential = () => timedTo(FANOUT, BIG, id, () => local(FANOUT.map((h) => pipe(BIG, h)).join(' && ')));
  const concurrent = () => timedTo(FANOUT, BIG, id, () => local(`pids=; ${FANOUT.map((h) => `(${pipe(BIG, h)}) & pids="$pids $!"`).join('; ')}; s=0; for p in $pids; do wait $p || s=1; done; exit $s`));
  const runs = { gear: [] as number[], seq: [] as number[], par: [] as number[] };
  for (let round = 0; round < FANOUT_ROUNDS; round++) {
    runs.gear.push(await gearRun());
    runs.seq.push(await sequential());
    runs.par.push(await concurrent());
  }
  console.log(`seconds per round: gear ${all(runs.gear)} | 4 pipes in turn ${all(runs.seq)} | 4 pipes at once ${all(runs.par)}`);
  const [g, s, p] = [median(runs.gear), median(runs.seq), median(runs.par)];
  line('gear push-image to 4 hosts', g, 4 * bytes, '4 x docker save | docker load in turn', s);
  line('', g, 4 * bytes, '4 x docker save | docker load at once', p);
}

async function main(): Promise<void> {
  const parts = (process.env.BENCH_IMAGES ?? 'one base fanout').split(/\s+/);
  console.log(`hosts ${A} (${ip[A]}) to ${FANOUT.map((h) => `${h} (${ip[h]})`).join(', ')}; ${ROUNDS} rounds (fan-out ${FANOUT_ROUNDS}); load average ${(await sh(A, 'cat /proc/loadavg')).split(' ').slice(0, 3).join(' ')}`);
  for (const h of FANOUT) await clean(h);
  await agents.start();
  try {
    await build(BASE, 'test/web', [1, 2, 3, 4].map((i) => noise(`noise-${i}`)));
    await build(BIG, BASE, [noise('noise-5')]);
    await build(APP, BASE, ['head -c 1000000 /dev/urandom > /app-noise', 'echo app > /app.txt']);
    const id = await idOf(A, BIG);
    const bytes = Number((await sh(A, `docker image inspect -f '{{.Size}}' ${BIG}`)).trim());
    console.log(`${BIG}: ${(bytes / 1e6).toFixed(1)} MB in ${JSON.parse(await sh(A, `docker image inspect -f '{{json .RootFS.Layers}}' ${BIG}`)).length} layers`);
    if (parts.includes('one')) {
      await startRegistry();
      try {
        await oneToOne(id, bytes);
      } finally {
        await stopRegistry();
      }
    }
    if (parts.includes('base')) await baseThere();
    if (parts.includes('fanout')) await fanOut(id, bytes);
    console.log(`load average at the end ${(await sh(A, 'cat /proc/loadavg')).split(' ').slice(0, 3).join(' ')}`);
  } finally {
    for (const h of FANOUT) await clean(h).catch(() => undefined);
    await agents.stop();
    rmSync(agents.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
