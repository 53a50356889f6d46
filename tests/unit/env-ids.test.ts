import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GearError, failed } from '../../src/model/errors.js';
import { cleanHost } from '../../src/operations/clean.js';
import { operations } from '../../src/operations/index.js';
import { fakeHost, filesUnder, type FakeHost } from '../fixtures/fake-host.js';

// Environments by id, in-process on a temp dir with fake systemd and Docker:
// which env file each container's unit reads, what install, set-env, delete
// and clean do to a shared one, and Environment.Source fetched from a real
// HTTP server on loopback.

const install = (h: FakeHost, id: string, Environment?: object) =>
  operations.install.run(h.host, operations.install.parse({ params: { id }, query: {}, body: { Image: 'test/web', ...(Environment ? { Environment } : {}) } }), {});
const env = (h: FakeHost, id: string) => operations.getEnv.run(h.host, operations.getEnv.parse({ params: { id }, query: {} }), {});
const setEnv = (h: FakeHost, id: string, body: object, reset = false) => {
  const op = reset ? operations.replaceEnv : operations.patchEnv;
  return op.run(h.host, op.parse({ params: { id }, query: {}, body }), {});
};
const del = (h: FakeHost, id: string) => operations.remove.run(h.host, operations.remove.parse({ params: { id }, query: {} }), {});
const file = (h: FakeHost, path: string) => readFileSync(join(h.root, path), 'utf8');
const envFileOfUnit = (h: FakeHost, id: string) => /--env-file (\S+)/.exec(file(h, `/etc/systemd/system/ctr-${id}.service`))?.[1];
const envFiles = (h: FakeHost) => filesUnder(h.root).filter((f) => f.startsWith('/var/lib/gear/env/'));

async function rejection(p: Promise<unknown>): Promise<GearError> {
  try {
    await p;
  } catch (err) {
    return err as GearError;
  }
  throw new Error('expected a rejection');
}

test('two containers installed with one env id read one env file; the second install does not empty it', async () => {
  const h = fakeHost();
  await install(h, 'a', { Id: 'shared', Variables: [{ Name: 'A', Value: '1' }] });
  await install(h, 'b', { Id: 'shared' });
  assert.is(envFileOfUnit(h, 'a'), '/var/lib/gear/env/shared.env');
  assert.is(envFileOfUnit(h, 'b'), '/var/lib/gear/env/shared.env');
  assert.equal(envFiles(h), ['/var/lib/gear/env/shared.env']);
  assert.is(file(h, '/var/lib/gear/env/shared.env'), 'A=1\n');
  assert.is(statSync(join(h.root, '/var/lib/gear/env/shared.env')).mode & 0o777, 0o600);
  assert.is(JSON.parse(file(h, '/var/lib/gear/containers/a.json')).EnvId, 'shared');
  // By a container's name or by the env id: the same environment.
  const shared = { Id: 'shared', Variables: [{ Name: 'A', Value: '1' }], Readers: ['a', 'b'] };
  assert.equal(await env(h, 'a'), shared);
  assert.equal(await env(h, 'shared'), shared);
  assert.equal((await setEnv(h, 'fresh', { Variables: [] })).Readers, [], 'a new shared environment: nobody reads it yet');
  await setEnv(h, 'shared', { Variables: [{ Name: 'B', Value: '2' }] });
  await setEnv(h, 'b', { Variables: [{ Name: 'C', Value: '3' }] });
  assert.is(file(h, '/var/lib/gear/env/shared.env'), 'A=1\nB=2\nC=3\n');
  // Variables given at install overwrite it, as the seed does.
  await install(h, 'c', { Id: 'shared', Variables: [{ Name: 'Z', Value: '9' }] });
  assert.equal((await env(h, 'a')).Variables, [{ Name: 'Z', Value: '9' }]);
});

test('a container without an env id reads its own, named as it; set-env before install prepares it', async () => {
  const h = fakeHost();
  await setEnv(h, 'web', { Variables: [{ Name: 'EARLY', Value: 'yes' }] });
  await install(h, 'web');
  assert.is(envFileOfUnit(h, 'web'), '/var/lib/gear/env/web.env');
  assert.is(JSON.parse(file(h, '/var/lib/gear/containers/web.json')).EnvId, undefined);
  assert.equal((await env(h, 'web')).Variables, [{ Name: 'EARLY', Value: 'yes' }]);
  const missing = await rejection(env(h, 'nothing'));
  assert.is(missing.kind, 'not-found');
  assert.match(missing.message, /environment nothing does not exist/);
});

test('delete never removes an environment another container reads; clean removes the ones nobody reads', async () => {
  const h = fakeHost();
  await install(h, 'own', { Variables: [{ Name: 'O', Value: '1' }] });
  await install(h, 'guest', { Id: 'own' }); // reads own's environment
  await install(h, 's1', { Id: 'shared', Variables: [{ Name: 'S', Value: '1' }] });
  await install(h, 's2', { Id: 'shared' });
  await install(h, 'alone', { Variables: [{ Name: 'X', Value: '1' }] });
  await del(h, 'own');
  assert.equal((await env(h, 'guest')).Variables, [{ Name: 'O', Value: '1' }], 'guest still reads it');
  await del(h, 's1');
  assert.equal((await env(h, 's2')).Variables, [{ Name: 'S', Value: '1' }]);
  await del(h, 'alone');
  assert.equal(envFiles(h), ['/var/lib/gear/env/own.env', '/var/lib/gear/env/shared.env'], 'its own env goes with the last reader');
  let r = await cleanHost(h.host);
  assert.equal(envFiles(h), ['/var/lib/gear/env/own.env', '/var/lib/gear/env/shared.env'], 'both still read');
  await del(h, 's2');
  await del(h, 'guest');
  assert.equal(envFiles(h), ['/var/lib/gear/env/own.env', '/var/lib/gear/env/shared.env'], 'a shared env outlives its readers until clean');
  r = await cleanHost(h.host);
  assert.equal(envFiles(h), []);
  assert.ok(r.Removed.includes('/var/lib/gear/env/shared.env'), r.Removed.join('\n'));
});

