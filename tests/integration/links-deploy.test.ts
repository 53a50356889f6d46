import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, eventually, hostIp, remoteAgents, run, sh, startAgent, stopAgent, type Result } from './harness.js';

// A two-tier deployment over two hosts, driven from the machine as an
// operator would: the CLI talks to the agents of A and B (token auth).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const TOKEN = 'deploy-token-0123456789abcdef';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const hostOf = (ip: string) => (ip === ipA ? A : B);
const agents = remoteAgents([A, B], TOKEN);
const { cli, dir } = agents;

interface Resolved {
  Containers: { Name: string; Count: number }[];
  Instances: { Id: string; From: string; On: string; Ports: { Internal: number; External: number; Target?: { Host: string; Port: number } }[]; Links?: { FromHost: string; FromPort: number; ToHost: string; ToPort: number }[] }[];
}

/** Two web instances linked to each other (and themselves) and to a backend, which every web reaches. */
const app = {
  containers: [
    { name: 'dweb', image: 'test/web', count: 2, publicports: [{ internal: 8080, external: 0 }], links: [{ to: 'dweb' }, { to: 'ddb' }], environment: [{ name: 'GREETING', value: 'web' }] },
    { Name: 'ddb', Image: 'test/web', Count: 1, PublicPorts: [{ Internal: 8080 }], Environment: [{ Name: 'GREETING', Value: 'db' }] },
  ],
};

const resolvedFiles = () => readdirSync(dir).filter((f) => /\.[0-9]{8}-[0-9]{6}(-[0-9]+)?$/.test(f)).sort();
/** The file the last deploy wrote, from its own output. */
function written(r: Result): string {
  const m = /wrote (\S+)/.exec(r.stdout + r.stderr);
  assert.ok(m, `no resolved file named in: ${r.stdout}${r.stderr}`);
  return m[1]!;
}
const load = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Resolved;
const write = (file: string, d: unknown) => writeFileSync(join(dir, file), JSON.stringify(d, null, 2));

/** Set instance counts in the current resolved file and deploy it again to both hosts. */
async function redeployWithCounts(counts: Record<string, number>): Promise<{ before: Resolved; r: Result }> {
  const before = load(current);
  for (const [name, count] of Object.entries(counts)) before.Containers.find((c) => c.Name === name)!.Count = count;
  write(current, before);
  return { before, r: await cli(['deploy', current, ipA, ipB]) };
}

/** The hostname (container id) of an instance, as /cgi-bin/env reports it. */
const hostnameOf = async (on: string, id: string) => (await sh(hostOf(on), `docker inspect -f '{{.Config.Hostname}}' ctr-${id}`)).trim();

/**
 * Every link of every instance, end to end: from inside the source, its
 * link address answers with the environment of the instance the resolved
 * file says is behind it.
 */
