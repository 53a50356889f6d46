import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateDeployHost } from '../../src/model/address.js';
import { renderDeployment } from '../../src/model/deployment/format.js';
import { resolvedName } from '../../src/model/deployment/files.js';
import { instanceLinks } from '../../src/model/deployment/links.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import type { Deployment } from '../../src/model/deployment/types.js';

/** The seed's simple_deploy.json and complex_deploy.json shapes (lower-case keys). */
const twoTier = {
  containers: [
    { name: 'web', image: 'test/web', count: 2, publicports: [{ internal: 8080, external: 0 }], links: [{ to: 'web' }, { to: 'db' }] },
    { name: 'db', image: 'test/db', count: 1, publicports: [{ internal: 5432 }], environment: [{ name: 'ROLE', value: 'primary' }] },
  ],
};

/** Pretend every install allocated ports from 4000 up, per host. */
function installAll(d: Deployment): void {
  const next = new Map<string, number>();
  for (const i of d.Instances)
    for (const p of i.Ports)
      if (!p.External) {
        const n = next.get(i.On) ?? 4000;
        p.External = n;
        next.set(i.On, n + 1);
      }
}

test('parse: keys are case-insensitive; defaults filled in', () => {
  const d = parseDeployment({ Containers: [{ NAME: 'web', Image: 'test/web', PublicPorts: [{ Internal: 8080 }] }] });
  assert.equal(d.Containers[0], { Name: 'web', Image: 'test/web', Count: 1, PublicPorts: [{ Internal: 8080, External: 0 }], Links: [], Environment: [] });
  assert.equal(d.Instances, []);
});

test('bad descriptors: every error names the offending field', () => {
  const bad: [unknown, RegExp][] = [
    [{ containers: [{ name: 'web', image: 'test/web', links: [{ to: 'db' }] }] }, /^containers\[0\]\.links\[0\]\.to: no container named "db"$/],
    [{ containers: [{ name: 'a', image: 'i' }, { name: 'web', image: 'test/web', count: -1 }] }, /^containers\[1\]\.count: must be a whole number from 0 to 1000, not -1$/],
    [{ containers: [{ name: 'web', image: 'i', count: 1.5 }] }, /containers\[0\]\.count/],
    [{ containers: [{ name: 'web', image: 'i', count: '2' }] }, /containers\[0\]\.count/],
    [{ containers: [{ name: 'web', image: 'i' }, { name: 'web', image: 'j' }] }, /^containers\[1\]\.name: "web" is used twice \(also containers\[0\]\)$/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ internal: 70000 }] }] }, /^containers\[0\]\.publicports\[0\]\.internal: 70000 is not a port number/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ internal: '8080' }] }] }, /^containers\[0\]\.publicports\[0\]\.internal/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ external: 80 }] }] }, /^containers\[0\]\.publicports\[0\]\.internal: is required/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ internal: 80 }, { internal: 80 }] }] }, /publicports\[1\]\.internal: port 80 is listed twice/],
    [{ containers: [{ name: 'web', image: 'i', publicports: 8080 }] }, /^containers\[0\]\.publicports: must be a list/],
    [{ containers: [{ name: 'a b', image: 'i' }] }, /^containers\[0\]\.name: name "a b" is not valid/],
    [{ containers: [{ name: 'web', image: 'Bad Image' }] }, /^containers\[0\]\.image:/],
    [{ containers: [{ name: 'web', image: 'i', environment: [{ name: '1x', value: 'v' }] }] }, /^containers\[0\]\.environment\[0\]: environment variable name/],
    [{ containers: [{ name: 'web', image: 'i' }, { name: 'db', image: 'j', links: [{ to: 'web' }] }] }, /^containers\[1\]\.links\[0\]\.to: container "web" publishes no ports/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ internal: 80 }], links: [{ to: 'web', aliasports: [{ internal: 81 }] }] }] }, /links\[0\]\.aliasports\[0\]\.internal: container "web" publishes no port 81/],
    [{ containers: [{ name: 'web', image: 'i', publicports: [{ internal: 80 }], links: [{ to: 'web', nonlocal: 'yes' }] }] }, /links\[0\]\.nonlocal: must be true or false/],
    [{ containers: [{ name: 'x'.repeat(62), image: 'i', count: 10 }] }, /would be longer than 64/],
    [{ containers: {} }, /^containers: must be a list/],
    [[], /must be an object/],
  ];
  for (const [value, message] of bad) assert.throws(() => parseDeployment(value), message, JSON.stringify(value));
});