test('an env id that would make an environment unreachable by /environment/:id is refused, nothing written', async () => {
  const h = fakeHost();
  await install(h, 'c', { Id: 'other' });
  const named = await rejection(install(h, 'd', { Id: 'c' }));
  assert.is(named.kind, 'conflict');
  assert.match(named.message, /Environment.Id c is the name of container c, which reads environment other/);
  await install(h, 'e');
  await install(h, 'f', { Id: 'e' });
  const taken = await rejection(install(h, 'e2', { Id: 'x' }).then(() => del(h, 'e')).then(() => install(h, 'e', { Id: 'y' })));
  assert.is(taken.kind, 'conflict');
  assert.match(taken.message, /environment e is read by f/);
  assert.not.ok(filesUnder(h.root).some((f) => f.includes('/d.') || f.endsWith('/y.env')), filesUnder(h.root).join('\n'));
});

test('an install that fails after writing a shared environment puts back what it held', async () => {
  const h = fakeHost();
  await setEnv(h, 'shared', { Variables: [{ Name: 'KEEP', Value: 'me' }] });
  h.host.units.write = async () => {
    throw failed('disk full');
  };
  await rejection(install(h, 'a', { Id: 'shared', Variables: [{ Name: 'NEW', Value: '1' }] }));
  assert.is(file(h, '/var/lib/gear/env/shared.env'), 'KEEP=me\n');
  await rejection(install(h, 'b', { Id: 'fresh', Variables: [{ Name: 'NEW', Value: '1' }] }));
  assert.equal(envFiles(h), ['/var/lib/gear/env/shared.env']);
});

// A small HTTP server on loopback: path -> [status, body].
async function serve(routes: Record<string, [number, string]>): Promise<{ url: string; hits: string[]; close: () => void; server: Server }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`.trim());
    const [status, body] = routes[req.url!.split('?')[0]!] ?? [404, 'no'];
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, hits, close: () => server.close(), server };
}

const SIMPLE_ENV = 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\nIGNORED\n';

test('Environment.Source: fetched with GET, read with the seed rules, replacing Variables', async () => {
  const srv = await serve({ '/simple.env': [200, SIMPLE_ENV], '/secret.env': [201, 'TOKEN=s3cr3t\n'] });
  try {
    const h = fakeHost();
    await install(h, 'web', { Source: `${srv.url}/simple.env`, Variables: [{ Name: 'LOST', Value: 'x' }] });
    assert.equal((await env(h, 'web')).Variables, [
      { Name: 'TEST', Value: 'value' },
      { Name: 'OTHER', Value: '1' },
      { Name: 'QUOTED', Value: '\\"foo\\"' },
    ]);
    // PUT fetches (any 2xx; credentials in the URL go as Basic auth); PATCH ignores Source.
    await setEnv(h, 'web', { Source: `http://u:p%40ss@${srv.url.slice(7)}/secret.env?k=1` }, true);
    assert.equal((await env(h, 'web')).Variables, [{ Name: 'TOKEN', Value: 's3cr3t' }]);
    assert.is(srv.hits.at(-1), `GET /secret.env?k=1 Basic ${Buffer.from('u:p@ss').toString('base64')}`);
    await setEnv(h, 'web', { Source: `${srv.url}/simple.env`, Variables: [{ Name: 'P', Value: '1' }] });
    assert.equal((await env(h, 'web')).Variables, [{ Name: 'TOKEN', Value: 's3cr3t' }, { Name: 'P', Value: '1' }]);
    assert.is(srv.hits.length, 2, 'PATCH fetched nothing');
  } finally {
    srv.close();
  }
});

test('a Source that cannot be fetched: 502 naming the URL (no credentials, no query, no body), nothing changed', async () => {
  const srv = await serve({ '/missing': [404, 'SECRET_IN_ERROR_PAGE'], '/big': [200, `A=${'x'.repeat(100 * 1024)}\n`] });
  const closed = await serve({});
  closed.close();
  try {
    const h = fakeHost();
    await setEnv(h, 'shared', { Variables: [{ Name: 'KEEP', Value: 'me' }] });
    const before = filesUnder(h.root);
    for (const [url, why] of [
      [`http://user:pw@${srv.url.slice(7)}/missing?token=abc`, /cannot fetch the environment from http:\/\/127\.0\.0\.1:\d+\/missing: it answered 404$/],
      [`${srv.url}/big`, /it is larger than 100 KiB/],
      [`${closed.url}/gone`, /ECONNREFUSED/],
    ] as const) {
      const err = await rejection(install(h, 'web', { Id: 'shared', Source: url }));
      assert.is(err.kind, 'upstream');
      assert.match(err.message, why);
      assert.not.match(err.message, /SECRET|pw|token/);
      const put = await rejection(setEnv(h, 'shared', { Source: url }, true));
      assert.is(put.kind, 'upstream');
    }
    assert.equal(filesUnder(h.root), before);
    assert.is(file(h, '/var/lib/gear/env/shared.env'), 'KEEP=me\n');
  } finally {
    srv.close();
  }
});

test.run();
