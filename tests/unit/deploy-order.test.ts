import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/cli/backend.js';
import { deploy } from '../../src/cli/deploy.js';
import { notFound } from '../../src/model/errors.js';
import { desiredDefinition, installBody, type InstalledState } from '../../src/model/deployment/apply.js';
import { definitionHash } from '../../src/model/deployment/definition.js';
import { afterCycle, instanceOrder, orderLines, startLevels } from '../../src/model/deployment/order.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { exportedInstances } from '../../src/model/export/deployment.js';
import { kubeAppsOf } from '../../src/model/export/kube.js';
import { quadletContainer } from '../../src/model/export/quadlet.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import { operations, type Operation, type RawRequest } from '../../src/operations/index.js';

// A descriptor's start order (After): parsed and refused, levels, how each
// instance is ordered (its unit on its host, deploy's wait for the ones
// elsewhere), and deploy's requests in that order against recording
// backends (the real thing, with timestamps, is on test hosts:
// tests/integration/compose-import.test.ts).

const health = { Cmd: 'true' };
const app = {
  Containers: [
    { Name: 'web', Image: 'w', Count: 2, After: [{ To: 'db', Wait: 'healthy' }, 'cache'] },
    { Name: 'db', Image: 'd', Health: health },
    { Name: 'cache', Image: 'c' },
  ],
};

test('parse: After entries as {To, Wait} or a name (started); written back; bad ones name the field', () => {
  const d = parseDeployment(app);
  assert.equal(d.Containers[0]!.After, [{ To: 'db', Wait: 'healthy' }, { To: 'cache', Wait: 'started' }]);
  const bad: [unknown, RegExp][] = [
    [[{ Name: 'a', Image: 'x', After: ['b'] }], /^containers\[0\]\.after\[0\]\.to: no container named "b"$/],
    [[{ Name: 'a', Image: 'x', After: ['a'] }], /^containers\[0\]\.after\[0\]\.to: a cannot start after itself$/],
    [[{ Name: 'a', Image: 'x', After: ['b', { To: 'b' }] }, { Name: 'b', Image: 'y' }], /^containers\[0\]\.after\[1\]\.to: "b" is named twice$/],
    [[{ Name: 'a', Image: 'x', After: [{ To: 'b', Wait: 'healthy' }] }, { Name: 'b', Image: 'y' }], /^containers\[0\]\.after\[0\]\.wait: container "b" has no health check/],
    [[{ Name: 'a', Image: 'x', After: [{ To: 'b', Wait: 'ready' }] }, { Name: 'b', Image: 'y' }], /^containers\[0\]\.after\[0\]\.wait: must be "started" or "healthy", not "ready"$/],
    [[{ Name: 'a', Image: 'x', After: [{ To: 'b' }] }, { Name: 'b', Image: 'y', After: ['c'] }, { Name: 'c', Image: 'z', After: ['b'] }], /^containers\[1\]\.after: b -> c -> b: these containers wait for each other, so none could start$/],
    [[{ Name: 'a', Image: 'x', After: 'b' }], /^containers\[0\]\.after: must be a list$/],
    [[{ Name: 'a', Image: 'x', After: ['b'] }, { Name: 'b', Image: 'y', PublicPorts: [{ Internal: 8080 }], SocketActivation: true }], /^containers\[0\]\.after\[0\]\.to: "b" is socket-activated: it starts on its first connection/],
  ];
  for (const [Containers, message] of bad) assert.throws(() => parseDeployment({ Containers }), message, JSON.stringify(Containers));
});

test('levels and cycles', () => {
  const d = parseDeployment(app);
  assert.equal(startLevels(d.Containers), [['db', 'cache'], ['web']]);
  assert.is(afterCycle(d.Containers), undefined);
  const chain = parseDeployment({ Containers: [{ Name: 'a', Image: 'x', After: ['b'] }, { Name: 'b', Image: 'x', After: ['c'] }, { Name: 'c', Image: 'x' }] });
  assert.equal(startLevels(chain.Containers), [['c'], ['b'], ['a']]);
});