test('placement: NAME-1..NAME-count, round-robin over the hosts', () => {
  const plan = planDeployment(parseDeployment(twoTier), ['hostA', 'hostB']);
  assert.equal(plan.next.Instances.map((i) => `${i.Id}@${i.On}`), ['web-1@hostA', 'web-2@hostB', 'db-1@hostA']);
  assert.is(plan.add.length, 3);
  assert.equal(plan.remove, []);
  assert.throws(() => planDeployment(parseDeployment(twoTier), []), /at least one host/);
});

test('link addresses: loopback, one per target instance and port, the port counting up', () => {
  const { next } = planDeployment(parseDeployment(twoTier), ['hostA', 'hostB']);
  assert.equal(next.Instances.map((i) => i.Ports[0]!.Target), [
    { Host: '127.0.0.2', Port: 8080 },
    { Host: '127.0.0.2', Port: 8081 },
    { Host: '127.0.0.2', Port: 5432 },
  ]);
  // Links can only be made once the targets' ports are known.
  assert.is(instanceLinks(next).pending.length, 6);
  installAll(next);
  const { links, pending } = instanceLinks(next);
  assert.equal(pending, []);
  assert.equal(links.get('web-1'), [
    { FromHost: '127.0.0.2', FromPort: 8080, ToHost: 'hostA', ToPort: 4000 },
    { FromHost: '127.0.0.2', FromPort: 8081, ToHost: 'hostB', ToPort: 4000 },
    { FromHost: '127.0.0.2', FromPort: 5432, ToHost: 'hostA', ToPort: 4001 },
  ]);
  assert.equal(links.get('web-2'), links.get('web-1'), 'every source reaches a target at the same address');
  assert.is(links.get('db-1'), undefined, 'db links nowhere');
});

test('nonlocal uses a private range; matchport keeps the port and varies the address (a replica set)', () => {
  const mongo = parseDeployment({ containers: [{ name: 'db', image: 'mongo', count: 3, publicports: [{ internal: 27017 }], links: [{ to: 'db', nonlocal: true, matchport: true }] }] });
  const { next } = planDeployment(mongo, ['h1', 'h2']);
  assert.equal(next.Instances.map((i) => i.Ports[0]!.Target), [
    { Host: '192.168.1.1', Port: 27017 },
    { Host: '192.168.1.2', Port: 27017 },
    { Host: '192.168.1.3', Port: 27017 },
  ]);
  const local = parseDeployment({ containers: [{ name: 'db', image: 'mongo', count: 2, publicports: [{ internal: 27017 }], links: [{ to: 'db', matchport: true }] }] });
  assert.equal(planDeployment(local, ['h1']).next.Instances.map((i) => i.Ports[0]!.Target!.Host), ['127.0.0.2', '127.0.0.3']);
  const plain = parseDeployment({ containers: [{ name: 'db', image: 'mongo', count: 2, publicports: [{ internal: 27017 }], links: [{ to: 'db', nonlocal: true }] }] });
  assert.equal(planDeployment(plain, ['h1']).next.Instances.map((i) => i.Ports[0]!.Target), [
    { Host: '192.168.1.1', Port: 27017 },
    { Host: '192.168.1.1', Port: 27018 },
  ]);
});

test('aliasports: the source sees the target port under another number', () => {
  const d = parseDeployment({
    containers: [
      { name: 'web', image: 'i', links: [{ to: 'db', aliasports: [{ internal: 3000, external: 8080 }] }] },
      { name: 'db', image: 'j', count: 2, publicports: [{ internal: 3000 }, { internal: 3001 }] },
    ],
  });
  const { next } = planDeployment(d, ['h']);
  installAll(next);
  const links = instanceLinks(next).links.get('web-1')!;
  assert.equal(links.map((l) => `${l.FromHost}:${l.FromPort}`), ['127.0.0.2:8080', '127.0.0.3:8080'], 'only the aliased port, on its own address per target');
});

test('fixed external ports: at most one instance per host', () => {
  const d = parseDeployment({ containers: [{ name: 'web', image: 'i', count: 3, publicports: [{ internal: 80, external: 8080 }] }] });
  assert.throws(() => planDeployment(d, ['a', 'b']), /^containers\[0\]\.publicports\[0\]\.external: port 8080 is fixed, but web-1 and web-3 would both publish it on a$/);
  assert.is(planDeployment(d, ['a', 'b', 'c']).add.length, 3);
});

/** A deploy's written file, read back as the next deploy would. */
function roundTrip(d: Deployment): Deployment {
  return parseDeployment(JSON.parse(renderDeployment(d, { Hosts: [], Deployed: 'now' })));
}

