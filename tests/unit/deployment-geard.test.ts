import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderDeployment } from '../../src/model/deployment/format.js';
import { instanceLinks } from '../../src/model/deployment/links.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { planDeployment } from '../../src/model/deployment/placement.js';
import type { Deployment } from '../../src/model/deployment/types.js';
import { validateName } from '../../src/model/names.js';

// The seed's own descriptors (tests/fixtures/geard, copied from geard) and
// each descriptor field the seed knew, parsed and planned as gear does.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/geard');
const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as unknown;

function parse(value: unknown): { d: Deployment; warnings: string[] } {
  const warnings: string[] = [];
  return { d: parseDeployment(value, (m) => warnings.push(m)), warnings };
}

/** Pretend every install allocated ports from 5000 up. */
function installAll(d: Deployment): void {
  let n = 5000;
  for (const i of d.Instances) for (const p of i.Ports) if (!p.External) p.External = n++;
}

const roundTrip = (d: Deployment) => parse(JSON.parse(renderDeployment(d, { Hosts: [], Deployed: 'now' }))).d;
const placed = (d: Deployment) => d.Instances.map((i) => `${i.Id}@${i.On}`);
const targets = (d: Deployment) => d.Instances.map((i) => i.Ports.map((p) => (p.Target ? `${p.Target.Host}:${p.Target.Port}` : '-')).join(' '));

/** For each fixture: where its instances go over two hosts, their link addresses, and how many links each source gets. */
const expected: Record<string, { placed: string[]; targets: string[]; links: Record<string, number> }> = {
  'complex_deploy.json': {
    placed: ['web-1@A', 'web-2@B', 'db-1@A', 'db-2@B', 'db-3@A'],
    targets: ['127.0.0.2:8080', '127.0.0.2:8081', '127.0.0.2:27017', '127.0.0.2:27018', '127.0.0.2:27019'],
    links: { 'web-1': 5, 'web-2': 5, 'db-1': 3, 'db-2': 3, 'db-3': 3 },
  },
  'lb_eap_mongo.json': {
    placed: ['lb-1@A', 'backend-1@B', 'backend-2@A', 'db-1@B', 'db-2@A', 'db-3@B'],
    // db: NonLocal + MatchPort, a replica set on 192.168.1.x, all on 27017.
    targets: ['-', '127.0.0.2:8080', '127.0.0.2:8081', '192.168.1.1:27017', '192.168.1.2:27017', '192.168.1.3:27017'],
    links: { 'lb-1': 2, 'backend-1': 3, 'backend-2': 3, 'db-1': 3, 'db-2': 3, 'db-3': 3 },
  },
  'link_alias.json': {
    placed: ['web-1@A', 'db-1@B', 'db-2@A'],
    // An alias fixes the port the source sees (8080): each target on its own address.
    targets: ['', '127.0.0.2:8080', '127.0.0.3:8080'],
    links: { 'web-1': 2 },
  },
  'mongo_deploy.json': {
    placed: ['db-1@A', 'db-2@B', 'db-3@A'],
    targets: ['192.168.1.1:27017', '192.168.1.2:27017', '192.168.1.3:27017'],
    links: { 'db-1': 3, 'db-2': 3, 'db-3': 3 },
  },
  'openshift_deploy.json': {
    placed: ['origin-broker-1@A', 'origin-db-1@B'],
    targets: ['-', '127.0.0.2:27017'],
    links: { 'origin-broker-1': 1 },
  },
  'redis_martini_deploy.json': {
    placed: ['martini-web-1@A', 'martini-redis-1@B'],
    targets: ['-', '127.0.0.2:6379'],
    links: { 'martini-web-1': 1 },
  },
  'rockmongo_mongo.json': {
    placed: ['rockmongo-1@A', 'mongodb-1@B'],
    targets: ['-', '127.0.0.2:27017'],
    links: { 'rockmongo-1': 1 },
  },
  'simple_deploy.json': {
    placed: ['web-1@A', 'web-2@B'],
    targets: ['127.0.0.2:8080', '127.0.0.2:8081'],
    links: { 'web-1': 2, 'web-2': 2 },
  },
};

test('every fixture is covered here', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  assert.equal(files, [...Object.keys(expected), 'mongo_deploy_existing.json'].sort());
});

