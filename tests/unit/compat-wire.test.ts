import type { IncomingMessage, ServerResponse } from 'node:http';
import inject from 'light-my-request';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { tagRequest } from '../../src/api/guard.js';
import { buildServer } from '../../src/api/server.js';
import { fakeHost, type FakeHost } from '../fixtures/fake-host.js';

// The answers geard's client decodes (GEARD-WIRE.md section 2), on a fake
// host: requests as that client sends them (no Content-Type, body JSON and a
// newline, Accept: application/json;stream=true). The real thing, on a test
// host with a client written from the sheet: tests/integration/compat.test.ts.

const GEARD = { accept: 'application/json;stream=true', 'x-api-version': '1' };

async function agent(h: FakeHost) {
  const app = await buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests') });
  const dispatch = (req: IncomingMessage, res: ServerResponse) => {
    tagRequest(req, { kind: 'unix' });
    app.routing(req, res);
  };
  return (method: string, url: string, body?: object) =>
    inject(dispatch, { method: method as 'GET', url, headers: GEARD, payload: body ? `${JSON.stringify(body)}\n` : undefined });
}

const INSTALL = {
  Id: 'web-1',
  Image: 'test/web',
  Simple: false,
  Isolate: false,
  SocketActivation: false,
  SkipSocketProxy: false,
  Ports: [{ Internal: 8080 }],
  Environment: { Variables: [{ Name: 'A', Value: 'B' }], Source: '', Id: '' },
  NetworkLinks: null,
  VolumeConfig: null,
  Started: true,
  SystemdSlice: 'container-small',
};

test('install: 202 text with X-PortMapping in the head; list-units 200 exactly application/json', async () => {
  const call = await agent(fakeHost());
  const r = await call('PUT', '/container/web-1', INSTALL);
  assert.is(r.statusCode, 202, r.body);
  assert.is(r.headers['x-portmapping'], '8080:41000');
  assert.match(r.body, /^Container web-1 is installed and active$/m);
  const list = await call('GET', '/containers');
  assert.is(list.statusCode, 200);
  assert.is(list.headers['content-type'], 'application/json');
  const [row] = JSON.parse(list.body).Containers;
  assert.equal([row.Id, row.ActiveState, row.SubState, row.LoadState], ['web-1', 'active', 'running', 'loaded']);
  const status = await call('GET', '/container/web-1/status');
  assert.is(status.statusCode, 202);
  assert.not.match(String(status.headers['content-type']), /^application\/json$/);
  assert.match(status.body, /Active: active \(running\)/);
  const env = await call('GET', '/environment/web-1');
  assert.is(env.statusCode, 202);
  assert.is(env.body, 'A=B\n');
});

test('errors: JSON {Message} typed exactly application/json, with geard codes', async () => {
  const call = await agent(fakeHost());
  const bad = await call('PUT', '/container/web-1', { ...INSTALL, Simple: true });
  assert.is(bad.statusCode, 400);
  assert.is(bad.headers['content-type'], 'application/json');
  assert.match(JSON.parse(bad.body).Message, /Simple is not supported yet/);
  const missing = await call('GET', '/container/ghost/status');
  assert.is(missing.statusCode, 404);
  assert.is(missing.headers['content-type'], 'application/json');
  assert.match(JSON.parse(missing.body).Message, /ghost is not installed/);
  const route = await call('GET', '/no/such');
  assert.is(route.headers['content-type'], 'application/json');
});

test('a streamed install that fails before its head is a plain error answer (409), not a 202', async () => {
  const call = await agent(fakeHost());
  assert.is((await call('PUT', '/container/web-1', { ...INSTALL, Ports: [{ Internal: 8080, External: 45000 }] })).statusCode, 202);
  const taken = await call('PUT', '/container/web-2', { ...INSTALL, Id: 'web-2', Ports: [{ Internal: 8080, External: 45000 }] });
  assert.is(taken.statusCode, 409, taken.body);
  assert.is(taken.headers['content-type'], 'application/json');
  assert.match(JSON.parse(taken.body).Message, /port 45000 is already reserved by container web-1/);
});

