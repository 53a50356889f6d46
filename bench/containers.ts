/**
 * Benchmarks of gear's container lifecycle on a real test host, each printed
 * as a ratio against a baseline measured in the same run:
 *   - install + start N HTTP containers until every one answers, against
 *     N `docker run -d` one after another and N launched in parallel;
 *     every variant uses the same N external ports, and its clock and its
 *     probes start when it is launched;
 *   - a script running `gear install IMAGE NAME --start` once per container,
 *     M of them launched together (M processes), against M parallel
 *     `docker run -d`: what each CLI process's start-up costs;
 *   - `gear list-units --all` with 200 installed, against `systemctl list-units`;
 *   - the CLI's cold start (`gear --version`) against `node -e 0`, on the
 *     same node binary gear runs on; and without Node's compile cache.
 * Usage: GEAR_TEST_HOST=NAME tsx bench/containers.ts  (npm run bench boots the host)
 */
import { connect } from 'node:net';
import { GEAR, TEST_HOST as H, gear, hostIp, sh } from '../tests/integration/harness.js';
import { NODE, median, ratioLine, timed, timeInHost } from './common.js';

const N = Number(process.env.BENCH_N ?? 30);
/** Containers of the one-process-per-container script. */
const M = Number(process.env.BENCH_M ?? 20);
/** Rounds of the container benchmark; the variants alternate so drift hits all alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ip = hostIp(H);

/** Probe interval per port. */
const PROBE_MS = 100;

/** One HTTP/1.0 request over a plain socket: true on a 200. Far lighter than fetch, which matters on 2 cores. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    let head = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (d) => {
      head += d;
      if (head.includes('\r\n')) done(/^HTTP\/1\.[01] 200/.test(head));
    });
    socket.on('error', () => done(false));
    socket.on('end', () => done(/^HTTP\/1\.[01] 200/.test(head)));
  });
}

/**
 * Resolves when every port answers. Every variant is watched the same way
 * from the moment it is launched: the probes run alongside the launch, so
 * their cost lands on every variant alike.
 */
async function allAnswer(ports: number[], signal: AbortSignal): Promise<void> {
  await Promise.all(
    ports.map(async (port) => {
      while (!signal.aborted && !(await answers(port))) await new Promise((r) => setTimeout(r, PROBE_MS));
    }),
  );
}

/** A launch and the probes of its ports; a launch that fails stops the probes (they would wait forever) and fails the benchmark. */
async function launchedAndAnswering(launch: Promise<unknown>, ports: number[]): Promise<void> {
  const probes = new AbortController();
  await Promise.all([
    launch.catch((err: unknown) => {
      probes.abort();
      throw err;
    }),
    allAnswer(ports, probes.signal),
  ]);
}

/** The external ports, the same for every variant. */
const PORTS = Array.from({ length: Math.max(N, M) }, (_, i) => 5000 + i);
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

type Baseline = 'sequential' | 'parallel' | 'attached';

/**
 * n containers by hand: `docker run -d` one after another or all at once, or
 * all at once in the foreground (attached, as gear's units run them so that
 * output reaches the journal), left running in the background.
 */
async function dockerBaseline(kind: Baseline, n = N): Promise<number> {
  const ns = names('raw', n);
  const run = (n: string, i: number) => `docker run -d --name ${n} -p ${PORTS[i]}:8080 test/web >/dev/null`;
  const attached = (n: string, i: number) => `setsid docker run --rm --name ${n} -p ${PORTS[i]}:8080 test/web >/dev/null 2>&1 </dev/null &`;
  const script =
    kind === 'sequential' ? ns.map(run).join('\n') : kind === 'parallel' ? `${ns.map((n, i) => `${run(n, i)} &`).join('\n')}\nwait` : ns.map(attached).join('\n');
  const ms = await timed(() => launchedAndAnswering(sh(H, script), PORTS.slice(0, n)));
  await sh(H, `docker rm -f ${ns.join(' ')} >/dev/null`);
  return ms;
}

/**
 * A script that runs `gear install test/web NAME --start` once per
 * container, M processes launched together; its port range is exactly M
 * ports, so probing starts at launch as for the baseline. Fails unless
 * every process exits 0.
 */
