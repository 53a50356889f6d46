import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, eventually, hostIp, putFile, remoteAgents, run, sh, type Result } from './harness.js';

// Every deployment descriptor of the seed system (tests/fixtures/geard,
// used unchanged) deployed for real over two hosts, one after the other on
// the same hosts: every instance runs, every link carries traffic, the
// resolved file redeploys to no change, an instance taken out of it goes.
// The images the descriptors name are made in each host from test/web,
// listening on the port the descriptor publishes.

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const TOKEN = 'fixtures-token-0123456789abcdef';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B], TOKEN);
const { cli, dir } = agents;
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/geard');

interface Port {
  Internal: number;
  External: number;
  Target?: { Host: string; Port: number };
}
interface Resolved {
  Containers: { Name: string; Count: number; PublicPorts?: { Internal: number }[] }[];
  Instances: { Id: string; From: string; On: string; Ports: Port[]; Links?: { FromHost: string; FromPort: number; ToHost: string; ToPort: number }[] }[];
}

/** A fixture's raw JSON (keys in whatever case it uses). */
const raw = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, unknown>;
const key = (o: Record<string, unknown>, name: string) => o[Object.keys(o).find((k) => k.toLowerCase() === name)!];

/** Every image the fixtures name, and the port it must listen on (its container's first public port; 8080 if none). */
function imagePorts(): Map<string, number> {
  const ports = new Map<string, number>();
  for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.json')))
    for (const c of key(raw(file), 'containers') as Record<string, unknown>[]) {
      const pub = (key(c, 'publicports') ?? []) as Record<string, unknown>[];
      const port = pub.length ? (key(pub[0]!, 'internal') as number) : 8080;
      const image = key(c, 'image') as string;
      assert.ok(ports.get(image) ?? port === port, `${image} is published on two ports`);
      ports.set(image, port);
    }
  return ports;
}

const hostOf = (on: string) => (on === ipB ? B : A);
const resolvedIn = (r: Result) => {
  const m = /wrote (\S+)/.exec(r.stdout + r.stderr);
  assert.ok(m, `no resolved file named in: ${r.stdout}${r.stderr}`);
  return m[1]!;
};
const load = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Resolved;

async function units(hosts: string[] = [ipA, ipB]): Promise<string[]> {
  const r = await cli(['list-units', '--all', '--json', ...hosts]);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).Containers as { Server: string; Id: string; ActiveState: string }[]).map((c) => `${c.Id}@${c.Server}:${c.ActiveState}`).sort();
}
const expectedUnits = (d: Resolved) => d.Instances.map((i) => `${i.Id}@${i.On}:active`).sort();

/** Container ids (hostnames) and pids of the instances, as Docker on their hosts reports them (one docker inspect per host). */
async function dockerState(d: Resolved): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const hosts = [...new Set(d.Instances.map((i) => hostOf(i.On)))];
  await Promise.all(
    hosts.map(async (h) => {
      const names = d.Instances.filter((i) => hostOf(i.On) === h).map((i) => `ctr-${i.Id}`);
      for (const line of (await sh(h, `docker inspect -f '{{.Name}} {{.Config.Hostname}} {{.State.Pid}}' ${names.join(' ')}`)).trim().split('\n')) {
        const [name, ...rest] = line.split(' ');
        out.set(name!.replace(/^\/ctr-/, ''), rest.join(' '));
      }
    }),
  );
  return new Map([...out].sort());
}

/**
 * Every link of every instance, end to end: from inside the instance that
 * has it, its local address answers with the environment of the instance
 * the resolved file puts behind that address. One docker exec per source
 * (its links one after the other), the sources in parallel. Returns how
 * many links were checked.
 */
