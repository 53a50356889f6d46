import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/cli/backend.js';
import { deploy } from '../../src/cli/deploy.js';
import { notFound } from '../../src/model/errors.js';
import { operations, type Operation, type RawRequest } from '../../src/operations/index.js';

// The deploy flow of the CLI against recording backends: which requests go
// to which host, with which bodies (the hosts' own side is tested on test
// hosts, tests/integration/fixtures-deploy.test.ts).

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/geard');
const now = new Date('2026-12-02T10:00:00Z');

interface Call {
  host: string;
  op: string;
  id?: string;
  body?: unknown;
}

/** Backends that answer like empty hosts: nothing installed; installs allocate ports from 4000. */
function hosts() {
  const calls: Call[] = [];
  let next = 4000;
  const names = new Map<unknown, string>(Object.entries(operations).map(([k, v]) => [v, k]));
  const backendFor = (host: string): Backend => ({
    label: host,
    async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
      const r = raw as { params: { id?: string }; body?: unknown };
      calls.push({ host, op: names.get(op)!, id: r.params.id, ...(r.body === undefined ? {} : { body: r.body }) });
      op.parse(raw); // what a real backend checks before sending
      if (op === (operations.capacity as unknown)) return { Containers: { Installed: 0 }, Memory: { Reserved: 0 }, Host: { Memory: 2 ** 30, Cpus: 2 } } as Res;
      if (op === (operations.ports as unknown) || op === (operations.definition as unknown)) throw notFound(`container ${r.params.id} is not installed`);
      if (op === (operations.install as unknown)) {
        const ports = (r.body as { Ports: { Internal: number }[] }).Ports.map((p) => ({ Internal: p.Internal, External: next++ }));
        return { Id: r.params.id, Ports: ports } as Res;
      }
      return {} as Res;
    },
    lines: () => (async function* () {})(),
    imagePeer: () => {
      throw new Error('this test moves no images');
    },
    close: () => {},
  });
  return { calls, backendFor };
}

/** The promise fails with a message matching `message`. */
async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err, 'expected a failure');
  assert.match(err.message, message);
}

const dir = mkdtempSync(join(tmpdir(), 'gear-deploy-unit-'));

test('no host: everything on "localhost", through the backend of this host; links lead to localhost', async () => {
  copyFileSync(join(FIXTURES, 'redis_martini_deploy.json'), join(dir, 'redis.json'));
  const { calls, backendFor } = hosts();
  const asked: string[] = [];
  const out = await deploy({ file: join(dir, 'redis.json'), hosts: [], backendFor: (h) => (asked.push(h), backendFor(h)), progress: {}, done: () => {}, now });
  assert.equal(out.notDone, []);
  assert.equal([...new Set(asked)], ['localhost']);
  assert.equal(calls.filter((c) => c.op === 'install').map((c) => c.id), ['martini-web-1', 'martini-redis-1']);
  const link = calls.find((c) => c.op === 'link')!;
  assert.equal(link.body, { Links: [{ Id: 'martini-web-1', NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 6379, ToHost: 'localhost', ToPort: 4001 }] }] });
  assert.equal(calls.filter((c) => c.op === 'start').map((c) => c.id).sort(), ['martini-redis-1', 'martini-web-1']);
  const written = JSON.parse(readFileSync(out.written, 'utf8'));
  assert.is(out.written, join(dir, 'redis.json.20261202-100000'));
  assert.equal(written.Instances.map((i: { On: string }) => i.On), ['localhost', 'localhost']);
  assert.equal([written.IdPrefix, written.RandomizeIds], ['martini-', false]);
  assert.equal(written.Hosts, ['localhost']);
});

