import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredDefinition, desiredHash, installBody } from '../../src/model/deployment/apply.js';
import { definitionDiff } from '../../src/model/deployment/definition.js';
import { renderDeployment } from '../../src/model/deployment/format.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import { kubeAppsOf } from '../../src/model/export/kube.js';
import { reservedPortsOf } from '../../src/model/definition.js';
import { operations } from '../../src/operations/index.js';
import { repairHost } from '../../src/operations/repair.js';
import { fakeHost, filesUnder } from '../fixtures/fake-host.js';

// Socket activation with several ports in deployment descriptors (parse,
// write back, plan, install body) and, in-process on a fake host, the
// units and ports an install, a re-install and a delete leave.

const two = (extra: Record<string, unknown> = {}) =>
  parseDeployment({ Containers: [{ Name: 'sdb', Image: 'test/two', PublicPorts: [{ Internal: 8080 }, { Internal: 8081 }], SocketActivation: true, IdleAfter: '3s', ...extra }] });

test('descriptor: SocketActivation and IdleAfter are read (any case), checked like install, and written back', () => {
  const d = two();
  assert.equal(d.Containers[0]!.SocketActivation, { IdleAfterMs: 3000 });
  assert.equal(parseDeployment({ containers: [{ name: 'x', image: 'i', publicports: [{ internal: 1 }], socketactivation: true }] }).Containers[0]!.SocketActivation, {});
  assert.is(parseDeployment({ containers: [{ name: 'x', image: 'i', socketactivation: false }] }).Containers[0]!.SocketActivation, undefined);
  const text = renderDeployment(d, { Hosts: ['A'], Deployed: 'now' });
  assert.match(text, /"SocketActivation": true,\n\s*"IdleAfter": "3s"/);
  assert.equal(parseDeployment(JSON.parse(text)).Containers[0]!.SocketActivation, { IdleAfterMs: 3000 });
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ SocketActivation: undefined }, /^containers\[0\]\.idleafter needs containers\[0\]\.socketactivation/],
    [{ SocketActivation: 'yes' }, /^containers\[0\]\.socketactivation: must be true or false, not "yes"/],
    [{ IdleAfter: 'soon' }, /^containers\[0\]\.idleafter "soon" is not a duration/],
    [{ IdleAfter: 600 }, /^containers\[0\]\.idleafter: must be a duration such as "10m", not 600/],
    [{ IdleAfter: '3s\nExecStart=/bin/sh' }, /is not a duration/],
    [{ PublicPorts: [] }, /^containers\[0\]\.socketactivation needs a published port \(containers\[0\]\.publicports\); none is given/],
    [{ PublicPorts: Array.from({ length: 17 }, (_, i) => ({ Internal: 9000 + i })) }, /takes at most 16 published ports/],
  ];
  for (const [extra, message] of bad) assert.throws(() => two(extra), message, JSON.stringify(extra));
});

