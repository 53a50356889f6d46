/**
 * Wake-from-idle latency of a socket-activated container (issue 13): the
 * time to the first byte of the answer to a request that finds the
 * container idle (no container; systemd's socket listening), against the
 * same request to a running container, measured in the same run. Also:
 *   - the same request to the socket-activated container while it is
 *     awake (what the proxy adds to each request);
 *   - a cold start by hand: `gear start` of a stopped plain container,
 *     then the request (what a wake would cost if nothing listened);
 *   - a socket-activated container with two published ports (a socket and
 *     a proxy each; test/two2: test/web's http on 8080 and 8081), woken
 *     alternately through its first and its second port.
 * Each figure is the median of ROUNDS (of 5 x ROUNDS for the requests to
 * a running or awake container); the variants alternate.
 * Usage: GEAR_TEST_HOST=NAME tsx bench/wake.ts  (npm run bench boots the host)
 */
import { connect } from 'node:net';
import { GEAR, TEST_HOST as H, allocatedPort, gear, hostIp, sh } from '../tests/integration/harness.js';
import { median, timed } from './common.js';

/** One result line in milliseconds (the figures are far below a second), with its ratio against the baseline. */
function line(what: string, ms: number, baseline: string, baseMs: number): void {
  console.log(`${what.padEnd(56)} ${`${ms.toFixed(1)} ms`.padStart(10)}   ${(ms / baseMs).toFixed(2)}x ${baseline} (${baseMs.toFixed(1)} ms)`);
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ip = hostIp(H);

/** Milliseconds from the connect to the first byte of the answer to one HTTP/1.0 GET; fails without a 200. */
function firstByte(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = connect({ host: ip, port });
    let at = 0;
    let head = '';
    socket.setTimeout(300_000, () => socket.destroy(new Error(`no answer on ${port}`)));
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (d) => {
      if (!at) at = performance.now() - start;
      head += d;
    });
    socket.on('error', reject);
    socket.on('close', () => (/^HTTP\/1\.[01] 200/.test(head) ? resolve(at) : reject(new Error(`port ${port} answered: ${head.slice(0, 80) || 'nothing'}`))));
  });
}

async function install(args: string[]): Promise<number> {
  const r = await gear(H, ['install', 'test/web', ...args, '-p', '8080:0', '--start']);
  if (r.code !== 0) throw new Error(r.stderr);
  return allocatedPort(r.stdout);
}

const isActive = async (unit: string) => (await sh(H, `systemctl is-active ${unit}; true`)).trim();

/** Until the socket-activated container has idled out (its unit stopped and its container gone). */
async function idle(name: string): Promise<void> {
  for (;;) {
    if ((await isActive(`ctr-${name}.service`)) === 'inactive' && (await sh(H, `docker inspect ctr-${name} >/dev/null 2>&1 && echo yes; true`)).trim() === '') return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const NAMES = 'wake-run wake-sa wake-cold wake-two';

async function main(): Promise<void> {
  await sh(H, `for n in ${NAMES}; do ${GEAR} delete $n >/dev/null 2>&1; done; true`);
  const running = await install(['wake-run']);
  const activated = await install(['wake-sa', '--socket-activated', '--idle-after', '2s']);
  const cold = await install(['wake-cold']);
  // busybox httpd without -f goes to the background: the second port's server.
  await sh(H, `printf 'FROM test/web\\nCMD ["sh", "-c", "httpd -p 8081 -h /www && exec /start"]\\n' | docker build -q -t test/two2 - >/dev/null`);
  const r = await gear(H, ['install', 'test/two2', 'wake-two', '--socket-activated', '-p', '8080:0', '-p', '8081:0', '--idle-after', '2s', '--start']);
  if (r.code !== 0) throw new Error(r.stderr);
  const two = [allocatedPort(r.stdout, 8080), allocatedPort(r.stdout, 8081)] as const;
  await firstByte(two[0]);
  await firstByte(two[1]);
  // Warm: the image's layers and the page in the page cache, every path once.
  await firstByte(running);
  await firstByte(activated);
  await firstByte(cold);
  const times = { running: [] as number[], wake: [] as number[], awake: [] as number[], cold: [] as number[], twoFirst: [] as number[], twoSecond: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    // The quick requests several times a round: one is a few milliseconds, and the machine is shared.
    for (let k = 0; k < 5; k++) times.running.push(await firstByte(running));
    await idle('wake-sa');
    times.wake.push(await firstByte(activated));
    for (let k = 0; k < 5; k++) times.awake.push(await firstByte(activated));
    const stopped = await gear(H, ['stop', 'wake-cold']);
    if (stopped.code !== 0) throw new Error(stopped.stderr);
    times.cold.push(
      await timed(async () => {
        const r = await gear(H, ['start', 'wake-cold']);
        if (r.code !== 0) throw new Error(r.stderr);
        await firstByte(cold);
      }),
    );
    // Two ports: a wake through each, idle between them.
    await idle('wake-two');
    times.twoFirst.push(await firstByte(two[0]));
    await idle('wake-two');
    times.twoSecond.push(await firstByte(two[1]));
  }
  const base = median(times.running);
  const load = (await sh(H, 'cat /proc/loadavg')).split(' ')[0];
  console.log(`\nwake from idle (median of ${ROUNDS}; time to the first byte of the answer; load average ${load})`);
  line('request to a running container', base, 'itself', base);
  line('request that wakes an idle socket-activated container', median(times.wake), 'running', base);
  line('request to an awake socket-activated container (proxy)', median(times.awake), 'running', base);
  line('gear start of a stopped container, then the request', median(times.cold), 'running', base);
  line('request that wakes (against gear start + request)', median(times.wake), 'gear start + request', median(times.cold));
  line('two ports: request that wakes it on the first port', median(times.twoFirst), 'running', base);
  line('two ports: request that wakes it on the second port', median(times.twoSecond), 'running', base);
  line('two ports: wake on the second port (against one port)', median(times.twoSecond), 'one-port wake', median(times.wake));
  await sh(H, `for n in ${NAMES}; do ${GEAR} delete $n >/dev/null 2>&1; done; sh -c 'docker rmi test/two2 >/dev/null 2>&1'; true`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