test('per-instance Environment is the install body\'s Environment.Variables; unknown keys are warned about, not refused', async () => {
  writeFileSync(
    join(dir, 'env.json'),
    JSON.stringify({
      Containers: [{ Name: 'web', Image: 'img', Count: 1, Environment: [{ Name: 'NEW', Value: '1' }], Notify: false }],
      Instances: [{ Id: 'web-1', From: 'web', Image: 'img', On: 'h1', Ports: [], Environment: [{ Name: 'OLD', Value: 'kept' }] }],
      Hosts: ['h1'],
    }),
  );
  const { calls, backendFor } = hosts();
  const warnings: string[] = [];
  const out = await deploy({ file: join(dir, 'env.json'), hosts: ['h1'], backendFor, progress: {}, done: () => {}, warn: (w) => warnings.push(w), now });
  assert.equal(out.notDone, []);
  // web-1 was gone from its host: installed again with the variables it was made with.
  assert.equal(calls.find((c) => c.op === 'install')!.body, { Image: 'img', Ports: [], Environment: { Variables: [{ Name: 'OLD', Value: 'kept' }] } });
  assert.equal(warnings.map((w) => w.replace(/ \(known: .*/, '')), [`${join(dir, 'env.json')}: containers[0].Notify: unknown field, ignored`]);
});

test('--plan asks each host what it has and nothing else; it writes no file and says install for each new instance', async () => {
  copyFileSync(join(FIXTURES, 'simple_deploy.json'), join(dir, 'plan.json'));
  const { calls, backendFor } = hosts();
  const out = await deploy({ file: join(dir, 'plan.json'), hosts: ['h1', 'h2'], backendFor, progress: {}, done: () => assert.unreachable('nothing is done'), plan: true, now });
  assert.equal([...new Set(calls.map((c) => c.op))].sort(), ['capacity', 'definition']);
  assert.is(out.written, '');
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('plan.json.')), []);
  assert.match(out.plan!, /^h1:\n {2}install web-1: new instance of web \([0-9a-f]{12}\)\nh2:\n {2}install web-2: new instance of web \([0-9a-f]{12}\)\nplan: 2 to install, 0 to change \(0 restarted\), 0 unchanged, 0 to remove\n$/);
});

test('a URL descriptor: GET with Accept: application/json, 200 only; its resolved file goes to the working directory', async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.accept}`);
    if (req.url === '/simple_deploy.json') res.writeHead(200).end(readFileSync(join(FIXTURES, 'simple_deploy.json')));
    else res.writeHead(req.url === '/moved.json' ? 204 : 404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const { calls, backendFor } = hosts();
    const out = await deploy({ file: `${base}/simple_deploy.json`, hosts: ['h1', 'h2'], backendFor, progress: {}, done: () => {}, now });
    assert.equal(out.notDone, []);
    assert.is(out.written, 'simple_deploy.json.20261202-100000');
    assert.equal(seen, ['GET /simple_deploy.json application/json']);
    assert.equal(calls.filter((c) => c.op === 'install').map((c) => `${c.id}@${c.host}`), ['web-1@h1', 'web-2@h2']);
    for (const [path, message] of [['/missing.json', /cannot fetch .*\/missing\.json: 404/], ['/moved.json', /cannot fetch .*\/moved\.json: 204/]] as const)
      await rejects(deploy({ file: `${base}${path}`, hosts: ['h1'], backendFor, progress: {}, done: () => {}, now }), message);
    await rejects(deploy({ file: 'ftp://example.com/a.json', hosts: ['h1'], backendFor, progress: {}, done: () => {}, now }), /deploy reads a file, or an http:\/\/, https:\/\/ or file:\/\/ URL/);
  } finally {
    process.chdir(cwd);
    server.close();
  }
  // file:// is a file, written next to itself.
  copyFileSync(join(FIXTURES, 'simple_deploy.json'), join(dir, 'simple.json'));
  const { backendFor } = hosts();
  const out = await deploy({ file: `file://${join(dir, 'simple.json')}`, hosts: ['h1'], backendFor, progress: {}, done: () => {}, now });
  assert.is(out.written, join(dir, 'simple.json.20261202-100000'));
});

test.run();
