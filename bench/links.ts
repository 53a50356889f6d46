/**
 * Benchmarks of links and deploys on two real test hosts, each printed as a
 * ratio against a baseline measured in the same run:
 *   - `gear deploy` of 20 instances with links over 2 hosts (10 web, each
 *     linked to all 10 db: 100 links), until every instance answers, against
 *     installing and starting the same 20 containers without links;
 *   - `gear link` of 100 links to one container (one iptables-restore
 *     batch) against 1 link, and the 100-link apply against 100 separate
 *     `iptables` processes doing the same in the container's namespace.
 * Usage: GEAR_TEST_HOST=A GEAR_TEST_HOST_B=B tsx bench/links.ts (npm run bench boots both)
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { restoreBatch } from '../src/model/links.js';
import { GEAR, TEST_HOST as A, gear, hostIp, httpGet, remoteAgents, run, sh, type Result } from '../tests/integration/harness.js';
import { median, ratioLine, timed, timeInHost } from './common.js';

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-bench-b';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const N = 20;
const TOKEN = 'bench-token-0123456789abcdef';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B], TOKEN);
const { cli, dir } = agents;


async function ok(r: Promise<Result>): Promise<Result> {
  const res = await r;
  if (res.code !== 0) throw new Error(res.stderr || res.stdout);
  return res;
}

async function allAnswer(urls: string[]): Promise<void> {
  await Promise.all(
    urls.map(async (url) => {
      while ((await httpGet(url, 1000))?.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }),
  );
}

/** 10 web instances linked to 10 db instances, spread over both hosts. */
async function deployRound(): Promise<number> {
  for (const f of readdirSync(dir)) if (f.startsWith('app.json')) rmSync(join(dir, f));
  writeFileSync(
    join(dir, 'app.json'),
    JSON.stringify({
      containers: [
        { name: 'bweb', image: 'test/web', count: N / 2, publicports: [{ internal: 8080 }], links: [{ to: 'bdb' }] },
        { name: 'bdb', image: 'test/web', count: N / 2, publicports: [{ internal: 8080 }] },
      ],
    }),
  );
  let file = '';
  const ms = await timed(async () => {
    const r = await ok(cli(['deploy', 'app.json', ipA, ipB]));
    file = /wrote (\S+)/.exec(r.stdout)![1]!;
    const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { Instances: { On: string; Ports: { External: number }[] }[] };
    await allAnswer(d.Instances.map((i) => `http://${i.On}:${i.Ports[0]!.External}/`));
  });
  // Spot check: a link of the last web leads somewhere.
  const check = await run(A, ['docker', 'exec', 'ctr-bweb-1', 'timeout', '5', 'wget', '-qO-', 'http://127.0.0.2:8080/']);
  if (check.code !== 0) throw new Error(`link of bweb-1 does not answer: ${check.stderr}`);
  await ok(cli(['delete', '--with', file]));
  return ms;
}

/** The same 20 containers, installed and started over the same agents, without links. */
async function installRound(): Promise<number> {
  const targets = Array.from({ length: N }, (_, i) => `${i % 2 ? ipB : ipA}/bplain-${i + 1}`);
  const ms = await timed(async () => {
    const r = await ok(cli(['install', 'test/web', ...targets, '--start', '-p', '8080:0']));
    const urls = [...r.stdout.matchAll(/^(\S+)\/bplain-\d+ installed and started \(8080 -> (\d+)\)$/gm)].map((m) => `http://${m[1]}:${m[2]}/`);
    if (urls.length !== N) throw new Error(`expected ${N} installs: ${r.stdout}`);
    await allAnswer(urls);
  });
  await ok(cli(['delete', ...targets]));
  return ms;
}

const line = (what: string, ms: number, baseline: string, baseMs: number) => ratioLine(what, ms, baseline, baseMs, 52);

async function main(): Promise<void> {
  console.log(`hosts ${A} (${ipA}) and ${B} (${ipB}), ${N} instances, ${ROUNDS} rounds`);
  await agents.start();
  try {
    await installRound(); // warm-up: image and docker caches
    const deploys: number[] = [];
    const installs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      installs.push(await installRound());
      deploys.push(await deployRound());
    }
    const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
    console.log(`seconds per round: deploy ${all(deploys)} | install --start ${all(installs)}`);
    line(`gear deploy, ${N} instances, ${(N / 2) ** 2} links, 2 hosts`, median(deploys), `install --start of ${N} without links`, median(installs));

    // One container, 100 links vs 1 link; then the same 100 rules as 100 iptables processes.
    const target = await ok(gear(B, ['install', 'test/web', 'blink-t', '--start', '-p', '8080:0']));
    const port = /8080 -> (\d+)/.exec(target.stdout)![1]!;
    await ok(gear(A, ['install', 'test/web', 'blink', '--start']));
    const links = (n: number) => Array.from({ length: n }, (_, i) => ['-n', `127.0.1.${(i % 250) + 1}:${9000 + i}:${ipB}:${port}`]).flat();
    const one = await timeInHost(A, [GEAR, 'link', ...links(1), 'blink'], 9);
    const hundred = await timeInHost(A, [GEAR, 'link', ...links(100), 'blink'], 9);
    line('gear link, 100 links to one container', hundred, 'gear link, 1 link', one);
    // The rules alone, in the container's namespace: gear's one batch against one process per rule.
    const pid = (await sh(A, "docker inspect -f '{{.State.Pid}}' ctr-blink")).trim();
    const rules = Array.from({ length: 100 }, (_, i) => ({ FromHost: `127.0.1.${(i % 250) + 1}`, FromPort: 9000 + i, ToHost: ipB, ToPort: Number(port), ToIp: ipB }));
    const batch = restoreBatch({ containerIp: '172.17.0.2', links: rules }, new Set(['-A PREROUTING -j GEAR-LINKS', '-A OUTPUT -j GEAR-LINKS', '-A POSTROUTING -j GEAR-LINKS-SNAT']));
    const inBatch = await timeInHost(A, ['nsenter', '-t', pid, '-n', 'iptables-restore', '-w', '5', '--noflush'], 9, batch);
    const script = rules.map((r) => `nsenter -t ${pid} -n iptables -w 5 -t nat -A BENCH -d ${r.FromHost}/32 -p tcp --dport ${r.FromPort} -j DNAT --to-destination ${ipB}:${port}`).join('\n');
    const perRule = await timeInHost(A, ['sh', '-c', `nsenter -t ${pid} -n iptables -t nat -N BENCH 2>/dev/null; nsenter -t ${pid} -n iptables -t nat -F BENCH\n${script}`], 5);
    line('100 link rules: one iptables-restore batch', inBatch, '100 iptables processes', perRule);
    await ok(gear(A, ['delete', 'blink']));
    await ok(gear(B, ['delete', 'blink-t']));
  } finally {
    await agents.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
