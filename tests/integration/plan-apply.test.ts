import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, eventually, hostIp, httpGet, remoteAgents, sh, type Result } from './harness.js';

// Plan/apply (issue 15) over two hosts from the machine, as an operator:
// `deploy --plan` says what a deploy would do and changes nothing on the
// hosts; the deploy then does exactly that: an instance whose resolved
// definition changed is re-installed (and restarted), an unchanged running
// one is not touched. "Restarted" is read from the hosts: the unit's
// InvocationID (new at every start) and Docker's StartedAt.

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const hostOf = (ip: string) => (ip === ipA ? A : B);
const agents = remoteAgents([A, B], 'plan-apply-token-0123456789abcdef');
const { cli, dir } = agents;

const app = (level: Record<string, string>) => ({
  Containers: ['pweb', 'papi', 'pcache'].map((name) => ({
    Name: name,
    Image: 'test/web',
    Count: 1,
    PublicPorts: [{ Internal: 8080 }],
    ...(name === 'pweb' ? { Volumes: ['/data'] } : {}),
    Environment: [
      { Name: 'LEVEL', Value: level[name] ?? 'info' },
      { Name: 'TOKEN', Value: `secret-${name}` },
    ],
  })),
});
const write = (d: unknown) => writeFileSync(join(dir, 'app.json'), JSON.stringify(d, null, 2));
const ids = ['papi-1', 'pcache-1', 'pweb-1'];

/** Where each instance runs, from the deploy's own lines ("installed pweb-1 on 10.250.0.10 (...)"). */
const placement = new Map<string, string>();

/** Each instance's unit InvocationID and container StartedAt, read on its host. */
async function starts(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of ids) {
    const h = hostOf(placement.get(id)!);
    const inv = (await sh(h, `systemctl show -p InvocationID --value ctr-${id}.service`)).trim();
    const started = (await sh(h, `docker inspect -f '{{.State.StartedAt}}' ctr-${id}`)).trim();
    assert.ok(inv && started, `${id} runs on ${h}`);
    out.set(id, `${inv} ${started}`);
  }
  return out;
}

/** Everything of gear's on both hosts a deploy could change: definitions, env files, units, their times, the units' invocations. */
async function hostState(): Promise<string> {
  const script = [
    'cd /var/lib/gear && find containers env ports links volumes -type f -printf "%p %s %T@\\n" 2>/dev/null | sort',
    'cat containers/*.json env/*.env 2>/dev/null | sha256sum',
    'ls -l --time-style=full-iso /etc/systemd/system/ctr-* 2>/dev/null',
    "systemctl show -p Id -p InvocationID -p ActiveState 'ctr-*' --all",
  ].join('; ');
  return `${await sh(A, script)}\n---\n${await sh(B, script)}`;
}

const restarted = (before: Map<string, string>, after: Map<string, string>) => ids.filter((id) => before.get(id) !== after.get(id));

/** The plan's step per instance: "change papi-1: Environment.LEVEL differ; ..." → papi-1 → change. */
function planSteps(r: Result): Map<string, string> {
  assert.is(r.code, 0, r.stderr);
  return new Map([...r.stdout.matchAll(/^ {2}(install|change|leave|remove|unknown) (\S+): (.*)$/gm)].map((m) => [m[2]!, `${m[1]} ${m[3]}`]));
}

const deploy = (...extra: string[]) => cli(['deploy', ...extra, 'app.json', ipA, ipB]);

test.before(() => agents.start());
test.after(() => agents.stop());

test('first deploy: the plan says install for each; the deploy installs them; the answer is the descriptor\'s environment', async () => {
  write(app({}));
  const plan = planSteps(await deploy('--plan'));
  assert.equal([...plan.keys()].sort(), ids);
  for (const id of ids) assert.match(plan.get(id)!, /^install .*new instance of/);
  const r = await deploy();
  assert.is(r.code, 0, r.stderr);
  for (const m of r.stdout.matchAll(/^installed (\S+) on (\S+)/gm)) placement.set(m[1]!, m[2]!);
  assert.equal([...placement.keys()].sort(), ids);
  assert.equal(new Set(placement.values()), new Set([ipA, ipB]));
  await starts();
});

