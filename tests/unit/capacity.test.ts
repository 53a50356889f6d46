import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HostConfig } from '../../src/host/config.js';
import { configFromEnv } from '../../src/host/config.js';
import { capacityOf, refusal, taken, type Capacity } from '../../src/model/capacity.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import { GearError, statusOfKind } from '../../src/model/errors.js';
import { readCapacity } from '../../src/operations/capacity.js';
import { operations } from '../../src/operations/index.js';
import { fakeHost, filesUnder, type FakeHost } from '../fixtures/fake-host.js';

// Capacity: the pure arithmetic, placement by capacity (pure), the agent's
// configuration, and installs refused (412) on a full fake host with
// nothing changed.

const M = 1024 * 1024;
const HOST = { Memory: 8192 * M, Cpus: 2 };

test('capacityOf and refusal: containers and memory against the limits; a re-install counts once and gives its memory back', () => {
  const c = capacityOf(2, 512 * M, { maxContainers: 3, maxMemory: 1024 * M }, HOST);
  assert.equal(c.Containers, { Installed: 2, Limit: 3, Free: 1 });
  assert.equal(c.Memory, { Reserved: 512 * M, Limit: 1024 * M, Free: 512 * M });
  assert.is(refusal(c, { Memory: 512 * M }), undefined);
  assert.match(refusal(c, { Memory: 513 * M })!, /no memory for it: 513M asked, 512M of 1G free \(GEAR_MAX_MEMORY\)/);
  const fullC = taken(c, { Memory: 0 });
  assert.equal(fullC.Containers, { Installed: 3, Limit: 3, Free: 0 });
  assert.match(refusal(fullC, { Memory: 0 })!, /the host is full: 3 of 3 containers installed \(GEAR_MAX_CONTAINERS\)/);
  // Installed already: no new place needed, its own 256M given back first.
  assert.is(refusal(fullC, { Memory: 768 * M }, { Memory: 256 * M }), undefined);
  assert.ok(refusal(fullC, { Memory: 769 * M }, { Memory: 256 * M }));
  // A host whose limits were lowered below what it holds: re-installs asking no more still go, new ones do not.
  const over = capacityOf(3, 2048 * M, { maxContainers: 2, maxMemory: 1024 * M }, HOST);
  assert.is(refusal(over, { Memory: 512 * M }, { Memory: 512 * M }), undefined);
  assert.is(refusal(over, { Memory: 256 * M }, { Memory: 512 * M }), undefined);
  assert.ok(refusal(over, { Memory: 513 * M }, { Memory: 512 * M }));
  assert.ok(refusal(over, { Memory: 0 }));
  // No limits: always room; a container without --memory reserves nothing.
  const open = capacityOf(50, 0, {}, HOST);
  assert.equal(open.Containers, { Installed: 50 });
  assert.is(refusal(open, { Memory: 64 * 1024 * M }), undefined);
  assert.is(refusal(capacityOf(0, 1024 * M, { maxMemory: 1024 * M }, HOST), { Memory: 0 }), undefined);
});

test('the agent configuration: GEAR_MAX_CONTAINERS and GEAR_MAX_MEMORY; bad values refused', () => {
  assert.equal(configFromEnv({ GEAR_MAX_CONTAINERS: '3', GEAR_MAX_MEMORY: '2G' }).capacity, { maxContainers: 3, maxMemory: 2048 * M });
  assert.equal(configFromEnv({}).capacity, {});
  for (const bad of ['-1', '1.5', 'ten', '3 ']) assert.throws(() => configFromEnv({ GEAR_MAX_CONTAINERS: bad }), /GEAR_MAX_CONTAINERS must be a whole number/);
  assert.throws(() => configFromEnv({ GEAR_MAX_MEMORY: '2GB' }), /GEAR_MAX_MEMORY "2GB" is not a memory size/);
});

const cap = (installed: number, limit?: number, reserved = 0, maxMemory?: number): Capacity =>
  capacityOf(installed, reserved, { ...(limit === undefined ? {} : { maxContainers: limit }), ...(maxMemory === undefined ? {} : { maxMemory }) }, HOST);
const web = (count: number, extra: object = {}) => parseDeployment({ Containers: [{ Name: 'web', Image: 'test/web', Count: count, ...extra }] });

test('placement: round-robin among the hosts with room; a full host gets nothing', () => {
  const all = planDeployment(web(4), ['a', 'b', 'c'], undefined, new Map([['b', cap(1, 1)]]));
  assert.equal(all.add.map((i) => `${i.Id}@${i.On}`), ['web-1@a', 'web-2@c', 'web-3@a', 'web-4@c']);
  // Room for one more on a: the rest goes to b.
  const some = planDeployment(web(3), ['a', 'b'], undefined, new Map([['a', cap(4, 5)], ['b', cap(0, 10)]]));
  assert.equal(some.add.map((i) => `${i.Id}@${i.On}`), ['web-1@a', 'web-2@b', 'web-3@b']);
  // Without capacities (or limits), plain round-robin as before.
  assert.equal(planDeployment(web(3), ['a', 'b']).add.map((i) => i.On), ['a', 'b', 'a']);
});