test("an instance's order: its host's instances through its unit (Wait healthy only when all are), the others through deploy", () => {
  const plan = planDeployment(parseDeployment(app), ['A', 'B']);
  const at = Object.fromEntries(plan.next.Instances.map((i) => [i.Id, i.On]));
  assert.equal(at, { 'web-1': 'A', 'web-2': 'B', 'db-1': 'A', 'cache-1': 'B' });
  const inst = (id: string) => plan.next.Instances.find((i) => i.Id === id)!;
  const web = plan.next.Containers[0]!;
  const o1 = instanceOrder(inst('web-1'), web, plan.next.Instances);
  assert.equal(o1.local, { After: ['db-1'], Wait: 'healthy' });
  assert.equal(o1.remote.map((r) => `${r.Inst.Id} ${r.Wait}`), ['cache-1 started']);
  const o2 = instanceOrder(inst('web-2'), web, plan.next.Instances);
  assert.equal(o2.local, { After: ['cache-1'], Wait: 'started' });
  assert.equal(o2.remote.map((r) => `${r.Inst.Id} ${r.Wait}`), ['db-1 healthy']);
  // Install's body carries the unit's part; one that no longer starts after anything has it removed.
  assert.equal(installBody(inst('web-1'), web, { localOrder: (i) => instanceOrder(i, web, plan.next.Instances).local }), {
    Image: 'w',
    Ports: [],
    Environment: { Variables: [] },
    After: ['db-1'],
    Wait: 'healthy',
  });
  assert.equal(installBody(inst('web-1'), { ...web, After: [] }, {}, { After: ['db-1'] } as never).After, null);
  assert.equal(orderLines(plan.next.Containers, plan.next.Instances), [
    'start order: 1. db, cache  2. web (after db healthy, cache started)',
    '  web-1 on A: its unit starts after db-1 (systemd, A; wait healthy)',
    "  web-1 on A: started once cache-1 on B is started (deploy asks B's agent)",
    '  web-2 on B: its unit starts after cache-1 (systemd, B; wait started)',
    "  web-2 on B: started once db-1 on A is healthy (deploy asks A's agent)",
  ]);
});

/**
 * Hosts with what `installed` says (by instance id; empty by default); a started or re-installed instance reports
 * "activating, starting" for `slow` status requests, then active (and healthy).
 */
function hosts(slow: Record<string, number> = {}, installed: Record<string, InstalledState> = {}) {
  const log: string[] = [];
  const polls = new Map<string, number>();
  const names = new Map<unknown, string>(Object.entries(operations).map(([k, v]) => [v, k]));
  const backendFor = (host: string): Backend => ({
    label: host,
    async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
      const r = raw as { params: { id?: string }; body?: { After?: string[]; Wait?: string } };
      const name = names.get(op)!;
      op.parse(raw);
      if (name === 'capacity') return { Containers: { Installed: 0 }, Memory: { Reserved: 0 }, Host: { Memory: 2 ** 30, Cpus: 2 } } as Res;
      if (name === 'definition') {
        const has = installed[r.params.id!];
        if (!has) throw notFound(`container ${r.params.id} is not installed`);
        return has as Res;
      }
      if (name === 'install') {
        log.push(`install ${r.params.id}@${host}${r.body?.After ? ` after ${r.body.After.join(',')} ${r.body.Wait}` : ''}`);
        return { Id: r.params.id, Ports: [] } as Res;
      }
      if (name === 'status') {
        const n = (polls.get(r.params.id!) ?? 0) + 1;
        polls.set(r.params.id!, n);
        const ok = n > (slow[r.params.id!] ?? 0);
        log.push(`status ${r.params.id}: ${ok ? 'healthy' : 'starting'}`);
        return { Unit: { ActiveState: ok ? 'active' : 'activating' }, Container: { Health: ok ? 'healthy' : 'starting' } } as Res;
      }
      log.push(`${name} ${r.params.id ?? ''}@${host}`);
      return {} as Res;
    },
    lines: () => (async function* () {})(),
    imagePeer: () => {
      throw new Error('this test moves no images');
    },
    close: () => {},
  });
  return { log, backendFor };
}

