import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredDefinition, desiredHash, installBody, planText, removalWhy, stepFor, type InstalledState } from '../../src/model/deployment/apply.js';
import { canonicalJson, definitionDiff, definitionHash, installedDefinition, resolvedDefinition, type DefinitionParts } from '../../src/model/deployment/definition.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { operations } from '../../src/operations/index.js';
import { fakeHost } from '../fixtures/fake-host.js';

// Definition hashes and the plan/apply steps (model/deployment/definition.ts,
// apply.ts), and, in-process on a fake host, that what a deploy's install
// body leaves installed hashes as the deploy expected.

const base: DefinitionParts = {
  Image: 'test/web',
  Ports: [
    { Internal: 8080, External: 0 },
    { Internal: 22, External: 2222 },
  ],
  Variables: [
    { Name: 'A', Value: '1' },
    { Name: 'B', Value: 'secret value' },
  ],
  Limits: { Memory: 256 * 2 ** 20, Cpus: 0.5 },
};

test('key order, port order and variable order do not change the hash; every field does', () => {
  const a = resolvedDefinition(base);
  const b = resolvedDefinition({
    Limits: { Cpus: 0.5, Memory: 256 * 2 ** 20 },
    Variables: [...base.Variables].reverse(),
    Ports: [...base.Ports].reverse().map((p) => ({ External: p.External, Internal: p.Internal })),
    Image: 'test/web',
  });
  assert.is(definitionHash(a), definitionHash(b));
  assert.match(definitionHash(a), /^sha256:[0-9a-f]{64}$/);
  assert.is(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
  const changes: [Partial<DefinitionParts>, string[]][] = [
    [{ Image: 'test/web:2' }, ['Image']],
    [{ Ports: [{ Internal: 8080, External: 0 }] }, ['Ports']],
    [{ Variables: [{ Name: 'A', Value: '2' }, base.Variables[1]!] }, ['Environment.A']],
    [{ Variables: [base.Variables[0]!] }, ['Environment.B']],
    [{ Limits: { Memory: 256 * 2 ** 20 } }, ['Limits.Cpus']],
    [{ Isolated: true }, ['Isolated']],
    [{ Health: { Cmd: 'true', IntervalMs: 1000, TimeoutMs: 1000, Retries: 3, StartPeriodMs: 0 } }, ['Health']],
    [{ Slice: 'other.slice' }, ['Slice']],
    [{ Volumes: ['/data'] }, ['Volumes']],
    [{ EnvId: 'shared' }, ['Environment.Id']],
  ];
  for (const [change, fields] of changes) {
    const c = resolvedDefinition({ ...base, ...change });
    assert.is.not(definitionHash(c), definitionHash(a), fields.join());
    assert.equal(definitionDiff(a, c), fields);
  }
  assert.equal(definitionDiff(a, b), []);
});

test('environment values never appear in the resolved definition, only digests that tell them apart', () => {
  const text = canonicalJson(resolvedDefinition(base));
  assert.not.ok(text.includes('secret value'));
  assert.match(text, /"B":"[0-9a-f]{16}"/);
});

test('an installed definition: ports as asked (AskedPorts), isolation and socket activation as facts; older ones use their published ports', () => {
  const def: ContainerDefinition = {
    Id: 'web-1',
    Image: 'test/web',
    Ports: [{ Internal: 8080, External: 41000 }],
    AskedPorts: [{ Internal: 8080, External: 0 }],
    VolumeConfig: { Volumes: [], BindMounts: [] },
    SystemdSlice: 'gear.slice',
    Limits: { Memory: 2 ** 28 },
    Isolation: { Uid: 70000, Gid: 70000, User: 'ctr-web-1' },
    Created: 'now',
  };
  const r = installedDefinition(def, [{ Name: 'A', Value: '1' }]);
  assert.equal(r.Ports, [{ Internal: 8080, External: 0 }]);
  assert.is(r.Isolated, true);
  const { AskedPorts: _, ...old } = def;
  assert.equal(installedDefinition(old, []).Ports, [{ Internal: 8080, External: 41000 }]);
});

const descriptor = (env: string) =>
  parseDeployment({
    Containers: [
      { Name: 'web', Image: 'test/web', Count: 2, PublicPorts: [{ Internal: 8080 }], Environment: [{ Name: 'LEVEL', Value: env }], Memory: '64M' },
      { Name: 'db', Image: 'test/db', Count: 1, Health: { Cmd: 'pg_isready', Interval: '2s' } },
    ],
  });

/** What a host that installed `desired` would answer. */
const answer = (inst: Parameters<typeof desiredDefinition>[0], spec: Parameters<typeof desiredDefinition>[1], active = 'active'): InstalledState => {
  const Definition = desiredDefinition(inst, spec, {});
  return { Hash: definitionHash(Definition), Definition, Ports: [], ActiveState: active };
};

test('steps: unchanged and running is left alone; a changed variable changes (restart when running); absent installs', () => {
  const before = planDeployment(descriptor('info'), ['A']);
  const installed = new Map(before.add.map((i) => [i.Id, answer(i, before.next.Containers.find((c) => c.Name === i.From)!)]));
  const after = planDeployment(descriptor('debug'), ['A']);
  const steps = after.add.map((i) => stepFor(i, after.next.Containers.find((c) => c.Name === i.From)!, installed.get(i.Id), {}, 'new'));
  assert.equal(steps.map((s) => `${s.Inst.Id} ${s.Do}`), ['web-1 change', 'web-2 change', 'db-1 leave']);
  assert.equal(steps[0]!.Do === 'change' && steps[0]!.Fields, ['Environment.LEVEL']);
  assert.equal(steps[0]!.Do === 'change' && steps[0]!.Restart, true);
  assert.equal(steps[2]!.Do === 'leave' && steps[2]!.Start, false);
  // Stopped: a change does not restart it, an unchanged one is started.
  const db = after.add[2]!;
  const stopped = stepFor(db, after.next.Containers[1]!, { ...installed.get('db-1')!, ActiveState: 'inactive' }, {}, 'new');
  assert.equal(stopped.Do === 'leave' && stopped.Start, true);
  assert.is(stepFor(db, after.next.Containers[1]!, undefined, {}, 'new instance').Do, 'install');
  const text = planText(steps, ['A', 'B'], new Map(after.next.Containers.map((c) => [c.Name, c])));
  assert.match(text, /^A:\n {2}change web-1: Environment\.LEVEL differ; restart \(running\) \([0-9a-f]{12} -> [0-9a-f]{12}\)\n/);
  assert.match(text, /\n {2}leave db-1: unchanged, running \([0-9a-f]{12}\)\nB: nothing\nplan: 0 to install, 2 to change \(2 restarted\), 1 unchanged, 0 to remove\n$/);
});

test('what a descriptor cannot say is no change: shared environment, socket activation, isolation without --isolate', () => {
  const d = descriptor('info');
  const p = planDeployment(d, ['A']);
  const inst = p.add[2]!;
  const spec = d.Containers[1]!;
  const mine = answer(inst, spec).Definition;
  const installed = { ...mine, Environment: { ...mine.Environment, Id: 'shared' }, SocketActivation: {}, Isolated: true };
  assert.equal(definitionDiff(installed, desiredDefinition(inst, spec, {}, installed)), []);
  // --isolate asks for it: a container that is not isolated differs.
  assert.equal(definitionDiff(mine, desiredDefinition(inst, spec, { isolate: true }, mine)), ['Isolated']);
});

test('removal reasons name what changed', () => {
  const d = descriptor('info');
  const p = planDeployment(d, ['A']);
  const [w1] = p.add;
  assert.match(removalWhy({ ...w1!, Ports: [] }, d), /its published ports changed: replaced by a new instance/);
  assert.match(removalWhy({ ...w1!, From: 'gone' }, d), /container "gone" is no longer in the descriptor/);
  assert.match(removalWhy({ ...w1!, Remove: true }, d), /marked for removal/);
  assert.match(removalWhy({ ...w1!, Id: 'web-3' }, d), /count of web lowered to 2/);
});

test('in-process: a deploy install body leaves what the deploy expects; limits and health it no longer has are removed', async () => {
  const h = fakeHost();
  const d = descriptor('info');
  const p = planDeployment(d, ['A']);
  const web = p.add[0]!;
  const db = p.add[2]!;
  const run = (id: string, body: object) => operations.install.run(h.host, operations.install.parse({ params: { id }, query: {}, body }), {});
  const hashOf = async (id: string) => (await operations.definition.run(h.host, { Id: id }, {})).Hash;
  await run(web.Id, installBody(web, d.Containers[0]!, {}));
  await run(db.Id, installBody(db, d.Containers[1]!, {}));
  assert.is(await hashOf(web.Id), desiredHash(web, d.Containers[0]!, {}));
  assert.is(await hashOf(db.Id), desiredHash(db, d.Containers[1]!, {}));
  const installed = (await operations.definition.run(h.host, { Id: web.Id }, {})).Definition;
  // The descriptor drops web's memory limit and gives it db's health check: the re-install's body says so.
  const spec = { ...d.Containers[0]!, Health: d.Containers[1]!.Health! };
  delete spec.Limits;
  const body = installBody(web, spec, {}, installed);
  assert.is((body as { Memory?: string }).Memory, 'none');
  await run(web.Id, body);
  assert.is(await hashOf(web.Id), desiredHash(web, spec, {}, installed));
  // set-env changes what is installed: the hash follows.
  const before = await hashOf(web.Id);
  await operations.patchEnv.run(h.host, operations.patchEnv.parse({ params: { id: web.Id }, query: {}, body: { Variables: [{ Name: 'LEVEL', Value: 'x' }] } }), {});
  assert.is.not(await hashOf(web.Id), before);
});

test.run();