test('plan: the descriptor\'s activation is desired; an installed one it does not mention is kept, and its re-install body says so', () => {
  const d = two();
  const p = planDeployment(d, ['A']);
  const inst = p.add[0]!;
  const spec = d.Containers[0]!;
  const desired = desiredDefinition(inst, spec, {});
  assert.equal(desired.SocketActivation, { IdleAfterMs: 3000 });
  const body = installBody(inst, spec, {});
  assert.is(body.SocketActivation, true);
  assert.is(body.IdleAfter, '3s');
  // Another idle time is a change.
  const other = { ...spec, SocketActivation: { IdleAfterMs: 60_000 } };
  assert.equal(definitionDiff(desired, desiredDefinition(inst, other, {}, desired)), ['SocketActivation']);
  // A descriptor written before (no SocketActivation) over an installed socket-activated instance: no change, and a re-install keeps it.
  const silent = { ...spec };
  delete silent.SocketActivation;
  assert.equal(definitionDiff(desired, desiredDefinition(inst, silent, {}, desired)), []);
  const kept = installBody(inst, silent, {}, desired);
  assert.is(kept.SocketActivation, true);
  assert.is(kept.IdleAfter, '3s');
  // Kubernetes has no counterpart: said in a note.
  assert.ok(kubeAppsOf(d).notes.some((n) => /sdb: gear's socket activation .* has no Kubernetes counterpart/.test(n)));
});

test('in-process: two ports give a socket and a proxy each and four reservations; dropping a port removes its units and ports; delete leaves nothing', async () => {
  const h = fakeHost();
  mkdirSync(join(h.root, 'lib/systemd'), { recursive: true });
  writeFileSync(join(h.root, 'lib/systemd/systemd-socket-proxyd'), '');
  const d = two();
  const p = planDeployment(d, ['A']);
  const inst = p.add[0]!;
  const run = (body: object) => operations.install.run(h.host, operations.install.parse({ params: { id: inst.Id }, query: {}, body }), {});
  await run(installBody(inst, d.Containers[0]!, {}));
  assert.is((await operations.definition.run(h.host, { Id: inst.Id }, {})).Hash, desiredHash(inst, d.Containers[0]!, {}));
  const units = () => filesUnder(h.root).filter((f) => f.startsWith('/etc/systemd/system/') && f.includes(inst.Id)).sort();
  assert.equal(units(), [
    `/etc/systemd/system/ctr-${inst.Id}.service`,
    `/etc/systemd/system/ctr-${inst.Id}.socket`,
    `/etc/systemd/system/ctr-${inst.Id}@8081.socket`,
    `/etc/systemd/system/gear-proxy-${inst.Id}.service`,
    `/etc/systemd/system/gear-proxy-${inst.Id}@8081.service`,
  ]);
  const def = (await h.host.store.read(inst.Id))!;
  // Repair: a gear socket unit of a port it does not publish (planted) is found and removed; the rest is right.
  const unitDir = join(h.root, 'etc/systemd/system');
  writeFileSync(join(unitDir, `ctr-${inst.Id}@9999.socket`), readFileSync(join(unitDir, `ctr-${inst.Id}@8081.socket`), 'utf8'));
  // As the re-install that left it would have: the first socket requires it too.
  const first = join(unitDir, `ctr-${inst.Id}.socket`);
  writeFileSync(first, readFileSync(first, 'utf8').replaceAll(`ctr-${inst.Id}@8081.socket`, `ctr-${inst.Id}@8081.socket ctr-${inst.Id}@9999.socket`));
  assert.match(readFileSync(first, 'utf8'), /@9999/);
  const dry = await repairHost(h.host, true, []);
  assert.equal(dry.Findings.map((x) => x.Problem), [`container ${inst.Id} has socket unit file /etc/systemd/system/ctr-${inst.Id}@9999.socket of ports it does not publish`]);
  const fixed = await repairHost(h.host, false, []);
  assert.is(fixed.Findings[0]!.Fixed, true, JSON.stringify(fixed));
  assert.not.ok(existsSync(join(unitDir, `ctr-${inst.Id}@9999.socket`)));
  assert.not.match(readFileSync(first, 'utf8'), /@9999/, 'the first socket requires only the ports it publishes');
  assert.equal((await repairHost(h.host, true, [])).Findings, []);
  const all = async () => [...(await h.host.ports.all())].filter(([, o]) => o === inst.Id).map(([port]) => port).sort();
  assert.equal(await all(), [...reservedPortsOf(def)].sort());
  assert.is((await all()).length, 4);
  // Re-installed with the first port only: the second port's units and both its ports go.
  await run({ ...installBody(inst, d.Containers[0]!, {}), Ports: [{ Internal: 8080, External: def.Ports[0]!.External }] });
  assert.equal(units(), [`/etc/systemd/system/ctr-${inst.Id}.service`, `/etc/systemd/system/ctr-${inst.Id}.socket`, `/etc/systemd/system/gear-proxy-${inst.Id}.service`]);
  const one = (await h.host.store.read(inst.Id))!;
  assert.equal(one.SocketActivation, { PrivatePort: def.SocketActivation!.PrivatePort, IdleAfterMs: 3000 });
  assert.equal(await all(), [def.Ports[0]!.External, def.SocketActivation!.PrivatePort].sort());
  await operations.remove.run(h.host, operations.remove.parse({ params: { id: inst.Id }, query: {}, body: undefined }), {});
  assert.equal(units(), []);
  assert.equal(await all(), []);
});

test('in-process: a definition whose second port lost its private port still lists (by its first socket), beside the others', async () => {
  const h = fakeHost();
  mkdirSync(join(h.root, 'lib/systemd'), { recursive: true });
  writeFileSync(join(h.root, 'lib/systemd/systemd-socket-proxyd'), '');
  const d = two();
  const inst = planDeployment(d, ['A']).add[0]!;
  await operations.install.run(h.host, operations.install.parse({ params: { id: inst.Id }, query: {}, body: installBody(inst, d.Containers[0]!, {}) }), {});
  await operations.install.run(h.host, operations.install.parse({ params: { id: 'plain' }, query: {}, body: { Image: 'test/web' } }), {});
  const file = join(h.root, `var/lib/gear/containers/${inst.Id}.json`);
  const def = JSON.parse(readFileSync(file, 'utf8'));
  delete def.SocketActivation.PrivatePorts;
  writeFileSync(file, JSON.stringify(def));
  const listed = await operations.list.run(h.host, { all: true }, {});
  assert.equal(listed.Containers.map((c) => c.Id).sort(), [inst.Id, 'plain'].sort());
  assert.ok(listed.Containers.find((c) => c.Id === inst.Id)!.Socket, 'its socket state is given');
});

test.run();