test('re-install updates in place: ports kept by Internal, a new one allocated, one dropped given back', async () => {
  const h = fakeHost();
  const call = await agent(h);
  const first = await call('PUT', '/container/web-1', { ...INSTALL, Ports: [{ Internal: 8080 }, { Internal: 9090 }] });
  assert.is(first.headers['x-portmapping'], '8080:41000,9090:41001');
  const again = await call('PUT', '/container/web-1', { ...INSTALL, Image: 'test/web:2', Ports: [{ Internal: 8080 }, { Internal: 7070 }] });
  assert.is(again.statusCode, 202, again.body);
  assert.is(again.headers['x-portmapping'], '8080:41000,7070:41002');
  assert.match(again.body, /^Container web-1 is updated and active$/m);
  const def = JSON.parse((await h.host.fs.read('/var/lib/gear/containers/web-1.json'))!);
  assert.is(def.Image, 'test/web:2');
  assert.equal([...(await h.host.ports.all())].sort(), [[41000, 'web-1'], [41002, 'web-1']]);
});

test('a re-install that fails changes nothing: its ports stay held, its definition and volume record as they were', async () => {
  const h = fakeHost();
  const call = await agent(h);
  await call('PUT', '/container/web-1', { ...INSTALL, Ports: [{ Internal: 8080 }], VolumeConfig: { Volumes: [{ Path: '/data' }] } });
  await call('PUT', '/container/web-2', { ...INSTALL, Id: 'web-2', Ports: [{ Internal: 8080, External: 45000 }] });
  const def = await h.host.fs.read('/var/lib/gear/containers/web-1.json');
  const record = await h.host.fs.read('/var/lib/gear/volumes/web-1.json');
  // 8080 keeps 41000; 9090 allocates; 7070 asks for web-2's port: refused, and the two before it are not taken from web-1.
  const r = await call('PUT', '/container/web-1', { ...INSTALL, Ports: [{ Internal: 8080 }, { Internal: 9090 }, { Internal: 7070, External: 45000 }], VolumeConfig: { Volumes: [{ Path: '/other' }] } });
  assert.is(r.statusCode, 409, r.body);
  assert.is(await h.host.fs.read('/var/lib/gear/containers/web-1.json'), def);
  assert.is(await h.host.fs.read('/var/lib/gear/volumes/web-1.json'), record);
  assert.equal([...(await h.host.ports.all())].sort(), [[41000, 'web-1'], [45000, 'web-2']]);
  // A re-install that drops /data keeps the volume recorded as web-1's (delete removes it), and mounts /other.
  const ok = await call('PUT', '/container/web-1', { ...INSTALL, VolumeConfig: { Volumes: [{ Path: '/other' }] } });
  assert.is(ok.statusCode, 202, ok.body);
  const paths = JSON.parse((await h.host.fs.read('/var/lib/gear/volumes/web-1.json'))!).Volumes.map((v: { Path: string }) => v.Path);
  assert.equal(paths.sort(), ['/data', '/other']);
  assert.equal(JSON.parse((await h.host.fs.read('/var/lib/gear/containers/web-1.json'))!).NamedVolumes.map((v: { Path: string }) => v.Path), ['/other']);
});

test('delete and stop of a missing container succeed; purge stops all and removes nothing', async () => {
  const h = fakeHost();
  const call = await agent(h);
  const del = await call('DELETE', '/container/ghost');
  assert.is(del.statusCode, 202);
  assert.is(del.body, 'Container ghost is not installed, nothing to delete\n');
  const stop = await call('PUT', '/container/ghost/stopped');
  assert.is(stop.statusCode, 202);
  assert.is(stop.body, 'Container ghost is not installed, nothing to stop\n');
  assert.is((await call('PUT', '/container/ghost/started')).statusCode, 404, 'start of a missing one is still 404, as in geard');
  await call('PUT', '/container/web-1', INSTALL);
  const purge = await call('DELETE', '/containers');
  assert.is(purge.statusCode, 202, purge.body);
  assert.is(purge.body, '1 container stopped and disabled (definitions and volumes kept)\n');
  assert.ok(await h.host.store.read('web-1'), 'still installed');
  assert.is(await h.host.systemd.activeState('ctr-web-1.service'), 'inactive');
});

test.run();