const dir = mkdtempSync(join(tmpdir(), 'gear-deploy-order-'));
const now = new Date('2026-12-03T10:00:00Z');

test('deploy: installs carry the unit order; a dependent starts only after what it waits for on another host is healthy (asked of that host)', async () => {
  writeFileSync(join(dir, 'app.json'), JSON.stringify(app));
  const { log, backendFor } = hosts({ 'db-1': 2 });
  const out = await deploy({ file: join(dir, 'app.json'), hosts: ['A', 'B'], backendFor, progress: {}, done: () => {}, now, pollMs: 1 });
  assert.equal(out.notDone, []);
  assert.ok(log.includes('install web-1@A after db-1 healthy'), log.join('\n'));
  assert.ok(log.includes('install web-2@B after cache-1 started'), log.join('\n'));
  // Its own host's dependency installed first (install checks it is there).
  assert.ok(log.indexOf('install db-1@A') < log.indexOf('install web-1@A after db-1 healthy'));
  // web-2 on B: started only after A said db-1 is healthy (two "starting" answers first).
  const web2 = log.indexOf('start web-2@B');
  assert.equal(log.filter((l) => l.startsWith('status db-1')), ['status db-1: starting', 'status db-1: starting', 'status db-1: healthy']);
  assert.ok(log.indexOf('status db-1: healthy') < web2, log.join('\n'));
  // web-1 on A: after db-1's start returned (its unit is ordered after db-1's too).
  assert.ok(log.indexOf('start db-1@A') < log.indexOf('start web-1@A'));
  assert.ok(log.indexOf('start cache-1@B') < log.indexOf('start web-1@A'));
  const written = JSON.parse(readFileSync(out.written, 'utf8'));
  assert.equal(written.Containers[0].After, [{ To: 'db', Wait: 'healthy' }, { To: 'cache', Wait: 'started' }]);
});

test('deploy: a dependency that does not get healthy in time: its dependents elsewhere are not started, one line names it', async () => {
  writeFileSync(join(dir, 'slow.json'), JSON.stringify(app));
  const { log, backendFor } = hosts({ 'db-1': 1e9 });
  const out = await deploy({ file: join(dir, 'slow.json'), hosts: ['A', 'B'], backendFor, progress: {}, done: () => {}, now, pollMs: 5, waitTimeout: 0.05 });
  assert.equal(out.notDone, ['start web-2 on B: not started, it starts after db-1 on A was not healthy within 0.05 s (last: activating, starting)']);
  assert.not.ok(log.includes('start web-2@B'));
  assert.ok(log.includes('start web-1@A'), 'on its own host, systemd orders it');
});

/** What the hosts have after a deploy of `descriptor`: each instance installed as it asked, and running. */
function installedBy(descriptor: unknown): Record<string, InstalledState> {
  const plan = planDeployment(parseDeployment(descriptor), ['A', 'B']);
  const specOf = (name: string) => plan.next.Containers.find((c) => c.Name === name)!;
  const opts = { localOrder: (i: (typeof plan.next.Instances)[number]) => instanceOrder(i, specOf(i.From), plan.next.Instances).local };
  return Object.fromEntries(
    plan.next.Instances.map((i) => {
      const Definition = desiredDefinition(i, specOf(i.From), opts);
      return [i.Id, { Hash: definitionHash(Definition), Definition, Ports: [], ActiveState: 'active' }];
    }),
  );
}
/** app with a LEVEL variable for web and db. */
const leveled = (level: string) => ({
  Containers: app.Containers.map((c) => (c.Name === 'cache' ? c : { ...c, Environment: [{ Name: 'LEVEL', Value: level }] })),
});