async function gearPerContainer(): Promise<number> {
  const ns = names('s', M);
  const range = `GEAR_PORT_RANGE=${PORTS[0]}-${PORTS[M - 1]}`;
  const script = [
    'pids=',
    ...ns.map((n) => `${range} ${GEAR} install test/web ${n} --start -p 8080:0 >/dev/null & pids="$pids $!"`),
    'status=0; for p in $pids; do wait $p || status=1; done; exit $status',
  ].join('\n');
  const since = (await sh(H, 'date +%s.%N')).trim();
  const ms = await timed(() => launchedAndAnswering(sh(H, script), PORTS.slice(0, M)));
  reloadCounts.push(await reloadsSince(since));
  const del = await gear(H, ['delete', ...ns]);
  if (del.code !== 0) throw new Error(del.stderr);
  return ms;
}

/** systemd Reloads done by the M separate installs of each round (shared between processes: host/shared-reload.ts). */
const reloadCounts: number[] = [];
/** How many times systemd reloaded since `since` (epoch seconds), from its own "Reloading." lines in the host's journal. */
async function reloadsSince(since: string): Promise<number> {
  const out = await sh(H, `journalctl _PID=1 --since @${since} -o cat --no-pager | grep -c '^Reloading' || true`);
  return Number(out.trim()) || 0;
}

/**
 * One `gear install --start` of N names. Its port range is exactly N ports,
 * so the ports it allocates are known before it prints them and probing can
 * start at launch, as for the baselines.
 */
async function gearInstallStart(): Promise<number> {
  const ns = names('g', N);
  const ms = await timed(async () => {
    const install = gear(H, ['install', 'test/web', ...ns, '--start', '-p', '8080:0'], { env: { GEAR_PORT_RANGE: `${PORTS[0]}-${PORTS[N - 1]}` } }).then((r) => {
      if (r.code !== 0) throw new Error(r.stderr);
    });
    await launchedAndAnswering(install, PORTS.slice(0, N));
  });
  const del = await gear(H, ['delete', ...ns]);
  if (del.code !== 0) throw new Error(del.stderr);
  return ms;
}

const line = (what: string, ms: number, baseline: string, baseMs: number) => ratioLine(what, ms, baseline, baseMs, 44);

async function main(): Promise<void> {
  console.log(`host ${H} (${ip}), N=${N}`);
  // Warm up the image and docker's caches once, outside the measurements.
  await dockerBaseline('parallel');
  const runs = { seq: [] as number[], par: [] as number[], att: [] as number[], gear: [] as number[], parM: [] as number[], gearM: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.seq.push(await dockerBaseline('sequential'));
    runs.par.push(await dockerBaseline('parallel'));
    runs.att.push(await dockerBaseline('attached'));
    runs.gear.push(await gearInstallStart());
    runs.parM.push(await dockerBaseline('parallel', M));
    runs.gearM.push(await gearPerContainer());
  }
  const [seq, par, att, g] = [median(runs.seq), median(runs.par), median(runs.att), median(runs.gear)];
  const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
  console.log(`medians of ${ROUNDS} rounds; seconds per round: sequential ${all(runs.seq)} | parallel ${all(runs.par)} | attached ${all(runs.att)} | gear ${all(runs.gear)}`);
  console.log(`  ${M} at once: parallel docker run -d ${all(runs.parM)} | gear, one process per container ${all(runs.gearM)}; systemd Reloads in those: ${reloadCounts.join(' ')}`);
  const what = `gear install --start, N=${N}, until all answer`;
  line(what, g, 'parallel docker run -d', par);
  line(what, g, 'parallel attached docker run', att);
  line(what, g, 'sequential docker run -d', seq);
  line(`${M} x gear install NAME --start, launched together`, median(runs.gearM), `${M} parallel docker run -d`, median(runs.parM));

  const many = names('l', 200);
  for (let i = 0; i < many.length; i += 50) {
    const r = await gear(H, ['install', 'test/web', ...many.slice(i, i + 50)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const list = await timeInHost(H, [GEAR, 'list-units', '--all'], 7);
  const sysList = await timeInHost(H, ['systemctl', 'list-units', '--all', '--no-pager', 'ctr-*'], 7);
  line('gear list-units --all, 200 installed', list, 'systemctl list-units', sysList);
  await gear(H, ['delete', ...many]);

  // The first run fills Node's compile cache (/var/cache/gear in the host); the medians are of runs that read it.
  const cold = await timeInHost(H, [GEAR, '--version'], 11);
  const uncached = await timeInHost(H, ['env', 'NODE_DISABLE_COMPILE_CACHE=1', GEAR, '--version'], 11);
  const node = await timeInHost(H, [NODE, '-e', '0'], 11);
  line('gear --version (cold start)', cold, 'node -e 0', node);
  line('gear --version, no compile cache', uncached, 'node -e 0', node);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