test('placement: memory counts; a deployment that does not fit fails naming each instance that does not, and why', () => {
  const d = web(3, { Memory: '512M' });
  const caps = new Map([['a', cap(0, undefined, 0, 1024 * M)], ['b', cap(0, undefined, 768 * M, 1024 * M)]]);
  const err = (() => {
    try {
      planDeployment(d, ['a', 'b'], undefined, caps);
    } catch (e) {
      return e as GearError;
    }
    return undefined;
  })();
  assert.ok(err instanceof GearError);
  assert.is(statusOfKind[err.kind], 412);
  assert.match(err.message, /^the deployment does not fit: no host has room for web-3 \(a: the host has no memory for it: 512M asked, 0 of 1G free .*; b: .*256M of 1G free/);
  assert.not.match(err.message, /web-1|web-2/);
  // With room for them all, memory placement too: b takes none (256M free).
  const ok = planDeployment(web(2, { Memory: '512M' }), ['a', 'b'], undefined, caps);
  assert.equal(ok.add.map((i) => i.On), ['a', 'a']);
});

test('placement: instances removed on a host give their place back', () => {
  const d = parseDeployment({
    // Its published ports changed: replaced (an image change alone is made in place).
    Containers: [{ Name: 'web', Image: 'test/web', Count: 1, PublicPorts: [{ Internal: 8080 }] }],
    Instances: [{ Id: 'web-1', From: 'web', Image: 'test/web', On: 'a', Ports: [] }],
  });
  const plan = planDeployment(d, ['a'], undefined, new Map([['a', cap(1, 1)]]));
  assert.equal(plan.remove.map((i) => i.Id), ['web-1']);
  assert.equal(plan.add.map((i) => `${i.Id}@${i.On}`), ['web-1@a']);
});

test('descriptor limits: Memory, Cpus, Pids (any case), checked with the field named', () => {
  assert.equal(web(1, { memory: '256M', CPUS: 0.5, Pids: 20 }).Containers[0]!.Limits, { Memory: 256 * M, Cpus: 0.5, Pids: 20 });
  assert.throws(() => web(1, { Memory: '1 G' }), /containers\[0\]\.memory/);
  assert.throws(() => web(1, { Pids: 0 }), /containers\[0\]\.pids/);
});

const install = (h: FakeHost, id: string, body: object = {}) => operations.install.run(h.host, operations.install.parse({ params: { id }, query: {}, body: { Image: 'test/web', ...body } }), {});
const limit = (h: FakeHost, c: HostConfig['capacity']) => Object.assign(h.host.config, { capacity: c });

async function rejection(p: Promise<unknown>): Promise<GearError> {
  try {
    await p;
  } catch (err) {
    return err as GearError;
  }
  throw new Error('expected a rejection');
}

test('install on a full host: 412 with the reason, nothing written, nothing pulled; a re-install of an installed one still goes', async () => {
  const h = fakeHost();
  limit(h, { maxContainers: 2, maxMemory: 512 * M });
  await install(h, 'a', { Memory: '256M' });
  await install(h, 'b');
  const before = filesUnder(h.root).filter((f) => !f.includes('/locks/'));
  const err = await rejection(install(h, 'c', { Image: 'other/image' }));
  assert.is(statusOfKind[err.kind], 412);
  assert.match(err.message, /^cannot install c: the host is full: 2 of 2 containers installed/);
  assert.equal(filesUnder(h.root).filter((f) => !f.includes('/locks/')), before);
  assert.not.ok(h.docker.calls.some((c) => c.startsWith('pull')), 'nothing pulled');
  // Re-installs: a's memory may grow into what is free, not beyond.
  await install(h, 'a', { Memory: '512M' });
  const more = await rejection(install(h, 'b', { Memory: '8M' }));
  assert.match(more.message, /cannot install b: the host has no memory for it: 8M asked, 0 of 512M free/);
  const c = await readCapacity(h.host);
  assert.equal([c.Containers.Installed, c.Memory.Reserved], [2, 512 * M]);
  // Removing one makes room.
  await operations.remove.run(h.host, { Id: 'b', KeepVolumes: false }, {});
  await install(h, 'c');
});

test('two installs at once for the last place: one gets it, the other is refused', async () => {
  const h = fakeHost();
  limit(h, { maxContainers: 1 });
  const results = await Promise.allSettled([install(h, 'x'), install(h, 'y')]);
  assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  assert.is((await readCapacity(h.host)).Containers.Installed, 1);
});

test('more CPUs than the host has are refused before anything changes', async () => {
  const h = fakeHost();
  const err = await rejection(install(h, 'z', { Cpus: 1000 }));
  assert.match(err.message, /Cpus 1000 is more than this host has/);
  assert.is((await readCapacity(h.host)).Containers.Installed, 0);
});

test.run();