for (const [file, want] of Object.entries(expected)) {
  test(`fixture ${file}: parsed without warnings, placed over two hosts, every link address assigned`, () => {
    const { d, warnings } = parse(fixture(file));
    assert.equal(warnings, []);
    const plan = planDeployment(d, ['A', 'B']);
    assert.equal(placed(plan.next), want.placed);
    assert.equal(plan.add.length, want.placed.length);
    assert.equal(targets(plan.next), want.targets);
    installAll(plan.next);
    const { links, pending } = instanceLinks(plan.next);
    assert.equal(pending, []);
    assert.equal(Object.fromEntries([...links].map(([id, l]) => [id, l.length])), want.links);
    // Every link leads to the host and allocated port of the instance behind its address.
    for (const l of [...links.values()].flat()) {
      const behind = plan.next.Instances.find((i) => i.Ports.some((p) => p.Target?.Host === l.FromHost && p.Target.Port === l.FromPort))!;
      assert.is(l.ToHost, behind.On);
      assert.is(l.ToPort, behind.Ports.find((p) => p.Target?.Host === l.FromHost)!.External);
    }
    // The written file redeploys to the same thing.
    const again = planDeployment(roundTrip(plan.next), ['A', 'B']);
    assert.equal(again.add, []);
    assert.equal(again.remove, []);
    assert.equal(again.next.Instances, plan.next.Instances);
  });
}

test('fixture mongo_deploy_existing.json (a resolved file the seed wrote): same ids, ports and addresses; nothing added', () => {
  const { d, warnings } = parse(fixture('mongo_deploy_existing.json'));
  assert.equal(warnings, []);
  const plan = planDeployment(d, ['localhost']);
  assert.equal(plan.add, []);
  assert.equal(plan.remove, []);
  assert.equal(plan.keep.map((i) => i.Id), ['db-1', 'db-2', 'db-3']);
  assert.equal(plan.next.Instances.map((i) => i.Ports), [
    [{ Internal: 27017, External: 4203, Target: { Host: '192.168.1.1', Port: 27017 } }],
    [{ Internal: 27017, External: 4204, Target: { Host: '192.168.1.2', Port: 27017 } }],
    [{ Internal: 27017, External: 4206, Target: { Host: '192.168.1.3', Port: 27017 } }],
  ]);
  assert.equal(instanceLinks(plan.next).links.get('db-1'), [
    { FromHost: '192.168.1.1', FromPort: 27017, ToHost: 'localhost', ToPort: 4203 },
    { FromHost: '192.168.1.2', FromPort: 27017, ToHost: 'localhost', ToPort: 4204 },
    { FromHost: '192.168.1.3', FromPort: 27017, ToHost: 'localhost', ToPort: 4206 },
  ]);
  // Scaled down by one: the highest goes, the rest is untouched.
  d.Containers[0]!.Count = 2;
  const down = planDeployment(d, ['localhost']);
  assert.equal(down.remove.map((i) => i.Id), ['db-3']);
  assert.equal(down.add, []);
  // Deployed to other hosts: none of them is contacted where it is; replacements are placed.
  const moved = planDeployment(parse(fixture('mongo_deploy_existing.json')).d, ['A']);
  assert.equal(moved.elsewhere.map((i) => i.Id), ['db-1', 'db-2', 'db-3']);
  assert.equal(moved.add.map((i) => i.Id), ['db-4', 'db-5', 'db-6'], 'the old ids stay taken until their host is named');
});

test('IdPrefix: ids are IdPrefix + NAME-N; the longest id must be a valid name', () => {
  const { d } = parse({ IdPrefix: 'app-', Containers: [{ Name: 'web', Image: 'i', Count: 2 }] });
  assert.equal(planDeployment(d, ['A']).add.map((i) => i.Id), ['app-web-1', 'app-web-2']);
  assert.throws(() => parse({ IdPrefix: 'p'.repeat(60), Containers: [{ Name: 'web', Image: 'i', Count: 10 }] }), /^idprefix: instance id "p{60}web-10" would be longer than 64 characters$/);
  assert.throws(() => parse({ IdPrefix: '-x', Containers: [] }), /^idprefix: id prefix "-x" is not valid/);
  assert.throws(() => parse({ IdPrefix: 'a/b', Containers: [] }), /^idprefix:/);
  assert.throws(() => parse({ IdPrefix: 3, Containers: [] }), /^idprefix: must be a string$/);
  // Written back, and read again the same.
  const plan = planDeployment(d, ['A']);
  assert.is(roundTrip(plan.next).IdPrefix, 'app-');
  assert.match(renderDeployment(plan.next, { Hosts: [], Deployed: 'now' }), /"IdPrefix": "app-",\n {2}"RandomizeIds": false/);
});

