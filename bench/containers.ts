/**
 * Benchmarks of gear's container lifecycle on a real test host, each printed
 * as a ratio against a baseline measured in the same run:
 *   - install + start N HTTP containers until every one answers, against
 *     N `docker run -d` one after another and N launched in parallel;
 *     every variant uses the same N external ports, and its clock and its
 *     probes start when it is launched;
 *   - `gear list-units --all` with 200 installed, against `systemctl list-units`;
 *   - the CLI's cold start (`gear --version`) against `node -e 0`.
 * Usage: GEAR_TEST_HOST=NAME tsx bench/containers.ts  (npm run bench boots the host)
 */
import { connect } from 'node:net';
import { GEAR, TEST_HOST as H, gear, hostIp, sh } from '../tests/integration/harness.js';
import { median, ratioLine, timed, timeInHost } from './common.js';

const N = Number(process.env.BENCH_N ?? 30);
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
async function allAnswer(ports: number[]): Promise<void> {
  await Promise.all(
    ports.map(async (port) => {
      while (!(await answers(port))) await new Promise((r) => setTimeout(r, PROBE_MS));
    }),
  );
}

/** The external ports, the same for every variant. */
const PORTS = Array.from({ length: N }, (_, i) => 5000 + i);
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

type Baseline = 'sequential' | 'parallel' | 'attached';

/**
 * N containers by hand: `docker run -d` one after another or all at once, or
 * all at once in the foreground (attached, as gear's units run them so that
 * output reaches the journal), left running in the background.
 */
async function dockerBaseline(kind: Baseline): Promise<number> {
  const ns = names('raw', N);
  const run = (n: string, i: number) => `docker run -d --name ${n} -p ${PORTS[i]}:8080 test/web >/dev/null`;
  const attached = (n: string, i: number) => `setsid docker run --rm --name ${n} -p ${PORTS[i]}:8080 test/web >/dev/null 2>&1 </dev/null &`;
  const script =
    kind === 'sequential' ? ns.map(run).join('\n') : kind === 'parallel' ? `${ns.map((n, i) => `${run(n, i)} &`).join('\n')}\nwait` : ns.map(attached).join('\n');
  const ms = await timed(() => Promise.all([sh(H, script), allAnswer(PORTS)]).then(() => undefined));
  await sh(H, `docker rm -f ${ns.join(' ')} >/dev/null`);
  return ms;
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
    await Promise.all([install, allAnswer(PORTS)]);
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
  const runs = { seq: [] as number[], par: [] as number[], att: [] as number[], gear: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.seq.push(await dockerBaseline('sequential'));
    runs.par.push(await dockerBaseline('parallel'));
    runs.att.push(await dockerBaseline('attached'));
    runs.gear.push(await gearInstallStart());
  }
  const [seq, par, att, g] = [median(runs.seq), median(runs.par), median(runs.att), median(runs.gear)];
  const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
  console.log(`medians of ${ROUNDS} rounds; seconds per round: sequential ${all(runs.seq)} | parallel ${all(runs.par)} | attached ${all(runs.att)} | gear ${all(runs.gear)}`);
  const what = `gear install --start, N=${N}, until all answer`;
  line(what, g, 'parallel docker run -d', par);
  line(what, g, 'parallel attached docker run', att);
  line(what, g, 'sequential docker run -d', seq);

  const many = names('l', 200);
  for (let i = 0; i < many.length; i += 50) {
    const r = await gear(H, ['install', 'test/web', ...many.slice(i, i + 50)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const list = await timeInHost(H, [GEAR, 'list-units', '--all'], 7);
  const sysList = await timeInHost(H, ['systemctl', 'list-units', '--all', '--no-pager', 'ctr-*'], 7);
  line('gear list-units --all, 200 installed', list, 'systemctl list-units', sysList);
  await gear(H, ['delete', ...many]);

  const cold = await timeInHost(H, [GEAR, '--version'], 11);
  const node = await timeInHost(H, ['node', '-e', '0'], 11);
  line('gear --version (cold start)', cold, 'node -e 0', node);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