async function checkAllLinks(d: Resolved): Promise<number> {
  const state = await dockerState(d);
  const counts = await Promise.all(
    d.Instances.filter((i) => i.Links?.length).map(async (source) => {
      const links = source.Links!;
      const script = links.map((l) => `echo "== ${l.FromHost}:${l.FromPort}"; timeout 5 wget -qO- http://${l.FromHost}:${l.FromPort}/cgi-bin/env; echo "rc=$?"`).join('; ');
      // Until every link answers: a target the deploy has just started runs before its server listens (gear's
      // start waits for the container to run, not for the application), and a connection then is refused.
      let r: Result = { code: -1, stdout: '', stderr: '' };
      const answered = (x: Result) => x.code === 0 && (x.stdout.match(/^rc=0$/gm) ?? []).length === links.length;
      await eventually(async () => answered((r = await run(hostOf(source.On), ['docker', 'exec', `ctr-${source.Id}`, 'sh', '-c', script]))), 60_000, 500);
      assert.is(r.code, 0, `${source.Id}: ${r.stderr}`);
      const answers = r.stdout.split(/^== /m).slice(1);
      assert.is(answers.length, links.length, r.stdout);
      links.forEach((l, k) => {
        const answer = answers[k]!;
        const address = `${l.FromHost}:${l.FromPort}`;
        assert.ok(answer.startsWith(`${address}\n`), answer);
        const target = d.Instances.find((i) => i.Ports.some((p) => p.Target?.Host === l.FromHost && p.Target.Port === l.FromPort));
        assert.ok(target, `${source.Id}: link ${address} leads to no instance`);
        const port = target.Ports.find((p) => p.Target?.Host === l.FromHost && p.Target.Port === l.FromPort)!;
        assert.is(l.ToPort, port.External, `${source.Id} -> ${target.Id}: the port its host allocated`);
        assert.match(answer, /^rc=0$/m, `${source.Id} -> ${address} (${target.Id}): ${answer}`);
        const hostname = state.get(target.Id)!.split(' ')[0]!;
        assert.match(answer, new RegExp(`^HOSTNAME=${hostname}$`, 'm'), `${source.Id} -> ${address} reached ${target.Id}`);
        assert.match(answer, new RegExp(`^PORT=${port.Internal}$`, 'm'), `${target.Id} answers on its own port ${port.Internal}`);
      });
      return links.length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** How many links a resolved file's instances carry. */
const linkTotal = (d: Resolved) => d.Instances.reduce((n, i) => n + (i.Links?.length ?? 0), 0);

/** The container whose count goes down by one: the one with the most instances (the last of equals: usually a link target). */
function shrink(d: Resolved): string {
  const c = [...d.Containers].reverse().reduce((a, b) => (b.Count > a.Count ? b : a));
  c.Count--;
  return c.Name;
}

/** A descriptor served over HTTP, as the seed could deploy from a URL. */
let server: Server | undefined;
async function serve(): Promise<string> {
  server = createServer((req, res) => {
    const file = (req.url ?? '').replace(/^\//, '');
    if (req.headers.accept !== 'application/json' || !/^[a-z_]+\.json$/.test(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(readFileSync(join(FIXTURES, file)));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.before(async () => {
  await agents.start();
  // Each image the fixtures name: test/web with PORT set to its published port (docker commit keeps test/web's CMD).
  const script = [...imagePorts()]
    .map(([image, port]) => `docker rm -f gd-mk >/dev/null 2>&1; docker create --name gd-mk test/web >/dev/null && docker commit --change 'ENV PORT=${port}' gd-mk '${image}' >/dev/null && docker rm gd-mk >/dev/null`)
    .join(' && ');
  await Promise.all([sh(A, script), sh(B, script)]);
});
test.after(async () => {
  server?.close();
  await agents.stop();
});

test('--isolate with a value other than true/false (a host taken as its value too) is refused before anything is done; --isolate=false is accepted below', async () => {
  copyFileSync(join(FIXTURES, 'simple_deploy.json'), join(dir, 'simple_deploy.json'));
  const cases: [string[], string][] = [
    [['--isolate=yes', ipA, ipB], 'gear: --isolate takes true or false, not "yes"\n'],
    [['--isolate', ipA, ipB], `gear: deploy --isolate takes true or false, not "${ipA}" (name the hosts before --isolate, or write --isolate=true)\n`],
  ];
  for (const [args, message] of cases) {
    const r = await cli(['deploy', 'simple_deploy.json', ...args]);
    assert.is(r.code, 1, r.stdout);
    assert.is(r.stderr, message);
  }
  assert.equal(await units(), []);
});

const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.json') && f !== 'mongo_deploy_existing.json').sort();
let url = '';

for (const file of fixtures) {
  test(`${file}: deployed over two hosts, every link carries traffic, redeploy changes nothing, one instance taken out goes`, async () => {
    // simple_deploy.json from a URL (its resolved file is written here, in the working directory); the others as files.
    let source = file;
    if (file === 'simple_deploy.json') source = `${(url ||= await serve())}/${file}`;
    else copyFileSync(join(FIXTURES, file), join(dir, file));
    const extra = file === 'openshift_deploy.json' ? ['--isolate=false'] : [];
    const r = await cli(['deploy', source, ...extra, ipA, ipB]);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /^gear:/m, 'no warning: the seed\'s files are read as they are');
    let current = resolvedIn(r);
    assert.match(current, new RegExp(`^${file.replace('.', '\\.')}\\.[0-9]{8}-[0-9]{6}$`));
    const d = load(current);
    const prefix = (key(raw(file), 'idprefix') as string | undefined) ?? '';
    const wanted = (key(raw(file), 'containers') as Record<string, unknown>[]).flatMap((c) => Array.from({ length: key(c, 'count') as number }, (_, n) => `${prefix}${key(c, 'name') as string}-${n + 1}`));
    assert.equal(d.Instances.map((i) => i.Id).sort(), wanted.sort());
    if (d.Instances.length > 1) assert.equal(new Set(d.Instances.map((i) => i.On)), new Set([ipA, ipB]), 'spread over both hosts');
    assert.equal(await units(), expectedUnits(d));
    const links = await checkAllLinks(d);
    assert.is(links, linkTotal(d));
    assert.ok(links > 0, 'every fixture links something');

    // The resolved file again: nothing installed, removed or restarted; the same file.
    const before = await dockerState(d);
    const again = await cli(['deploy', current, ipA, ipB]);
    assert.is(again.code, 0, again.stderr);
    assert.not.match(again.stdout, /installed|removed/);
    const same = resolvedIn(again);
    assert.equal(load(same).Instances, d.Instances);
    assert.equal(await dockerState(load(same)), before);
    current = same;

    // One instance fewer in the file: the highest numbered goes, and the links that led to it.
    const less = load(current);
    const name = shrink(less);
    const gone = d.Instances.filter((i) => i.From === name).at(-1)!;
    putJson(current, less);
    const down = await cli(['deploy', current, ipA, ipB]);
    assert.is(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`removed ${gone.Id} from ${gone.On.replace(/\./g, '\\.')}`));
    current = resolvedIn(down);
    const after = load(current);
    assert.not.ok(after.Instances.some((i) => i.Id === gone.Id));
    assert.equal(await units(), expectedUnits(after));
    assert.is(await checkAllLinks(after), linkTotal(after));
    assert.ok(after.Instances.every((i) => (i.Links ?? []).every((l) => !gone.Ports.some((p) => p.Target?.Host === l.FromHost && p.Target.Port === l.FromPort))), `no link leads to ${gone.Id}`);

    // Clean hosts for the next fixture.
    const del = await cli(['delete', '--with', current, ipA, ipB]);
    assert.is(del.code, 0, del.stderr);
    assert.equal(await units(), []);
  });
}

/** Written as a user editing the file would: plain JSON. */
const putJson = (file: string, d: unknown) => writeFileSync(join(dir, file), JSON.stringify(d, null, 2));

test('mongo_deploy_existing.json, a resolved file the seed wrote, deployed with no host on this host: same ids and link addresses, only what is missing installed', async () => {
  const remote = '/root/mongo_deploy_existing.json';
  await putFile(A, remote, readFileSync(join(FIXTURES, 'mongo_deploy_existing.json'), 'utf8'));
  const r = await run(A, [GEAR, 'deploy', remote]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /installed db-1 on localhost/);
  const current = resolvedIn(r);
  const d = JSON.parse(await sh(A, `cat '${current}'`)) as Resolved;
  assert.equal(d.Instances.map((i) => `${i.Id}@${i.On}`), ['db-1@localhost', 'db-2@localhost', 'db-3@localhost']);
  assert.equal(d.Instances.map((i) => i.Ports[0]!.Target), [1, 2, 3].map((n) => ({ Host: `192.168.1.${n}`, Port: 27017 })), 'the seed\'s addresses kept');
  const gearList = await run(A, [GEAR, 'list-units', '--json']);
  assert.equal((JSON.parse(gearList.stdout).Containers as { Id: string; ActiveState: string }[]).map((c) => `${c.Id}:${c.ActiveState}`).sort(), ['db-1:active', 'db-2:active', 'db-3:active']);
  // Links lead to "localhost", the host each instance runs on; every one carries traffic.
  assert.ok(d.Instances.every((i) => i.Links?.length === 3 && i.Links.every((l) => l.ToHost === 'localhost')));
  assert.is(await checkAllLinks(d), 9);
  const again = await run(A, [GEAR, 'deploy', current]);
  assert.is(again.code, 0, again.stderr);
  assert.not.match(again.stdout, /installed|removed/);
  const del = await run(A, [GEAR, 'delete', 'db-1', 'db-2', 'db-3']);
  assert.is(del.code, 0, del.stderr);
});

test.run();