test('RandomizeIds: random ids that are valid names, keep the prefix, differ, and stay on redeploy', () => {
  const { d } = parse({ IdPrefix: 'x', RandomizeIds: true, Containers: [{ Name: 'web', Image: 'i', Count: 20, PublicPorts: [{ Internal: 80 }] }] });
  const plan = planDeployment(d, ['A', 'B']);
  const ids = plan.add.map((i) => i.Id);
  assert.is(new Set(ids).size, 20);
  for (const id of ids) {
    assert.match(id, /^x[a-z0-9]{16}$/);
    assert.is(validateName(id), id);
  }
  installAll(plan.next);
  const again = planDeployment(roundTrip(plan.next), ['A', 'B']);
  assert.equal(again.add, []);
  assert.equal(again.keep.map((i) => i.Id).sort(), [...ids].sort());
  // Without a prefix they still start with a letter or digit (the seed's base64 ids could start with "-").
  const bare = planDeployment(parse({ RandomizeIds: true, Containers: [{ Name: 'web', Image: 'i', Count: 3 }] }).d, ['A']);
  for (const i of bare.add) assert.match(i.Id, /^[a-z0-9]{16}$/);
  // A random id already in use is drawn again.
  const picks = [0, 0, 1];
  let k = 0;
  const pick = () => picks[Math.min(k++ / 16, picks.length - 1) | 0]!;
  const clash = parse({ RandomizeIds: true, Containers: [{ Name: 'web', Image: 'i', Count: 2 }] }).d;
  assert.equal(planDeployment(clash, ['A'], pick).add.map((i) => i.Id), ['a'.repeat(16), 'b'.repeat(16)]);
  assert.throws(() => parse({ IdPrefix: 'p'.repeat(49), RandomizeIds: true, Containers: [] }), /^idprefix: with randomizeids, .* no room within 64 characters/);
});

test('Affinity: accepted, written back, placement unchanged (each container spread over the hosts)', () => {
  const base = { Containers: [{ Name: 'web', Image: 'i', Count: 3, PublicPorts: [{ Internal: 80 }] }] };
  const withAffinity = { Containers: [{ ...base.Containers[0], Affinity: 'distribute' }] };
  const a = planDeployment(parse(withAffinity).d, ['A', 'B']);
  assert.equal(placed(a.next), placed(planDeployment(parse(base).d, ['A', 'B']).next));
  assert.equal(placed(a.next), ['web-1@A', 'web-2@B', 'web-3@A']);
  assert.is(roundTrip(a.next).Containers[0]!.Affinity, 'distribute');
  assert.throws(() => parse({ Containers: [{ Name: 'web', Image: 'i', Affinity: 1 }] }), /^containers\[0\]\.affinity: must be a string$/);
});

