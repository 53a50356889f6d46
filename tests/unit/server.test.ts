import type { IncomingMessage, ServerResponse } from 'node:http';
import inject from 'light-my-request';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { tagRequest } from '../../src/api/guard.js';
import { buildServer } from '../../src/api/server.js';
import { fakeHost, type FakeHost } from '../fixtures/fake-host.js';

// The agent's HTTP layer in-process: Fastify's inject() (light-my-request,
// the engine behind app.inject) through the same dispatch as the agent's
// unix socket listener, which tags each request with its policy before
// routing. Operations run on a fake host.

async function agent(h: FakeHost) {
  const app = await buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests') });
  await app.ready();
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

test('a request no listener tagged is refused', async () => {
  const h = fakeHost();
  const app = await buildServer({ host: h.host, jobs: new JobQueue(), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests') });
  const r = await app.inject({ method: 'GET', url: '/containers' });
  assert.is(r.statusCode, 403);
});

test.run();
