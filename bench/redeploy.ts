/**
 * Plan/apply (issue 15) on two real test hosts, as a ratio against a
 * baseline measured in the same run: `gear deploy` again of 20 running
 * instances (20 containers of one instance each, over both hosts) after one
 * variable of one container changed (one instance re-installed and
 * restarted, 19 left alone), against the same deploy after a variable of
 * every container changed (all 20 re-installed and restarted: what every
 * redeploy did before definition hashes). Each until every instance answers.
 * Usage: GEAR_TEST_HOST=A GEAR_TEST_HOST_B=B tsx bench/redeploy.ts (npm run bench boots both)
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_HOST as A, hostIp, httpGet, remoteAgents, type Result } from '../tests/integration/harness.js';
import { median, ratioLine, timed } from './common.js';

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-bench-b';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const N = 20;
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B], 'bench-redeploy-token-0123456789abcdef');
const { cli, dir } = agents;

async function ok(r: Promise<Result>): Promise<Result> {
  const res = await r;
  if (res.code !== 0) throw new Error(res.stderr || res.stdout);
  return res;
}

/** Each instance answers with the variables it runs with: wait until every one shows its expected VERSION. */
async function allAnswer(urls: Map<string, string>): Promise<void> {
  await Promise.all(
    [...urls].map(async ([url, version]) => {
      while (!(await httpGet(url, 1000))?.body.includes(`VERSION=${version}\n`)) await new Promise((r) => setTimeout(r, 50));
    }),
  );
}

const versions = Array.from({ length: N }, () => 0);
const write = () =>
  writeFileSync(
    join(dir, 'app.json'),
    JSON.stringify({
      Containers: versions.map((v, i) => ({ Name: `rd${i + 1}`, Image: 'test/web', Count: 1, PublicPorts: [{ Internal: 8080 }], Environment: [{ Name: 'VERSION', Value: String(v) }] })),
    }),
  );

/** Deploy app.json, then wait for every instance to answer with its version; how many it restarted. */
let last = '';
async function deploy(): Promise<{ ms: number; changed: number }> {
  let changed = 0;
  const ms = await timed(async () => {
    const r = await ok(cli(['deploy', 'app.json', ipA, ipB]));
    changed = (r.stdout.match(/^(changed|installed) /gm) ?? []).length;
    const file = /wrote (\S+)/.exec(r.stdout)![1]!;
    const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { Instances: { From: string; On: string; Ports: { External: number }[] }[] };
    await allAnswer(new Map(d.Instances.map((i) => [`http://${i.On}:${i.Ports[0]!.External}/cgi-bin/env`, String(versions[Number(i.From.slice(2)) - 1])])));
    if (last) rmSync(join(dir, last));
    last = file;
  });
  return { ms, changed };
}

async function main(): Promise<void> {
  console.log(`hosts ${A} (${ipA}) and ${B} (${ipB}), ${N} instances, ${ROUNDS} rounds`);
  await agents.start();
  try {
    write();
    await deploy(); // the 20 instances, running
    const one: number[] = [];
    const all: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      versions[round % N]!++;
      write();
      const a = await deploy();
      if (a.changed !== 1) throw new Error(`one change re-installed ${a.changed}`);
      one.push(a.ms);
      for (let i = 0; i < N; i++) versions[i]!++;
      write();
      const b = await deploy();
      if (b.changed !== N) throw new Error(`a change of all re-installed ${b.changed}`);
      all.push(b.ms);
    }
    const secs = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
    console.log(`seconds per round: one changed ${secs(one)} | all changed ${secs(all)}`);
    ratioLine(`gear deploy again, ${N} instances, 1 changed`, median(one), `the same, all ${N} changed (full redeploy)`, median(all), 52);
    await ok(cli(['delete', '--with', last, ipA, ipB]));
  } finally {
    await agents.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