test('redeploy converges: a resolved file plans nothing new; addresses and placement are stable', () => {
  const first = planDeployment(parseDeployment(twoTier), ['hostA', 'hostB']).next;
  installAll(first);
  const again = planDeployment(roundTrip(first), ['hostA', 'hostB']);
  assert.equal(again.add, []);
  assert.equal(again.remove, []);
  assert.equal(again.keep.map((i) => i.Id), ['web-1', 'web-2', 'db-1']);
  assert.equal(again.next.Instances, first.Instances);
});

test('scale up and down by redeploying: lowest free numbers added, highest removed, the rest untouched', () => {
  const first = planDeployment(parseDeployment(twoTier), ['hostA', 'hostB']).next;
  installAll(first);
  const resolved = roundTrip(first);
  resolved.Containers[0]!.Count = 4;
  resolved.Containers[1]!.Count = 2;
  const up = planDeployment(resolved, ['hostA', 'hostB']);
  assert.equal(up.add.map((i) => `${i.Id}@${i.On}`), ['web-3@hostB', 'web-4@hostA', 'db-2@hostB'], 'the least loaded host first');
  assert.equal(up.next.Instances.find((i) => i.Id === 'web-2')!.Ports[0]!.Target, { Host: '127.0.0.2', Port: 8081 }, 'kept addresses stay');
  installAll(up.next);
  const down = roundTrip(up.next);
  down.Containers[0]!.Count = 1;
  down.Containers[1]!.Count = 0;
  const plan = planDeployment(down, ['hostA', 'hostB']);
  assert.equal(plan.remove.map((i) => i.Id).sort(), ['db-1', 'db-2', 'web-2', 'web-3', 'web-4']);
  assert.equal(plan.next.Instances.map((i) => i.Id), ['web-1']);
  assert.equal(instanceLinks(plan.next).links.get('web-1')!.length, 1, 'only the link to itself is left');
});

test('redeploy: instances of containers gone are removed; a changed image keeps the instance (changed in place); on hosts not named, replaced and left alone', () => {
  const first = planDeployment(parseDeployment(twoTier), ['hostA', 'hostB']).next;
  installAll(first);
  const resolved = roundTrip(first);
  resolved.Containers[1]!.Image = 'test/db:2';
  const plan = planDeployment(resolved, ['hostA']);
  assert.equal(plan.remove.map((i) => i.Id).sort(), []);
  // Its volumes stay: the deploy re-installs it on the new image (apply.ts); its link address stays too.
  assert.equal(plan.keep.map((i) => `${i.Id} ${i.Image}`), ['web-1 test/web', 'db-1 test/db:2']);
  assert.equal(plan.keep[1]!.Ports[0]!.Target, first.Instances.find((i) => i.Id === 'db-1')!.Ports[0]!.Target);
  // web-2 is on hostB, not named: never contacted, marked to be removed by a deploy that names hostB; its name stays taken.
  assert.equal(plan.elsewhere.map((i) => [i.Id, i.On, i.Remove]), [['web-2', 'hostB', true]]);
  assert.equal(plan.add.map((i) => `${i.Id}@${i.On}`), ['web-3@hostA']);
  assert.ok([...plan.keep, ...plan.add, ...plan.remove].every((i) => i.On === 'hostA'), 'only hostA is contacted');
  const gone = roundTrip(first);
  gone.Containers = gone.Containers.filter((c) => c.Name === 'db');
  assert.equal(planDeployment(gone, ['hostA', 'hostB']).remove.map((i) => i.Id).sort(), ['web-1', 'web-2']);
  // A removal that failed last time is tried again.
  const retry = roundTrip(first);
  retry.Instances.push({ Id: 'old-1', From: 'old', Image: 'x', On: 'hostB', Ports: [], Remove: true });
  assert.equal(planDeployment(roundTrip(retry), ['hostA', 'hostB']).remove.map((i) => i.Id), ['old-1']);
});

test('resolved file names and deploy hosts', () => {
  const now = new Date('2026-11-22T01:02:03.456Z');
  assert.is(resolvedName('app.json', now), 'app.json.20261122-010203');
  assert.is(resolvedName('app.json.20261121-235959', now), 'app.json.20261122-010203');
  assert.is(resolvedName('app.json.20261121-235959-2', now), 'app.json.20261122-010203');
  assert.is(validateDeployHost('10.250.0.2:43273'), '10.250.0.2:43273');
  assert.is(validateDeployHost('host-a.example'), 'host-a.example');
  for (const bad of ['a b', 'h:99999', '[::1]', 'a\nb', '127.0.0.1']) assert.throws(() => validateDeployHost(bad), /host|port/, bad);
});

test.run();