test('one changed variable: the plan names the one instance and the field, changes nothing; the deploy restarts exactly that one', async () => {
  const before = await starts();
  write(app({ papi: 'debug' }));
  const state = await hostState();
  const files = readdirSync(dir).sort();
  const plan = planSteps(await deploy('--plan'));
  assert.match(plan.get('papi-1')!, /^change Environment\.LEVEL differ; restart \(running\)/);
  assert.match(plan.get('pweb-1')!, /^leave unchanged, running/);
  assert.match(plan.get('pcache-1')!, /^leave unchanged, running/);
  // Nothing changed on the hosts, nothing written here; no value in the plan.
  assert.is(await hostState(), state);
  assert.equal(readdirSync(dir).sort(), files);
  assert.not.match((await deploy('--plan')).stdout, /secret-|debug/);

  const r = await deploy();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^changed papi-1 on \S+ \(Environment\.LEVEL\): restarted$/m);
  assert.match(r.stdout, /^unchanged pweb-1 on /m);
  assert.not.match(r.stdout, /^(installed|started|removed) /m);
  const after = await starts();
  // What the plan said would restart is what restarted.
  assert.equal(restarted(before, after), ['papi-1']);
  assert.equal(restarted(before, after), [...plan].filter(([, s]) => s.startsWith('change')).map(([id]) => id));
  // It runs with the new value, on the port it had.
  const on = placement.get('papi-1')!;
  const port = Number((await sh(hostOf(on), `cat /var/lib/gear/containers/papi-1.json`)).match(/"External":\s*([0-9]+)/)![1]);
  // Until it answers: the restart returns once the container runs, a moment before its server listens.
  const env = await eventually(() => httpGet(`http://${on}:${port}/cgi-bin/env`), 60_000);
  assert.match(env ? env.body : '', /^LEVEL=debug$/m);
});

test('an unchanged redeploy: the plan leaves all three; the deploy restarts none and changes no file', async () => {
  const before = await starts();
  const plan = planSteps(await deploy('--plan'));
  assert.equal([...plan.values()].map((s) => s.split(' ')[0]), ['leave', 'leave', 'leave']);
  const r = await deploy();
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.match(/^unchanged /gm)?.length, 3, r.stdout);
  assert.equal(restarted(before, await starts()), []);
});

test('a stopped unchanged instance is started, not re-installed; set-env by hand shows as a change', async () => {
  const before = await starts();
  const webOn = placement.get('pweb-1')!;
  assert.is((await cli(['stop', `${webOn}/pweb-1`])).code, 0);
  const cacheOn = placement.get('pcache-1')!;
  const s = await cli(['set-env', `${cacheOn}/pcache-1`, 'LEVEL=warn']);
  assert.is(s.code, 0, s.stderr);
  const plan = planSteps(await deploy('--plan'));
  assert.match(plan.get('pweb-1')!, /^leave unchanged, not running: start/);
  assert.match(plan.get('pcache-1')!, /^change Environment\.LEVEL differ; restart \(running\)/);
  assert.match(plan.get('papi-1')!, /^leave unchanged, running/);
  const r = await deploy();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^started pweb-1 on /m);
  assert.match(r.stdout, /^changed pcache-1 on \S+ \(Environment\.LEVEL\): restarted$/m);
  const after = await starts();
  assert.equal(restarted(before, after), ['pcache-1', 'pweb-1']);
  assert.is(before.get('papi-1'), after.get('papi-1'));
});

test('a resolved file with a new image: the instance is changed in place (not removed), its volume keeps its data; the others are left alone', async () => {
  const webOn = placement.get('pweb-1')!;
  // The same image under a second name, on both hosts.
  await Promise.all([sh(A, 'docker tag test/web test/web:v2'), sh(B, 'docker tag test/web test/web:v2')]);
  assert.is((await sh(hostOf(webOn), `docker exec ctr-pweb-1 sh -c 'echo kept > /data/file && cat /data/file'`)).trim(), 'kept');
  const last = await deploy();
  const file = /wrote (\S+)/.exec(last.stdout)![1]!;
  const resolved = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { Containers: { Name: string; Image: string }[] };
  resolved.Containers.find((c) => c.Name === 'pweb')!.Image = 'test/web:v2';
  writeFileSync(join(dir, file), JSON.stringify(resolved));
  const before = await starts();
  const plan = planSteps(await cli(['deploy', '--plan', file, ipA, ipB]));
  assert.match(plan.get('pweb-1')!, /^change Image differ; restart \(running\)/);
  assert.equal([...plan].filter(([, s]) => !s.startsWith('leave')).map(([id]) => id), ['pweb-1']);
  const r = await cli(['deploy', file, ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^changed pweb-1 on \S+ \(Image\): restarted$/m);
  assert.not.match(r.stdout, /^removed /m);
  assert.equal(restarted(before, await starts()), ['pweb-1']);
  assert.is((await sh(hostOf(webOn), `docker inspect -f '{{.Config.Image}}' ctr-pweb-1`)).trim(), 'test/web:v2');
  assert.is((await sh(hostOf(webOn), 'docker exec ctr-pweb-1 cat /data/file')).trim(), 'kept');
});

test('the definition route answers the hash the plan compared against; an unknown container is a 404-kind failure', async () => {
  const on = placement.get('papi-1')!;
  const r = await cli(['definition', `${on}/papi-1`, '--json']);
  assert.is(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { Hash: string; Definition: { Image: string; Environment: { Variables: Record<string, string> } } };
  assert.match(d.Hash, /^sha256:[0-9a-f]{64}$/);
  assert.is(d.Definition.Image, 'test/web');
  assert.equal(Object.keys(d.Definition.Environment.Variables).sort(), ['LEVEL', 'TOKEN']);
  assert.not.match(r.stdout, /secret-papi|debug/);
  const missing = await cli(['definition', `${on}/nothere`]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /nothere.*not installed/);
});

test.run();
