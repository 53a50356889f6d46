import { utimesSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import inject from 'light-my-request';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { tagRequest } from '../../src/api/guard.js';
import { buildServer } from '../../src/api/server.js';
import { list } from '../../src/operations/list.js';
import { fakeHost, type FakeHost, type FakeJournal } from '../fixtures/fake-host.js';
import { parseExposition, valueOf } from '../fixtures/exposition.js';

// The agent's HTTP layer in-process: light-my-request's inject() (Fastify's
// engine for app.inject) through the same dispatch as the agent's
// unix socket listener, which tags each request with its policy before
// routing. Operations run on a fake host.

async function agent(h: FakeHost, log?: (line: string) => void) {
  const app = await buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests'), log });
  const dispatch = (req: IncomingMessage, res: ServerResponse) => {
    tagRequest(req, { kind: 'unix' });
    app.routing(req, res);
  };
  return (method: string, url: string, headers: Record<string, string> = {}, payload?: object) =>
    inject(dispatch, { method: method as 'GET', url, headers: payload ? { 'content-type': 'application/json', ...headers } : headers, payload: payload ? JSON.stringify(payload) : undefined });
}

async function withWeb() {
  const h = fakeHost();
  const call = await agent(h);
  const r = await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true, Ports: [{ Internal: 8080 }] });
  assert.is(r.statusCode, 204, r.body);
  return { h, call };
}

test('a read answers JSON by default; text/plain when asked', async () => {
  const { call } = await withWeb();
  const json = await call('GET', '/containers');
  assert.is(json.statusCode, 200);
  assert.match(String(json.headers['content-type']), /application\/json/);
  assert.equal(JSON.parse(json.body).Containers.map((c: { Id: string }) => c.Id), ['web']);
  const text = await call('GET', '/containers', { accept: 'text/plain' });
  assert.match(String(text.headers['content-type']), /text\/plain/);
  assert.match(text.body, /^ID\s+ACTIVE\s+SUB\s+LOAD\nweb\s+active\s+running\s+loaded/);
});

test('status prefers text (like systemctl status) unless JSON is asked for', async () => {
  const { call } = await withWeb();
  const text = await call('GET', '/container/web/status');
  assert.match(String(text.headers['content-type']), /text\/plain/);
  assert.match(text.body, /Active: active \(running\)/);
  const json = await call('GET', '/container/web/status', { accept: 'application/json' });
  assert.is(JSON.parse(json.body).Unit.ActiveState, 'active');
});

test('a change answers 204 with its headers, or its result as JSON on Accept', async () => {
  const { call } = await withWeb();
  const plain = await call('PUT', '/container/web/stopped');
  assert.is(plain.statusCode, 204);
  assert.is(plain.body, '');
  const json = await call('PUT', '/container/web/started', { accept: 'application/json' });
  assert.is(json.statusCode, 200);
  assert.is(JSON.parse(json.body).ActiveState, 'active');
  const install = await call('PUT', '/container/other', {}, { Image: 'test/web', Ports: [{ Internal: 9090 }] });
  assert.is(install.headers['x-portmapping'], '9090:41001');
});

test('X-Request-Id: a repeat gets the first answer and runs nothing; another body under the same id is 409', async () => {
  const h = fakeHost();
  const call = await agent(h);
  const id = { 'x-request-id': 'c0ffee'.repeat(5) + 'ab' };
  const body = { Image: 'test/web', Ports: [{ Internal: 8080 }] };
  const first = await call('PUT', '/container/once', id, body);
  assert.is(first.statusCode, 204, first.body);
  const installs = h.docker.calls.filter((c) => c === 'imageVolumes test/web').length;
  const again = await call('PUT', '/container/once', id, body);
  assert.is(again.statusCode, 204, 'the first answer, not "already exists"');
  assert.is(again.headers['x-portmapping'], first.headers['x-portmapping']);
  assert.is(h.docker.calls.filter((c) => c === 'imageVolumes test/web').length, installs, 'not run again');
  const other = await call('PUT', '/container/once', id, { ...body, Ports: [{ Internal: 9090 }] });
  assert.is(other.statusCode, 409);
  assert.match(JSON.parse(other.body).Message, /already used for another request/);
  const without = await call('PUT', '/container/once', {}, body);
  assert.is(without.statusCode, 204, 'without the id it is a new request: a re-install, which updates it in place');
  assert.is(without.headers['x-portmapping'], first.headers['x-portmapping'], 'its port kept');
});