test('link Ports [int]: linked as themselves, alongside AliasPorts; written back', () => {
  const { d } = parse({
    Containers: [
      { Name: 'web', Image: 'i', Links: [{ To: 'db', Ports: [3001], AliasPorts: [{ Internal: 3000, External: 9000 }] }] },
      { Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }, { Internal: 3001 }, { Internal: 3002 }] },
    ],
  });
  assert.equal(d.Containers[0]!.Links[0]!.AliasPorts, [{ Internal: 3000, External: 9000 }, { Internal: 3001, External: 0 }]);
  const plan = planDeployment(d, ['A']);
  installAll(plan.next);
  assert.equal(instanceLinks(plan.next).links.get('web-1')!.map((l) => `${l.FromHost}:${l.FromPort}`), ['127.0.0.2:9000', '127.0.0.2:3001'], 'port 3002 is not linked');
  const back = roundTrip(plan.next);
  assert.equal(back.Containers[0]!.Links[0]!.Ports, [3001]);
  assert.equal(back.Containers[0]!.Links[0]!.AliasPorts, d.Containers[0]!.Links[0]!.AliasPorts);
  // A port in both lists is linked once.
  const both = parse({ Containers: [{ Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }], Links: [{ To: 'db', Ports: [3000], AliasPorts: [{ Internal: 3000 }] }] }] }).d;
  assert.equal(both.Containers[0]!.Links[0]!.AliasPorts, [{ Internal: 3000, External: 0 }]);
  assert.throws(() => parse({ Containers: [{ Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }], Links: [{ To: 'db', Ports: [3001] }] }] }), /^containers\[0\]\.links\[0\]\.ports\[0\]: container "db" publishes no port 3001$/);
  assert.throws(() => parse({ Containers: [{ Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }], Links: [{ To: 'db', Ports: [3000, 3000] }] }] }), /ports\[1\]: port 3000 is listed twice/);
  assert.throws(() => parse({ Containers: [{ Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }], Links: [{ To: 'db', Ports: ['3000'] }] }] }), /^containers\[0\]\.links\[0\]\.ports\[0\]/);
  assert.throws(() => parse({ Containers: [{ Name: 'db', Image: 'j', PublicPorts: [{ Internal: 3000 }], Links: [{ To: 'db', Ports: 3000 }] }] }), /ports: must be a list/);
});

test('per-instance Environment: new instances take their container\'s; kept instances keep theirs; written back', () => {
  const { d } = parse({ Containers: [{ Name: 'web', Image: 'i', Count: 1, Environment: [{ Name: 'A', Value: '1' }] }] });
  const plan = planDeployment(d, ['A']);
  assert.equal(plan.add[0]!.Environment, [{ Name: 'A', Value: '1' }]);
  const resolved = roundTrip(plan.next);
  assert.equal(resolved.Instances[0]!.Environment, [{ Name: 'A', Value: '1' }]);
  // The container's variables change: the kept instance keeps what it was made with, a new one takes the new ones.
  resolved.Containers[0]!.Environment = [{ Name: 'A', Value: '2' }];
  resolved.Containers[0]!.Count = 2;
  const next = planDeployment(resolved, ['A']);
  assert.equal(next.keep[0]!.Environment, [{ Name: 'A', Value: '1' }]);
  assert.equal(next.add[0]!.Environment, [{ Name: 'A', Value: '2' }]);
  // As the seed writes it, lower case too.
  const seed = parse({ containers: [{ name: 'web', image: 'i' }], instances: [{ id: 'web-1', from: 'web', image: 'i', on: 'h', environment: [{ name: 'B', value: 'x y' }] }] }).d;
  assert.equal(seed.Instances[0]!.Environment, [{ Name: 'B', Value: 'x y' }]);
  assert.throws(() => parse({ containers: [], instances: [{ id: 'web-1', on: 'h', environment: [{ name: '1B', value: 'x' }] }] }), /^instances\[0\]\.environment\[0\]: environment variable name/);
  assert.throws(() => parse({ containers: [], instances: [{ id: 'web-1', on: 'h', environment: [{ name: 'B', value: 'a\nb' }] }] }), /^instances\[0\]\.environment\[0\]: .*line break/);
});

/** A resolved file as the seed writes one: filled AliasPorts, Target {} on an unlinked port. */
const seedResolved = {
  Containers: [
    { Name: 'web', Image: 'i', PublicPorts: [{ Internal: 8080 }], Links: [{ To: 'db', AliasPorts: [{ Internal: 27017, External: 0 }] }], Count: 1 },
    { Name: 'db', Image: 'j', PublicPorts: [{ Internal: 27017 }], Count: 2 },
  ],
  Instances: [
    { Id: 'web-1', Image: 'i', From: 'web', On: 'A', Ports: [{ Internal: 8080, External: 4001, Target: {} }] },
    { Id: 'db-1', Image: 'j', From: 'db', On: 'A', Ports: [{ Internal: 27017, External: 4002, Target: { Host: '127.0.0.1', Port: 27017 } }] },
    { Id: 'db-2', Image: 'j', From: 'db', On: 'B', Ports: [{ Internal: 27017, External: 4003, Target: { Host: '127.0.0.1', Port: 27018 } }] },
  ],
  IdPrefix: '',
  RandomizeIds: false,
};

