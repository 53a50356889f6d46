import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import inject from 'light-my-request';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Callbacks, INTERRUPTED } from '../../src/api/callbacks.js';
import { HostFs } from '../../src/host/fs.js';
import { tagRequest } from '../../src/api/guard.js';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { buildServer } from '../../src/api/server.js';
import { validateCallbackUrl } from '../../src/model/callback.js';
import { fakeHost } from '../fixtures/fake-host.js';

// Job callbacks end to end in-process: the agent's HTTP layer (inject) on a
// fake host, calling a real HTTP receiver on the loopback address.

const SECRET = 'callback-secret-0123456789';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver on 127.0.0.1 that answers `statuses` in turn (then 204) and records each request. */
async function receiver(statuses: number[] = []) {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=receivers-own`;
  return { got, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function agent(callbacks?: Callbacks) {
  const h = fakeHost();
  const app = await buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests'), callbacks });
  const dispatch = (req: IncomingMessage, res: ServerResponse) => {
    tagRequest(req, { kind: 'unix' });
    app.routing(req, res);
  };
  return (url: string, payload: object) => inject(dispatch, { method: 'PUT', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
}

const signed = (body: string) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

test('an install with a Callback: the agent POSTs job id, operation, container and result, signed with an HMAC-SHA256 of the secret', async () => {
  const rx = await receiver();
  const log: string[] = [];
  const callbacks = new Callbacks(Buffer.from(SECRET), (l) => log.push(l), { retryMs: 10 });
  const put = await agent(callbacks);
  try {
    const ok = await put('/container/web', { Image: 'test/web', Ports: [{ Internal: 8080, External: 4500 }], Callback: rx.url });
    assert.is(ok.statusCode, 204, ok.body);
    // The same port again: the job fails (409), and the callback says so.
    const bad = await put('/container/db', { Image: 'test/web', Ports: [{ Internal: 8080, External: 4500 }], Callback: rx.url });
    assert.is(bad.statusCode, 409, bad.body);
    await callbacks.settled();
    assert.is(rx.got.length, 2);
    const [first, second] = rx.got.map((g) => ({ ...g, json: JSON.parse(g.body) }));
    for (const g of [first!, second!]) {
      assert.is(g.headers['x-gear-signature'], signed(g.body));
      assert.is(g.headers['content-type'], 'application/json');
      assert.match(g.json.JobId, /^[0-9a-f-]{36}$/);
      assert.not.match(JSON.stringify(g.headers), SECRET);
    }
    assert.equal({ ...first!.json, JobId: 'x' }, { JobId: 'x', Operation: 'install', Container: 'web', Result: 'ok' });
    assert.equal({ ...second!.json, JobId: 'x' }, { JobId: 'x', Operation: 'install', Container: 'db', Result: 'failed', Error: JSON.parse(bad.body).Message });
    assert.is.not(first!.json.JobId, second!.json.JobId);
    assert.equal(log, []);
  } finally {
    await rx.close();
  }
});

test('a failing callback is logged and retried (never the secret, never the query), and the job is not failed by it', async () => {
  const rx = await receiver([500, 503]);
  const log: string[] = [];
  const callbacks = new Callbacks(Buffer.from(SECRET), (l) => log.push(l), { retryMs: 10 });
  const put = await agent(callbacks);
  try {
    const r = await put('/container/web', { Image: 'test/web', Callback: rx.url });
    assert.is(r.statusCode, 204, r.body);
    await callbacks.settled();
    assert.is(rx.got.length, 3, 'two failures, then delivered');
    assert.is(log.length, 2);
    assert.match(log[0]!, /^callback of job [0-9a-f-]{36} to http:\/\/127\.0\.0\.1:\d+\/hook failed \(try 1 of 4\): answered 500$/);
    assert.not.match(log.join('\n'), /receivers-own|callback-secret/);
    // Nobody listening: every try fails, the last one says it gives up.
    await rx.close();
    const put2 = await agent(callbacks);
    log.length = 0;
    assert.is((await put2('/container/web2', { Image: 'test/web', Callback: rx.url })).statusCode, 204);
    await callbacks.settled();
    assert.is(log.length, 4);
    assert.match(log[3]!, /\(try 4 of 4\): ECONNREFUSED; giving up$/);
  } finally {
    await rx.close().catch(() => undefined);
  }
});

test('a Callback is refused (400, nothing installed) by an agent without a secret, and when it is not an http(s) URL or carries credentials', async () => {
  const put = await agent();
  const none = await put('/container/web', { Image: 'test/web', Callback: 'http://127.0.0.1:9/hook' });
  assert.is(none.statusCode, 400);
  assert.match(none.body, /body\/Callback: this agent has no callback secret/);
  const put2 = await agent(new Callbacks(Buffer.from(SECRET), () => undefined));
  for (const [url, why] of [
    ['file:///etc/passwd', /must be an http or https URL/],
    ['not a url', /is not a URL/],
    ['http://user:pw@127.0.0.1/', /must not carry credentials/],
  ] as const) {
    const r = await put2('/container/web', { Image: 'test/web', Callback: url });
    assert.is(r.statusCode, 400, url);
    assert.match(r.body, why);
  }
  assert.throws(() => validateCallbackUrl('ftp://x/'), /http or https/);
});

test('the outbox: a restarted agent sends what the one before owed (an outcome kept, a job never ended as failed) and forgets garbage', async () => {
  const r = await receiver();
  const dir = mkdtempSync(join(tmpdir(), 'gear-outbox-'));
  const fs = new HostFs('/');
  const lines: string[] = [];
  // What an agent killed mid-way leaves: one job begun, one ended but not delivered, and a stray file.
  const before = new Callbacks(Buffer.from(SECRET), () => {}, { outbox: { fs, dir } });
  await before.begin(r.url, { JobId: 'j-begun', Operation: 'install', Container: 'web-1' });
  await fs.writeAtomic(`${dir}/j-ended.json`, JSON.stringify({ Url: r.url, Job: { JobId: 'j-ended', Operation: 'delete' }, Payload: { JobId: 'j-ended', Operation: 'delete', Result: 'ok' } }), 0o600);
  writeFileSync(`${dir}/junk.json`, 'not json');
  assert.is(statSync(`${dir}/j-begun.json`).mode & 0o777, 0o600);
  const after = new Callbacks(Buffer.from(SECRET), (l) => lines.push(l), { outbox: { fs, dir } });
  assert.is(await after.resume(), 2);
  await after.settled();
  const bodies = r.got.map((g) => JSON.parse(g.body)).sort((a, b) => a.JobId.localeCompare(b.JobId));
  assert.equal(bodies, [
    { JobId: 'j-begun', Operation: 'install', Container: 'web-1', Result: 'failed', Error: INTERRUPTED },
    { JobId: 'j-ended', Operation: 'delete', Result: 'ok' },
  ]);
  assert.equal(readdirSync(dir), []);
  assert.match(lines.join('\n'), /junk\.json is not a callback record; removed/);
  await r.close();
});

test('a stop ends the retries at once and keeps what is owed in the outbox', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gear-outbox-'));
  const fs = new HostFs('/');
  const lines: string[] = [];
  // Nothing listens on this port: every try is refused; the retries would take minutes.
  const cb = new Callbacks(Buffer.from(SECRET), (l) => lines.push(l), { outbox: { fs, dir }, attempts: 4, retryMs: 60_000 });
  await cb.begin('http://127.0.0.1:9/hook', { JobId: 'j-1', Operation: 'install' });
  cb.notify('http://127.0.0.1:9/hook', { JobId: 'j-1', Operation: 'install', Result: 'ok' });
  while (!lines.length) await new Promise((r) => setTimeout(r, 10));
  assert.is(cb.stop(), 1);
  await cb.settled();
  assert.equal(readdirSync(dir), ['j-1.json']);
  assert.is(JSON.parse(readFileSync(join(dir, 'j-1.json'), 'utf8')).Payload.Result, 'ok');
  assert.is(lines.length, 1, lines.join('\n'));
});

test.run();