test('errors are JSON with a Message: unknown route 404, bad body 400, missing container 404', async () => {
  const h = fakeHost();
  const call = await agent(h);
  const route = await call('GET', '/nowhere');
  assert.is(route.statusCode, 404);
  assert.match(JSON.parse(route.body).Message, /no such route/);
  const bad = await call('PUT', '/container/x', {}, { Image: 'test/web', Bogus: 1 });
  assert.is(bad.statusCode, 400);
  assert.match(JSON.parse(bad.body).Message, /Bogus/);
  const missing = await call('GET', '/container/absent/status', { accept: 'application/json' });
  assert.is(missing.statusCode, 404);
  assert.match(JSON.parse(missing.body).Message, /not installed/);
});

test('the router: HEAD of a GET route is its head without a body; too large a body 413, a bad path 400, a long name the name rule\'s 400, all with a Message', async () => {
  const { call } = await withWeb();
  const get = await call('GET', '/containers');
  const head = await call('HEAD', '/containers');
  assert.is(head.statusCode, 200);
  assert.is(head.body, '');
  assert.is(head.headers['content-length'], get.headers['content-length']);
  assert.is(head.headers['content-type'], 'application/json');
  const big = await call('PUT', '/container/big', {}, { Image: 'x'.repeat(1024 * 1024) });
  assert.is(big.statusCode, 413);
  assert.is(big.headers.connection, 'close');
  assert.match(JSON.parse(big.body).Message, /too large/);
  const bad = await call('GET', '/container/%zz/status');
  assert.is(bad.statusCode, 400);
  assert.match(JSON.parse(bad.body).Message, /not a valid url component/);
  const long = await call('PUT', `/container/${'a'.repeat(150)}`, {}, { Image: 'test/web' });
  assert.is(long.statusCode, 400);
  assert.match(JSON.parse(long.body).Message, /150 characters long; the limit is 64/);
  const notJson = await call('PUT', '/container/web2', { 'content-type': 'application/json' });
  assert.is(notJson.statusCode, 400, 'no body: the install is refused by its parse, not by the reader');
  assert.match(JSON.parse(notJson.body).Message, /body/);
  const method = await call('PATCH', '/containers');
  assert.is(method.statusCode, 404);
  assert.match(JSON.parse(method.body).Message, /no such route: PATCH \/containers/);
});

test('a request no listener tagged is refused', async () => {
  const h = fakeHost();
  const app = await buildServer({ host: h.host, jobs: new JobQueue(), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests') });
  const r = await inject(app.routing, { method: 'GET', url: '/containers' });
  assert.is(r.statusCode, 403);
});

/** Put the store's directory's mtime a minute back: ContainerStore.ids() then reuses its listing while the directory is unchanged. */
const settle = (h: FakeHost) => {
  const old = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  utimesSync(join(h.root, 'var/lib/gear/containers'), old, old);
};

test('the listing is one answer while units and store are unchanged, and a new one after a change in either', async () => {
  const { h, call } = await withWeb();
  settle(h);
  const first = await list.run(h.host, { all: true }, {});
  assert.is(await list.run(h.host, { all: true }, {}), first, 'nothing changed: the same answer');
  assert.is.not(await list.run(h.host, { all: false }, {}), first, 'all and not all are two answers');
  assert.equal(first.Containers.map((c) => [c.Id, c.ActiveState]), [['web', 'active']]);

  const listing = async (url: string, accept?: string) => (await call('GET', url, accept ? { accept } : {})).body;
  const json = JSON.parse(await listing('/containers?all=1'));
  assert.equal(JSON.parse(await listing('/containers?all=1')), json);

  // A unit changes (systemd's side): every form shows it.
  await call('PUT', '/container/web/stopped');
  assert.is.not(await list.run(h.host, { all: true }, {}), first);
  assert.equal(JSON.parse(await listing('/containers?all=1')).Containers[0].ActiveState, 'inactive');
  assert.match(await listing('/containers?all=1', 'text/plain'), /\nweb\s+inactive\s+dead\s+loaded/);
  assert.equal(JSON.parse(await listing('/containers?all=1', 'application/json;stream=true')).Containers[0].ActiveState, 'inactive');

  // The store changes, no unit does: a definition appears with the directory's mtime put back (its ctime moves).
  settle(h);
  const before = await list.run(h.host, { all: true }, {});
  assert.is(await list.run(h.host, { all: true }, {}), before);
  writeFileSync(join(h.root, 'var/lib/gear/containers/other.json'), JSON.stringify({ Id: 'other', Image: 'test/web', Ports: [], VolumeConfig: { Volumes: [], BindMounts: [] }, SystemdSlice: 'gear.slice', Created: '' }));
  settle(h);
  assert.equal(JSON.parse(await listing('/containers?all=1')).Containers.map((c: { Id: string; LoadState: string }) => [c.Id, c.LoadState]), [['other', 'not-loaded'], ['web', 'loaded']]);
  assert.match(await listing('/containers?all=1', 'text/plain'), /\nother\s+inactive\s+dead\s+not-loaded\n/);
  assert.equal(JSON.parse(await listing('/containers')).Containers.map((c: { Id: string }) => c.Id), ['web'], 'not loaded: only with all');
});

test('answered reads are not logged; changes and refusals are', async () => {
  const lines: string[] = [];
  const h = fakeHost();
  const call = await agent(h, (line) => lines.push(line));
  await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true, Ports: [{ Internal: 8080 }] });
  await call('GET', '/containers');
  await call('GET', '/container/web/status');
  await call('GET', '/container/nothere/status');
  await call('PUT', '/container/web/stopped');
  assert.equal(lines.map((l) => l.replace(/ \d+ms$/, '')), ['PUT /container/web 204', 'GET /container/nothere/status 404', 'PUT /container/web/stopped 204']);
});

