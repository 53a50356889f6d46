/**
 * Health-gated updates behind a link (issue 13): requests that fail while
 * `gear update` restarts an instance, and how long the update takes.
 *   - drained: two instances behind one link with two targets; each is
 *     updated in turn (gear takes it out of the link, waits for its
 *     connections, updates, puts it back once healthy);
 *   - baseline, in the same run: one instance behind a link with one target
 *     (nothing to balance to: the plain update, as before links had several).
 * A client container sends requests through its link in a loop during each
 * update (busybox wget, one connection each, 5 s timeout); every request that
 * does not get the page counts as failed. The images alternate between two
 * tags of the same content, so every round is a real update. Also printed:
 * the part of the drained update spent waiting for the instance's
 * connections to end (the answer's Drained.WaitedMs).
 * Usage: GEAR_TEST_HOST=NAME tsx bench/update.ts  (npm run bench boots the host)
 */
import { GEAR, TEST_HOST as H, allocatedPort, gear, run, sh } from '../tests/integration/harness.js';
import { median, timed } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHECK = 'wget -qO- localhost:8080/ >/dev/null';
const HEALTH = ['--health-cmd', CHECK, '--health-interval', '1s', '--health-retries', '2', '--health-timeout', '20s', '--health-start-period', '15s'];
const NAMES = ['bu-web-1', 'bu-web-2', 'bu-solo', 'bu-client', 'bu-client-solo'];
const TAGS = ['test/web:bu-a', 'test/web:bu-b'];

async function ok(args: string[]): Promise<string> {
  const r = await gear(H, args);
  if (r.code !== 0) throw new Error(`gear ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const inClient = (client: string, script: string) => run(H, ['docker', 'exec', `ctr-${client}`, 'sh', '-c', script]);

/** Requests through the client's link during `work`: [failed, total]. */
async function underLoad(client: string, work: () => Promise<void>): Promise<[number, number]> {
  await inClient(client, 'rm -f /tmp/stop /tmp/log /tmp/done');
  const loop = 'while [ ! -e /tmp/stop ]; do if timeout 5 wget -qO- http://127.0.0.2:8080/ >/dev/null 2>&1; then echo ok >> /tmp/log; else echo fail >> /tmp/log; fi; done; touch /tmp/done';
  await run(H, ['docker', 'exec', '-d', `ctr-${client}`, 'sh', '-c', loop]);
  while ((await inClient(client, 'test -s /tmp/log')).code !== 0) await new Promise((r) => setTimeout(r, 50));
  await work();
  await inClient(client, 'touch /tmp/stop');
  while ((await inClient(client, 'test -e /tmp/done')).code !== 0) await new Promise((r) => setTimeout(r, 50));
  const log = (await inClient(client, 'cat /tmp/log')).stdout.split('\n').filter(Boolean);
  return [log.filter((l) => l === 'fail').length, log.length];
}

async function main(): Promise<void> {
  await sh(H, `for n in ${NAMES.join(' ')}; do ${GEAR} delete $n >/dev/null 2>&1; done; true`);
  for (const [i, tag] of TAGS.entries()) await sh(H, `printf 'FROM test/web\\nLABEL bench=${i}\\n' | docker build -q -t ${tag} - >/dev/null`);
  const port: Record<string, number> = {};
  for (const n of ['bu-web-1', 'bu-web-2', 'bu-solo']) port[n] = allocatedPort(await ok(['install', TAGS[1]!, n, '--start', '-p', '8080:0', ...HEALTH]));
  await ok(['install', 'test/web', 'bu-client', '--start', '-n', `127.0.0.2:8080:localhost:${port['bu-web-1']},127.0.0.2:8080:localhost:${port['bu-web-2']}`]);
  await ok(['install', 'test/web', 'bu-client-solo', '--start', '-n', `127.0.0.2:8080:localhost:${port['bu-solo']}`]);
  const drained = { ms: [] as number[], waits: [] as number[], failed: 0, total: 0 };
  const plain = { ms: [] as number[], failed: 0, total: 0 };
  const loads: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const tag = TAGS[round % 2]!;
    loads.push((await sh(H, 'cat /proc/loadavg')).split(' ')[0]!);
    // Alternate which goes first, so neither always meets the busier moment.
    const steps = [
      async () => {
        const [f, t] = await underLoad('bu-client', async () => {
          for (const n of ['bu-web-1', 'bu-web-2']) {
            let out = '';
            drained.ms.push(await timed(async () => void (out = await ok(['update', n, '--image', tag, '--json']))));
            const d = (JSON.parse(out) as { Drained?: { From: string[]; WaitedMs: number } }).Drained;
            if (!d?.From.includes('bu-client')) throw new Error(`${n} was not drained: ${out}`);
            drained.waits.push(d.WaitedMs);
          }
        });
        drained.failed += f;
        drained.total += t;
      },
      async () => {
        const [f, t] = await underLoad('bu-client-solo', async () => {
          plain.ms.push(await timed(async () => void (await ok(['update', 'bu-solo', '--image', tag]))));
        });
        plain.failed += f;
        plain.total += t;
      },
    ];
    for (const step of round % 2 ? steps.reverse() : steps) await step();
  }
  loads.push((await sh(H, 'cat /proc/loadavg')).split(' ')[0]!);
  const [d, p] = [median(drained.ms), median(plain.ms)];
  console.log(`\nhealth-gated update behind a link (${ROUNDS} rounds; load average ${loads.join(', ')})`);
  console.log(`${'drained: 2 instances, link with 2 targets'.padEnd(44)} failed ${`${drained.failed} of ${drained.total}`.padStart(12)} requests   update ${(d / 1000).toFixed(2)} s (median of ${drained.ms.length})   ${(d / p).toFixed(2)}x plain`);
  console.log(`${'  of which the wait for its connections'.padEnd(44)} ${`${median(drained.waits).toFixed(0)} ms`.padStart(26)} (median; longest ${Math.max(...drained.waits).toFixed(0)} ms)`);
  console.log(`${'plain: 1 instance, link with 1 target'.padEnd(44)} failed ${`${plain.failed} of ${plain.total}`.padStart(12)} requests   update ${(p / 1000).toFixed(2)} s (median of ${plain.ms.length})   baseline`);
  await sh(H, `for n in ${NAMES.join(' ')}; do ${GEAR} delete $n >/dev/null 2>&1; done; docker rmi ${TAGS.join(' ')} >/dev/null 2>&1; true`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