test('redeploy: a running instance that changed is re-installed (restarting it) only once what it waits for on another host, restarted too, is healthy again', async () => {
  writeFileSync(join(dir, 'changed.json'), JSON.stringify(leveled('debug')));
  const { log, backendFor } = hosts({ 'db-1': 2 }, installedBy(leveled('info')));
  const done: string[] = [];
  const out = await deploy({ file: join(dir, 'changed.json'), hosts: ['A', 'B'], backendFor, progress: {}, done: (l) => done.push(l), now, pollMs: 1 });
  assert.equal(out.notDone, []);
  // db-1 on A restarts with its re-install; web-2 on B, which waits for it to be healthy, is re-installed after that.
  const dbInstall = log.indexOf('install db-1@A');
  const web2Install = log.findIndex((l) => l.startsWith('install web-2@B'));
  assert.ok(dbInstall >= 0 && web2Install >= 0, log.join('\n'));
  assert.equal(log.filter((l) => l.startsWith('status db-1')), ['status db-1: starting', 'status db-1: starting', 'status db-1: healthy']);
  assert.ok(dbInstall < log.indexOf('status db-1: starting'), log.join('\n'));
  assert.ok(log.indexOf('status db-1: healthy') < web2Install, log.join('\n'));
  // Re-installs restart what ran: nothing is started after them; cache-1 is unchanged and left alone.
  assert.equal(log.filter((l) => l.startsWith('start ')), [], log.join('\n'));
  assert.not.ok(log.some((l) => l.startsWith('install cache-1')), log.join('\n'));
  for (const id of ['web-1', 'web-2', 'db-1']) assert.ok(done.some((l) => new RegExp(`^changed ${id} on [AB] \\(.*Environment\\.LEVEL.*\\): restarted$`).test(l)), done.join('\n'));
  assert.ok(done.includes('unchanged cache-1 on B'), done.join('\n'));
});

test('redeploy: when what it waits for does not get healthy again, a changed running instance is not re-installed (which would restart it); one line says why', async () => {
  writeFileSync(join(dir, 'changed-slow.json'), JSON.stringify(leveled('debug')));
  const { log, backendFor } = hosts({ 'db-1': 1e9 }, installedBy(leveled('info')));
  const out = await deploy({ file: join(dir, 'changed-slow.json'), hosts: ['A', 'B'], backendFor, progress: {}, done: () => {}, now, pollMs: 5, waitTimeout: 0.05 });
  assert.equal(out.notDone, ['change web-2 on B: not installed (it would restart now): db-1 on A was not healthy within 0.05 s (last: activating, starting)']);
  assert.not.ok(log.some((l) => l.startsWith('install web-2')), log.join('\n'));
  assert.ok(log.includes('install db-1@A'), 'its own change went ahead');
});

test('deploy --plan prints the order', async () => {
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(app));
  const { backendFor } = hosts();
  const out = await deploy({ file: join(dir, 'plan.json'), hosts: ['A', 'B'], backendFor, progress: {}, done: () => {}, now, plan: true });
  assert.match(out.plan!, /^start order: 1\. db, cache {2}2\. web \(after db healthy, cache started\)$/m);
  assert.match(out.plan!, /^ {2}web-2 on B: started once db-1 on A is healthy \(deploy asks A's agent\)$/m);
  assert.match(out.plan!, /^plan: 4 to install/m);
});

test("exports: Quadlet orders a unit after its host's instances and names the others; Kubernetes says it has no order", () => {
  const plan = planDeployment(parseDeployment(app), ['A', 'B']);
  const web1 = exportedInstances(plan.next).find((c) => c.Name === 'web-1')!;
  assert.equal(web1.After, ['db-1']);
  assert.equal(web1.Notes.filter((n) => n.startsWith('it starts')), ['it starts after cache-1 on B is started: another host, ordered by gear deploy only']);
  assert.match(quadletContainer(web1, 'app.json').Text, /^After=db-1\.service\nWants=db-1\.service$/m);
  assert.ok(kubeAppsOf(parseDeployment(app)).notes.includes('web starts after db is healthy: Kubernetes does not order workloads; an initContainer that waits for db, or retries in web'));
});

test.run();