test('a resolved file the seed wrote: Target {} is no address; kept addresses stay (even the seed\'s 127.0.0.1); only the difference is planned', () => {
  const { d, warnings } = parse(seedResolved);
  assert.equal(warnings, []);
  assert.is(d.Instances[0]!.Ports[0]!.Target, undefined);
  const plan = planDeployment(d, ['A', 'B']);
  assert.equal(plan.add, []);
  assert.equal(plan.remove, []);
  assert.equal(targets(plan.next), ['-', '127.0.0.1:27017', '127.0.0.1:27018']);
  // web-1 is linked to now: its {} is filled with a free address, the others' stay.
  const linked = structuredClone(seedResolved);
  (linked.Containers[1] as { Links?: unknown }).Links = [{ To: 'web', AliasPorts: [{ Internal: 8080, External: 0 }] }];
  assert.equal(targets(planDeployment(parse(linked).d, ['A', 'B']).next), ['127.0.0.2:8080', '127.0.0.1:27017', '127.0.0.1:27018']);
  // One more db: added with the next number and a free address.
  const more = structuredClone(seedResolved);
  more.Containers[1]!.Count = 3;
  const up = planDeployment(parse(more).d, ['A', 'B']);
  assert.equal(up.add.map((i) => i.Id), ['db-3']);
  assert.equal(targets(up.next)[3], '127.0.0.2:27017');
});

test('a link address given twice is an error naming the field; {} twice is fine', () => {
  const twice = structuredClone(seedResolved);
  twice.Instances[2]!.Ports[0]!.Target = { Host: '127.0.0.1', Port: 27017 };
  assert.throws(() => parse(twice), /^instances\[2\]\.ports\[0\]\.target: 127\.0\.0\.1:27017 is also the link address of db-1 port 27017$/);
  const empty = structuredClone(seedResolved);
  empty.Instances[1]!.Ports[0]!.Target = {} as never;
  empty.Instances[2]!.Ports[0]!.Target = { Host: '', Port: 0 } as never;
  assert.equal(targets(parse(empty).d), ['-', '-', '-']);
  const bad = structuredClone(seedResolved);
  bad.Instances[1]!.Ports[0]!.Target = { Host: '127.0.0.1' } as never;
  assert.throws(() => parse(bad), /^instances\[1\]\.ports\[0\]\.target\.port:/);
  bad.Instances[1]!.Ports[0]!.Target = { Port: 1 } as never;
  assert.throws(() => parse(bad), /^instances\[1\]\.ports\[0\]\.target\.host: must be an IPv4 address$/);
});

test('keys are case-insensitive; unknown keys are ignored with a warning naming them; an instance without On is skipped', () => {
  const { d, warnings } = parse({
    CONTAINERS: [{ nAmE: 'web', IMAGE: 'i', Notify: false, publicPorts: [{ INTERNAL: 80, Extra: 1 }], LINKS: [{ TO: 'web', matchPORT: true, Weight: 2 }] }],
    Instances: [{ Id: 'old-1', From: 'web', Image: 'i' }],
    Comment: 'made by hand',
  });
  assert.equal(d.Containers[0]!.PublicPorts, [{ Internal: 80, External: 0 }]);
  assert.is(d.Containers[0]!.Links[0]!.MatchPort, true);
  assert.equal(d.Instances, []);
  assert.equal(warnings.map((w) => w.replace(/ \(known: .*\)$/, '')), [
    'Comment: unknown field, ignored',
    'containers[0].Notify: unknown field, ignored',
    'containers[0].publicports[0].Extra: unknown field, ignored',
    'containers[0].links[0].Weight: unknown field, ignored',
    'instances[0]: not placed on any host (no "On"), ignored',
  ]);
  assert.match(warnings[1]!, /\(known: name, image, count, publicports, links, environment, affinity, memory, cpus, pids, health, volumes, socketactivation, idleafter, after\)$/);
  // The same key twice in different case is still an error.
  assert.throws(() => parse({ containers: [{ name: 'a', Name: 'b', image: 'i' }] }), /^containers\[0\]\.Name: is given twice/);
});

test.run();
