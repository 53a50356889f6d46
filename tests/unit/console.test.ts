import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { tagRequest } from '../../src/api/guard.js';
import { buildServer } from '../../src/api/server.js';
import { fakeHost, type FakeJournal } from '../fixtures/fake-host.js';

// The console's routes (issue 16) on a real TCP listener with a token, as
// the agent serves them, on a fake host: the static files without the token
// and under a strict CSP, the data with it, and the event stream's first
// listing and a change. The pages themselves run in Chromium in
// tests/integration/console.test.ts.

const TOKEN = 'console-token-0123456789';

async function agent(consolePeers?: string[]) {
  const h = fakeHost();
  const stopping = new AbortController();
  const app = buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, "/var/lib/gear/requests"), consolePeers, stopping: stopping.signal });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    tagRequest(req, { kind: 'tcp', token: TOKEN, scheme: 'http' });
    app.routing(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: object) =>
    fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, body: body ? JSON.stringify(body) : undefined });
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { h, base, call, close, stop: () => stopping.abort() };
}

test('the page and its assets: served without the token, under a CSP that forbids inline code and other origins', async () => {
  const { base, close } = await agent();
  try {
    const page = await fetch(`${base}/ui/`);
    assert.is(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const part of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(part), part);
    assert.not.match(csp, /unsafe-inline|unsafe-eval|\*|https?:/);
    const html = await page.text();
    assert.match(html, /<script src="console.js" defer><\/script>/);
    assert.not.match(html, /<script>|<script [^>]*>[^<]|style=|<style|\son[a-z]+=/i, 'no inline script, style or handler');
    const js = await fetch(`${base}/ui/console.js`);
    assert.is(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.is((await fetch(`${base}/ui/console.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
    assert.is((await fetch(`${base}/ui/nothing.js`)).status, 404);
    assert.is((await fetch(`${base}/ui/..%2Fgear.js`)).status, 404);
    assert.is((await fetch(`${base}/ui`, { redirect: 'manual' })).status, 301);
    // Files only: no data route is reachable without the token, and /ui/ takes no other method.
    assert.is((await fetch(`${base}/containers/overview`)).status, 401);
    assert.is((await fetch(`${base}/events`)).status, 401);
    assert.is((await fetch(`${base}/ui/`, { method: 'POST' })).status, 401);
    // Paths that only look like /ui/ (sent as is: fetch would normalize them) never reach a data route without the token.
    const raw = (path: string) =>
      new Promise<number>((resolve, reject) => request({ host: '127.0.0.1', port: new URL(base).port, path }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end());
    for (const path of ['/ui/../containers/overview', '/ui/..%2fcontainers%2foverview', '/ui/%2e%2e/events', '/ui//containers/overview', '/ui/../console/peers'])
      assert.is(await raw(path), 404, path);
    assert.is(await raw('/UI/'), 401);
  } finally {
    close();
  }
});

test('overview: every container with image, ports and state in one answer', async () => {
  const { call, close } = await agent();
  try {
    assert.is((await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true, Ports: [{ Internal: 8080, External: 4001 }] })).status, 204);
    assert.is((await call('PUT', '/container/idle', {}, { Image: 'test/web' })).status, 204);
    const r = await call('GET', '/containers/overview');
    assert.is(r.status, 200);
    const { Containers } = (await r.json()) as { Containers: { Id: string; ActiveState: string; Image: string; Ports: unknown[] }[] };
    assert.equal(Containers.map((c) => [c.Id, c.ActiveState, c.Image]), [['idle', 'inactive', 'test/web'], ['web', 'active', 'test/web']]);
    assert.equal(Containers[1]!.Ports, [{ Internal: 8080, External: 4001 }]);
    assert.is((await call('GET', '/containers/overview?x=1')).status, 200);
  } finally {
    close();
  }
});

test('unit file: systemctl cat form, 404 for a container not installed, 400 for a bad name', async () => {
  const { call, close } = await agent();
  try {
    await call('PUT', '/container/web', {}, { Image: 'test/web' });
    const r = await call('GET', '/container/web/unit');
    assert.is(r.status, 200);
    const text = await r.text();
    assert.match(text, /^# \/etc\/systemd\/system\/ctr-web\.service\n/);
    assert.match(text, /ExecStart=/);
    const json = (await (await call('GET', '/container/web/unit', { accept: 'application/json' })).json()) as { Unit: string; Files: { Path: string }[] };
    assert.is(json.Unit, 'ctr-web.service');
    assert.is((await call('GET', '/container/nope/unit')).status, 404);
    assert.is((await call('GET', '/container/..%2Fetc/unit')).status, 400);
  } finally {
    close();
  }
});

/** Server-sent events read from a response: next() waits for the first event after the last one read. */
function eventReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  return {
    async next(): Promise<{ event: string; data: any }> {
      for (;;) {
        const end = buf.indexOf('\n\n');
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) return { event, data: JSON.parse(data) };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        buf += value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

test('events: the full listing first, then the rows a change touched', async () => {
  const { call, close } = await agent();
  try {
    await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true });
    const res = await call('GET', '/events');
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = eventReader(res);
    assert.equal(await events.next(), { event: 'units', data: { Full: true, Containers: [{ Id: 'web', ActiveState: 'active', SubState: 'running', LoadState: 'loaded', Description: 'fake ctr-web.service' }], Removed: [] } });
    assert.is((await call('PUT', '/container/web/stopped')).status, 204);
    const stopped = (await events.next()).data;
    assert.equal([stopped.Full, stopped.Containers.map((c: { Id: string; ActiveState: string }) => [c.Id, c.ActiveState])], [false, [['web', 'inactive']]]);
    assert.is((await call('PUT', '/container/db', {}, { Image: 'test/web' })).status, 204);
    assert.equal((await events.next()).data.Containers.map((c: { Id: string }) => c.Id), ['db']);
    assert.is((await call('DELETE', '/container/db')).status, 204);
    assert.equal((await events.next()).data, { Full: false, Containers: [], Removed: ['db'] });
    await events.cancel();
  } finally {
    close();
  }
});

test('events: the agent stopping ends every stream, and opens no new one', async () => {
  const { call, close, stop } = await agent();
  try {
    const events = eventReader(await call('GET', '/events'));
    assert.is((await events.next()).data.Full, true);
    stop();
    try {
      await events.next();
      assert.unreachable('the stream went on');
    } catch (err) {
      assert.match(String(err), /the event stream ended/);
    }
    assert.is((await call('GET', '/events')).status, 503);
  } finally {
    close();
  }
});

test('peers (--console-peer): their origin alone may call, with the token; preflights answered without it; the page may connect to them', async () => {
  const PEER = 'https://10.0.0.9:43273';
  const { base, call, close } = await agent([PEER]);
  try {
    const csp = (await fetch(`${base}/ui/`)).headers.get('content-security-policy') ?? '';
    assert.match(csp, /connect-src 'self' https:\/\/10\.0\.0\.9:43273;/);
    assert.equal(await (await call('GET', '/console/peers')).json(), { Peers: [PEER] });
    assert.is((await fetch(`${base}/console/peers`)).status, 401);
    // The preflight: no token, answered 204 with what the page's requests may carry.
    const pre = await fetch(`${base}/container/web/stopped`, { method: 'OPTIONS', headers: { origin: PEER, 'sec-fetch-site': 'cross-site', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' } });
    assert.is(pre.status, 204);
    assert.is(pre.headers.get('access-control-allow-origin'), PEER);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.is(pre.headers.get('access-control-allow-credentials'), null, 'no cookies');
    // The request itself: the token still, and the origin allowed in the answer (a stream too).
    const listed = await call('GET', '/containers/overview', { origin: PEER, 'sec-fetch-site': 'cross-site' });
    assert.is(listed.status, 200);
    assert.is(listed.headers.get('access-control-allow-origin'), PEER);
    const events = await call('GET', '/events', { origin: PEER, 'sec-fetch-site': 'cross-site' });
    assert.is(events.headers.get('access-control-allow-origin'), PEER);
    await events.body!.cancel();
    // Without the token: 401, readable by the peer's page (it then asks for this agent's own token).
    const refused = await fetch(`${base}/containers/overview`, { headers: { origin: PEER, 'sec-fetch-site': 'cross-site' } });
    assert.is(refused.status, 401);
    assert.is(refused.headers.get('access-control-allow-origin'), PEER);
    // Any other origin: refused before anything, preflight or not, with or without the token.
    for (const origin of ['https://10.0.0.9:43274', 'http://10.0.0.9:43273', 'https://evil.example', 'null']) {
      const r = await call('GET', '/containers/overview', { origin, 'sec-fetch-site': 'cross-site' });
      assert.is(r.status, 403, origin);
      assert.is(r.headers.get('access-control-allow-origin'), null, origin);
      assert.is((await fetch(`${base}/containers/overview`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } })).status, 403, origin);
    }
  } finally {
    close();
  }
});

test('an agent without peers answers no CORS: its page connects to itself only', async () => {
  const { base, call, close } = await agent();
  try {
    assert.match((await fetch(`${base}/ui/`)).headers.get('content-security-policy') ?? '', /connect-src 'self';/);
    assert.equal(await (await call('GET', '/console/peers')).json(), { Peers: [] });
    assert.is((await call('GET', '/containers/overview', { origin: 'https://10.0.0.9:43273' })).status, 403);
    assert.is((await fetch(`${base}/containers/overview`, { method: 'OPTIONS', headers: { origin: 'https://10.0.0.9:43273', 'access-control-request-method': 'GET' } })).status, 403);
  } finally {
    close();
  }
});

// The page's own reader of server-sent events (src/console/api.ts), run in Node (fetch and streams are the
// browser's there too), with the tab's sessionStorage stood in for.
(globalThis as { sessionStorage?: unknown }).sessionStorage = { getItem: () => TOKEN, setItem: () => undefined, removeItem: () => undefined };
const cursorOf = (n: number) => `s=${'c'.repeat(32)};i=${n.toString(16)};b=${'d'.repeat(32)};m=1;t=2;x=3`;

test("the page's log reader: events with the journal's cursors as ids; resumed after the last, it gets only what came since", async () => {
  const { Agent } = await import('../../src/console/api.js');
  const { h, base, call, close } = await agent();
  try {
    await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true });
    const journal = h.host.journal as FakeJournal;
    const entry = (n: number) => ({ time: 1_700_000_000_000_000, identifier: 'ctr-web', message: n === 2 ? 'two\r\nlines' : `line ${n}`, cursor: cursorOf(n) });
    journal.lines = [1, 2, 3].map(entry);
    journal.end = cursorOf(3);
    const page = new Agent(base, 'test');
    const read = async (path: string) => {
      const got: string[] = [];
      const ids: string[] = [];
      await page.sse(path, new AbortController().signal, (_e, data, id) => got.push(`${data} @${id?.split(';')[1]}`), (id) => ids.push(id));
      return { got, ids };
    };
    let r = await read('/container/web/log?lines=2');
    assert.equal(r.ids, [cursorOf(3)], 'the bare id first');
    assert.equal(r.got, ['2023-11-14T22:13:20Z ctr-web: two\nlines @i=2', '2023-11-14T22:13:20Z ctr-web: line 3 @i=3']);
    journal.lines.push(entry(4), entry(5));
    r = await read(`/container/web/log?after=${encodeURIComponent(cursorOf(3))}`);
    assert.equal(r.got, ['2023-11-14T22:13:20Z ctr-web: line 4 @i=4', '2023-11-14T22:13:20Z ctr-web: line 5 @i=5']);
    // A refused cursor: the page's ApiError with the agent's message.
    await page.sse('/container/web/log?after=--root%3D%2F', new AbortController().signal, () => undefined).then(
      () => assert.unreachable('a bad cursor is refused'),
      (err: Error & { status?: number }) => {
        assert.is(err.status, 400);
        assert.match(err.message, /^after must be a journal cursor/);
      },
    );
  } finally {
    close();
  }
});

test('a followed log ends, complete, when the agent stops; a new one is then 503', async () => {
  const { h, call, close, stop } = await agent();
  try {
    await call('PUT', '/container/web', {}, { Image: 'test/web', Started: true });
    const journal = h.host.journal as FakeJournal;
    journal.hold = true;
    journal.lines = [{ time: 1_700_000_000_000_000, identifier: 'ctr-web', message: 'one', cursor: cursorOf(1) }];
    const res = await call('GET', '/container/web/log', { accept: 'text/event-stream' });
    assert.is(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(`id: ${cursorOf(1)}\n\n`)) text += (await reader.read()).value ?? '';
    stop();
    // The rest of the answer, to its proper end (a cut one would reject here).
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    assert.ok(text.endsWith(`id: ${cursorOf(1)}\n\n`), text);
    const again = await call('GET', `/container/web/log?after=${encodeURIComponent(cursorOf(1))}`, { accept: 'text/event-stream' });
    assert.is(again.status, 503);
    assert.equal(await again.json(), { Message: 'the agent is stopping' });
  } finally {
    close();
  }
});

test("the page's event reader: an event cut short by the stream's end is not taken, nor its id", async () => {
  const { Agent } = await import('../../src/console/api.js');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(': keepalive\r\nid: c0\r\n\r\ndata: one\nid: c1\n\nevent: error\ndata:x\n\ndata: cut\nid: c2\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const got: [string, string, string | undefined][] = [];
    const ids: string[] = [];
    await new Agent(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't').sse('/', new AbortController().signal, (e, d, id) => got.push([e, d, id]), (id) => ids.push(id));
    assert.equal(ids, ['c0']);
    assert.equal(got, [['message', 'one', 'c1'], ['error', 'x', 'c1']]);
  } finally {
    server.close();
  }
});

test.run();