test('GET /metrics: the exposition format, operations counted by result with their durations, states read at the scrape; in the OpenAPI document', async () => {
  const { call } = await withWeb();
  assert.is((await call('PUT', '/container/absent/started')).statusCode, 404);
  const r = await call('GET', '/metrics');
  assert.is(r.statusCode, 200);
  assert.is(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const m = parseExposition(r.body);
  assert.is(valueOf(m, 'gear_operations_total', { operation: 'install', result: 'ok' }), 1);
  assert.is(valueOf(m, 'gear_operations_total', { operation: 'start', result: 'error' }), 1);
  assert.is(valueOf(m, 'gear_operation_duration_seconds_count', { operation: 'install' }), 1);
  assert.is(valueOf(m, 'gear_containers', { state: 'active' }), 1);
  assert.is(valueOf(m, 'gear_containers_installed'), 1);
  assert.is(valueOf(m, 'gear_jobs_limit', { kind: 'running' }), 4);
  // A request refused by validation never ran: not an operation.
  assert.is((await call('PUT', '/container/Bad%20Name/started')).statusCode, 400);
  assert.is(valueOf(parseExposition((await call('GET', '/metrics')).body), 'gear_operations_total', { operation: 'start', result: 'error' }), 1);
  const spec = JSON.parse((await call('GET', '/openapi.json')).body);
  assert.ok(spec.paths['/metrics'].get);
  assert.ok(spec.paths['/doctor'].get);
});

const cursor = (n: number) => `s=${'a'.repeat(32)};i=${n.toString(16)};b=${'b'.repeat(32)};m=1;t=2;x=3`;

test('log as server-sent events: the start point, then each line an event whose id is its cursor; after=ID resumes', async () => {
  const { h, call } = await withWeb();
  const journal = h.host.journal as FakeJournal;
  journal.lines = [1, 2, 3].map((n) => ({ time: 1_700_000_000_000_000 + n, identifier: 'ctr-web', pid: '7', message: n === 2 ? 'two\nlines' : `line ${n}`, cursor: cursor(n) }));
  journal.end = cursor(9);
  let r = await call('GET', '/container/web/log?lines=2', { accept: 'text/event-stream' });
  assert.is(r.statusCode, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  assert.is(
    r.body,
    `id: ${cursor(9)}\n\n` +
      `data: 2023-11-14T22:13:20Z ctr-web[7]: two\ndata: lines\nid: ${cursor(2)}\n\n` +
      `data: 2023-11-14T22:13:20Z ctr-web[7]: line 3\nid: ${cursor(3)}\n\n`,
  );
  r = await call('GET', `/container/web/log?after=${encodeURIComponent(cursor(1))}`, { accept: 'text/event-stream' });
  assert.is(r.statusCode, 200, r.body);
  assert.equal([...r.body.matchAll(/^id: (.*)$/gm)].map((m) => m[1]), [cursor(1), cursor(2), cursor(3)], 'starts where it was asked to, then the entries after it');
  // The JSON answer carries each entry's cursor; plain text is unchanged.
  r = await call('GET', `/container/web/log?after=${encodeURIComponent(cursor(2))}`, { accept: 'application/json' });
  assert.equal(JSON.parse(r.body).Entries.map((e: { cursor: string }) => e.cursor), [cursor(3)]);
  r = await call('GET', '/container/web/log?lines=1', { accept: 'text/plain' });
  assert.is(r.body, '2023-11-14T22:13:20Z ctr-web[7]: line 3\n');
});

test('log: a bad cursor is a 400 with a message, before anything is read', async () => {
  const { call } = await withWeb();
  for (const after of ['--root=/tmp', `${cursor(1)}\n`, `${cursor(1)};z=1`, 'x'.repeat(500)]) {
    const r = await call('GET', `/container/web/log?after=${encodeURIComponent(after)}`, { accept: 'text/event-stream' });
    assert.is(r.statusCode, 400, after);
    assert.match(JSON.parse(r.body).Message, /after/, after);
  }
});

test.run();