async function checkAllLinks(d: Resolved): Promise<number> {
  let checked = 0;
  const targets = new Map(d.Instances.flatMap((i) => i.Ports.filter((p) => p.Target).map((p) => [`${p.Target!.Host}:${p.Target!.Port}`, i] as const)));
  for (const source of d.Instances) {
    for (const l of source.Links ?? []) {
      const target = targets.get(`${l.FromHost}:${l.FromPort}`);
      assert.ok(target, `${source.Id}: link ${l.FromHost}:${l.FromPort} leads to no instance`);
      const port = target.Ports.find((p) => p.Target?.Host === l.FromHost && p.Target.Port === l.FromPort)!;
      assert.is(l.ToHost, target.On);
      assert.is(l.ToPort, port.External);
      // Until it answers: a target the deploy has just started runs before its server listens (gear's start
      // waits for the container to run, not for the application), and a connection then is refused.
      let r: Result = { code: -1, stdout: '', stderr: '' };
      await eventually(async () => (r = await run(hostOf(source.On), ['docker', 'exec', `ctr-${source.Id}`, 'timeout', '5', 'wget', '-qO-', `http://${l.FromHost}:${l.FromPort}/cgi-bin/env`])).code === 0, 60_000, 500);
      assert.is(r.code, 0, `${source.Id} -> ${l.FromHost}:${l.FromPort} (${target.Id}): ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`HOSTNAME=${await hostnameOf(target.On, target.Id)}`), `${source.Id} -> ${target.Id}`);
      checked++;
    }
  }
  return checked;
}

/** What runs on both hosts, as gear lists it. */
async function units(): Promise<string[]> {
  const r = await cli(['list-units', '--all', '--json', ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).Containers as { Server: string; Id: string; ActiveState: string }[]).map((c) => `${c.Id}@${c.Server}:${c.ActiveState}`).sort();
}

test.before(() => agents.start());
test.after(() => agents.stop());

test('bad descriptors are rejected before anything is installed, naming the field', async () => {
  const before = await units();
  const cases: [unknown, RegExp][] = [
    [{ containers: [{ name: 'dweb', image: 'test/web', links: [{ to: 'db' }] }] }, /containers\[0\]\.links\[0\]\.to: no container named "db"/],
    [{ containers: [{ name: 'dweb', image: 'test/web', count: -2 }] }, /containers\[0\]\.count: must be a whole number from 0 to 1000, not -2/],
    [{ containers: [{ name: 'dweb', image: 'test/web' }, { name: 'dweb', image: 'test/web' }] }, /containers\[1\]\.name: "dweb" is used twice/],
    [{ containers: [{ name: 'dweb', image: 'test/web', publicports: [{ internal: 8080, external: 'x' }] }] }, /containers\[0\]\.publicports\[0\]\.external: "x" is not a port number/],
    [{ containers: [{ name: 'dweb', image: 'test/web', publicports: [{ internal: 123456 }] }] }, /containers\[0\]\.publicports\[0\]\.internal: 123456 is not a port number/],
  ];
  for (const [descriptor, message] of cases) {
    write('bad.json', descriptor);
    const r = await cli(['deploy', 'bad.json', ipA, ipB]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  writeFileSync(join(dir, 'bad.json'), '{"containers": [');
  assert.match((await cli(['deploy', 'bad.json', ipA])).stderr, /bad.json is not valid JSON/);
  write('ok.json', app);
  assert.match((await cli(['deploy', 'ok.json', ipA, 'bad host'])).stderr, /host "bad host"/);
  assert.match((await cli(['deploy', 'ok.json', ipA, ipA])).stderr, /named twice/);
  assert.equal(resolvedFiles(), [], 'nothing written');
  assert.equal(await units(), before, 'nothing installed');
});

let current = '';

test('the resolved file has the mode of its source (0600 when it holds environment values)', async () => {
  write('empty.json', { containers: [{ name: 'none', image: 'test/web', count: 0 }] });
  chmodSync(join(dir, 'empty.json'), 0o640);
  const r = await cli(['deploy', 'empty.json', ipA]);
  assert.is(r.code, 0, r.stderr);
  assert.is(statSync(join(dir, written(r))).mode & 0o777, 0o640);
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
});

test('deploy a two-tier app over two hosts: placement, ports and every link end to end', async () => {
  write('app.json', app);
  const r = await cli(['deploy', 'app.json', ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  current = written(r);
  assert.match(current, /^app\.json\.[0-9]{8}-[0-9]{6}$/);
  // It holds environment values: readable by its owner only, whatever app.json's mode.
  assert.is(statSync(join(dir, current)).mode & 0o777, 0o600);
  const d = load(current);
  assert.equal(d.Instances.map((i) => `${i.Id}@${i.On}`), [`dweb-1@${ipA}`, `dweb-2@${ipB}`, `ddb-1@${ipA}`]);
  assert.equal(await units(), [`ddb-1@${ipA}:active`, `dweb-1@${ipA}:active`, `dweb-2@${ipB}:active`]);
  // The ports in the file are the ones the hosts allocated.
  for (const i of d.Instances) {
    const ports = await run(hostOf(i.On), [GEAR, 'status', i.Id, '--json']);
    assert.equal(JSON.parse(ports.stdout).Ports, [{ Internal: 8080, External: i.Ports[0]!.External }]);
  }
  // Stable loopback addresses, one per target instance.
  assert.equal(d.Instances.map((i) => i.Ports[0]!.Target), [{ Host: '127.0.0.2', Port: 8080 }, { Host: '127.0.0.2', Port: 8081 }, { Host: '127.0.0.2', Port: 8082 }]);
  assert.is(await checkAllLinks(d), 6, 'two webs, three links each');
  const status = await cli(['status', '--with', current, ipA, ipB]);
  assert.is(status.code, 0, status.stderr);
  assert.is(status.stdout.match(/Active: active \(running\)/g)?.length, 3);
});

test('redeploying the resolved file converges: nothing added, nothing removed, nothing restarted', async () => {
  const pids = await Promise.all(load(current).Instances.map((i) => sh(hostOf(i.On), `docker inspect -f '{{.State.Pid}}' ctr-${i.Id}`)));
  const r = await cli(['deploy', current, ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stdout, /installed|removed/);
  const next = written(r);
  assert.equal(load(next).Instances, load(current).Instances);
  assert.equal(await Promise.all(load(next).Instances.map((i) => sh(hostOf(i.On), `docker inspect -f '{{.State.Pid}}' ctr-${i.Id}`))), pids);
  current = next;
});

test('scale up by redeploying: new instances placed, installed and wired; the old ones keep their addresses', async () => {
  const { before: d, r } = await redeployWithCounts({ dweb: 3, ddb: 2 });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /installed dweb-3/);
  assert.match(r.stdout, /installed ddb-2/);
  current = written(r);
  const up = load(current);
  assert.equal(up.Instances.map((i) => i.Id), ['dweb-1', 'dweb-2', 'dweb-3', 'ddb-1', 'ddb-2']);
  assert.equal(up.Instances.filter((i) => ['dweb-1', 'dweb-2', 'ddb-1'].includes(i.Id)).map((i) => i.Ports[0]), d.Instances.map((i) => i.Ports[0]));
  assert.equal(new Set(up.Instances.map((i) => i.On)), new Set([ipA, ipB]), 'spread over both hosts');
  assert.is(await checkAllLinks(up), 15, 'three webs, five links each');
});

test('scale down by redeploying: the highest numbers go, and the links that led to them', async () => {
  const { r } = await redeployWithCounts({ dweb: 1, ddb: 1 });
  assert.is(r.code, 0, r.stderr);
  current = written(r);
  const down = load(current);
  assert.equal(down.Instances.map((i) => i.Id), ['dweb-1', 'ddb-1']);
  assert.equal(await units(), [`ddb-1@${ipA}:active`, `dweb-1@${ipA}:active`]);
  assert.is(await checkAllLinks(down), 2);
  const gone = await run(A, ['docker', 'exec', 'ctr-dweb-1', 'timeout', '3', 'wget', '-qO-', 'http://127.0.0.2:8081/']);
  assert.is.not(gone.code, 0, 'the link to dweb-2 is gone');
});

test('a failure halfway reports what was not done; deploying the written file again finishes', async () => {
  await stopAgent(B);
  const { r } = await redeployWithCounts({ dweb: 2 });
  assert.is(r.code, 1);
  assert.match(r.stderr, new RegExp(`not done: install dweb-2 on ${ipB.replace(/\./g, '\\.')}: .*cannot reach the agent`));
  assert.match(r.stderr, /not done: link dweb-1 to dweb-2:8080: dweb-2 is not installed/);
  assert.match(r.stderr, /deploy it again to finish/);
  assert.match(r.stdout, /linked dweb-1 \(2 links\)/, 'what could be done was done');
  const partial = written(r);
  assert.equal(load(partial).Instances.map((i) => `${i.Id}@${i.On}`), [`dweb-1@${ipA}`, `dweb-2@${ipB}`, `ddb-1@${ipA}`]);
  await startAgent(B, agents.agentArgs);
  const again = await cli(['deploy', partial, ipA, ipB]);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /installed dweb-2/);
  current = written(again);
  assert.is(await checkAllLinks(load(current)), 6, 'two webs, three links each');
});

test('an instance on a host not named is reported and never contacted, by deploy and by --with', async () => {
  // A listener standing in for "somewhere else": it must see no connection (so no token) at all.
  let connections = 0;
  const server = createServer((sock) => {
    connections++;
    sock.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const elsewhere = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const d = load(current);
    const stray = { ...structuredClone(d.Instances.find((i) => i.Id === 'dweb-1')!), Id: 'dweb-9', On: elsewhere };
    delete stray.Links;
    // Its own link address: one given to two instances is refused (as the seed did).
    for (const p of stray.Ports) p.Target = { Host: '127.0.0.2', Port: 9999 };
    write('stray.json', { ...d, Instances: [...d.Instances, stray] });
    const r = await cli(['deploy', 'stray.json', ipA, ipB]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`not done: dweb-9 on ${elsewhere.replace(/\./g, '\\.')}: not contacted, .* is not among the hosts named`));
    const resolved = load(written(r));
    assert.equal(resolved.Instances.filter((i) => i.Id === 'dweb-9').map((i) => [i.On, (i as { Remove?: boolean }).Remove]), [[elsewhere, true]]);
    // The rest was deployed as before: the same three instances, running.
    assert.equal(await units(), [`ddb-1@${ipA}:active`, `dweb-1@${ipA}:active`, `dweb-2@${ipB}:active`]);
    write('stray.json', { ...d, Instances: [...d.Instances, stray] });
    const status = await cli(['status', '--with', 'stray.json', ipA, ipB]);
    assert.is(status.code, 1);
    assert.is(status.stdout.match(/Active: active \(running\)/g)?.length, 3);
    assert.match(status.stderr, new RegExp(`^gear: ${elsewhere.replace(/\./g, '\\.')}/dweb-9: not contacted: its host is not among the hosts named$`, 'm'));
    // --with names no host: nothing is contacted, and the error says which hosts the file names.
    const none = await cli(['stop', '--with', 'stray.json']);
    assert.is(none.code, 1);
    assert.match(none.stderr, /name the hosts to contact after --with stray\.json .*its instances are on: /);
    assert.equal(await units(), [`ddb-1@${ipA}:active`, `dweb-1@${ipA}:active`, `dweb-2@${ipB}:active`]);
    assert.is(connections, 0, 'no connection reached the host that was not named');
  } finally {
    server.close();
  }
});

test('stop, start and delete --with the deployment', async () => {
  const stop = await cli(['stop', '--with', current, ipA, ipB]);
  assert.is(stop.code, 0, stop.stderr);
  assert.is(stop.stdout.match(/stopped/g)?.length, 3);
  assert.is((await cli(['start', '--with', current, ipA, ipB])).code, 0);
  assert.is(await checkAllLinks(load(current)), 6, 'the links are back with the containers');
  const del = await cli(['delete', '--with', current, ipB, ipA]);
  assert.is(del.code, 0, del.stderr);
  assert.equal(await units(), []);
  assert.ok(existsSync(join(dir, current)));
  assert.match((await cli(['status', '--with', 'app.json', ipA])).stderr, /no instances/);
});

test.run();
