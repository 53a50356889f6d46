import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_TARGETS, parseLinkFlag, pidProblem, presentJumps, restoreBatch, ruleLines, validateNetworkLinks, verifyRules, linkGroups, withoutTargets, type LinkRules } from '../../src/model/links.js';
import { link } from '../../src/operations/links.js';
import { configFromEnv } from '../../src/host/config.js';

const parseLinkRequest = (body: unknown) => link.parse({ params: {}, query: {}, body });

test('-n flags: [FROM_IP:]FROM_PORT:TO_HOST:TO_PORT, FROM_IP defaults to 127.0.0.1', () => {
  assert.equal(parseLinkFlag('127.0.0.2:8081:10.250.0.3:4001'), { FromHost: '127.0.0.2', FromPort: 8081, ToHost: '10.250.0.3', ToPort: 4001 });
  assert.equal(parseLinkFlag('5432:db.example.com:4100'), { FromHost: '127.0.0.1', FromPort: 5432, ToHost: 'db.example.com', ToPort: 4100 });
  assert.equal(parseLinkFlag('127.0.0.3:80:localhost:4500'), { FromHost: '127.0.0.3', FromPort: 80, ToHost: 'localhost', ToPort: 4500 });
});

test('-n flags: bad ports, hosts and injection attempts are refused', () => {
  const bad = [
    '127.0.0.1:99999:x:1', // FROM_PORT out of range
    '127.0.0.1:0:x:1',
    '127.0.0.1:80:x:65536',
    '127.0.0.1:80:x:-1',
    '127.0.0.1:8o:x:1',
    '80:x', // too few parts
    '1:2:3:4:5', // too many
    ':80:x:1', // empty FROM_IP
    '127.0.0.1:80::1', // empty TO_HOST
    '127.0.0.1:80:a b:1', // space
    '127.0.0.1:80:a\nb:1', // newline
    '127.0.0.1:80:a\n-A OUTPUT -j ACCEPT:1',
    '127.0.0.1:80:$(reboot):1',
    '127.0.0.1:80:-j:1', // looks like an option
    '127.0.0.1:80:a_b:1', // not a DNS name
    '300.0.0.1:80:x:1', // not an address
    '127.0.0.1 :80:x:1',
    'localhost:80:x:1', // FROM must be an address
    '0.0.0.0:80:x:1',
    '127.0.0.1:80:127.0.0.5:1', // loopback target: the container itself
    '127.0.0.1:80:224.0.0.1:1', // multicast
    '127.0.0.1:80:1.2.3:1', // all digits but not an address
  ];
  for (const flag of bad) assert.throws(() => parseLinkFlag(flag), /link|port|address|host/i, JSON.stringify(flag));
  assert.throws(() => parseLinkFlag('127.0.0.1:80:127.0.0.5:1'), /loopback/);
});

test('API link lists: unknown fields, wrong types and duplicate targets are refused', () => {
  assert.equal(validateNetworkLinks([{ FromPort: 80, ToHost: '10.0.0.1', ToPort: 81 }]), [{ FromHost: '127.0.0.1', FromPort: 80, ToHost: '10.0.0.1', ToPort: 81 }]);
  assert.equal(validateNetworkLinks(undefined), []);
  assert.throws(() => validateNetworkLinks([{ FromPort: 80, ToHost: '10.0.0.1', ToPort: 81, Extra: 1 }]), /unknown field "Extra"/);
  assert.throws(() => validateNetworkLinks([{ FromPort: '80x', ToHost: '10.0.0.1', ToPort: 81 }]), /NetworkLinks\[0\]\.FromPort/);
  assert.throws(() => validateNetworkLinks([{ FromPort: 80, ToHost: 'a\nb', ToPort: 81 }]), /NetworkLinks\[0\]\.ToHost/);
  // The same address with several targets is one link balanced over them; the same target twice is a mistake.
  assert.is(validateNetworkLinks([{ FromPort: 80, ToHost: 'a', ToPort: 1 }, { FromHost: '127.0.0.1', FromPort: 80, ToHost: 'b', ToPort: 2 }]).length, 2);
  assert.throws(
    () => validateNetworkLinks([{ FromPort: 80, ToHost: 'a', ToPort: 1 }, { FromHost: '127.0.0.1', FromPort: 80, ToHost: 'a', ToPort: 1 }]),
    /NetworkLinks\[1\]: 127.0.0.1:80 is linked twice to a:1/,
  );
  const targets = (n: number) => Array.from({ length: n }, (_, i) => ({ FromPort: 80, ToHost: '10.0.0.1', ToPort: 1000 + i }));
  assert.is(validateNetworkLinks(targets(MAX_TARGETS)).length, MAX_TARGETS);
  assert.throws(() => validateNetworkLinks(targets(MAX_TARGETS + 1)), new RegExp(`NetworkLinks\\[${MAX_TARGETS}\\]: 127.0.0.1:80 has more than ${MAX_TARGETS} targets`));
  assert.throws(() => validateNetworkLinks({}), /list/);
});

test('link requests: {Links: [{Id, NetworkLinks}]}, names valid and unique', () => {
  const r = parseLinkRequest({ Links: [{ Id: 'web-1', NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 8081, ToHost: 'localhost', ToPort: 4000 }] }] });
  assert.is(r.Links[0]!.Id, 'web-1');
  assert.throws(() => parseLinkRequest({ Links: [] }), /non-empty/);
  assert.throws(() => parseLinkRequest({ Links: [{ Id: '../x', NetworkLinks: [] }] }), /not valid/);
  assert.throws(() => parseLinkRequest({ Links: [{ Id: 'a' }, { Id: 'a' }] }), /listed twice/);
  assert.throws(() => parseLinkRequest({ Links: [{ Id: 'a', Bogus: 1 }] }), /unknown field/);
});

const rules: LinkRules = {
  containerIp: '172.17.0.2',
  links: [
    { FromHost: '127.0.0.2', FromPort: 8081, ToHost: '10.250.0.3', ToPort: 4001, ToIp: '10.250.0.3' },
    { FromHost: '127.0.0.3', FromPort: 8081, ToHost: 'localhost', ToPort: 4500, ToIp: '172.17.0.1' },
    { FromHost: '127.0.0.4', FromPort: 9, ToHost: 'b.example', ToPort: 4001, ToIp: '10.250.0.3' },
  ],
};

test('the batch declares gear\'s chains, adds only missing jumps, one DNAT per link and one SNAT rule for them all', () => {
  const batch = restoreBatch(rules, new Set(['-A OUTPUT -j GEAR-LINKS']));
  assert.equal(batch.split('\n'), [
    '*nat',
    ':GEAR-LINKS - [0:0]',
    ':GEAR-LINKS-SNAT - [0:0]',
    '-A PREROUTING -j GEAR-LINKS',
    '-A POSTROUTING -j GEAR-LINKS-SNAT',
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.250.0.3:4001',
    '-A GEAR-LINKS -d 127.0.0.3/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.1:4500',
    '-A GEAR-LINKS -d 127.0.0.4/32 -p tcp -m tcp --dport 9 -j DNAT --to-destination 10.250.0.3:4001',
    '-A GEAR-LINKS-SNAT -s 127.0.0.0/8 ! -o lo -p tcp -m conntrack --ctstate DNAT -j SNAT --to-source 172.17.0.2',
    'COMMIT',
    // route_localnet's guard (CVE-2020-8558), in the same batch: 127.x arriving from outside is dropped.
    '*filter',
    ':GEAR-LINKS-GUARD - [0:0]',
    '-A INPUT -j GEAR-LINKS-GUARD',
    '-A GEAR-LINKS-GUARD -d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    'COMMIT',
    '',
  ]);
  // The guard's jump, when present, is not added twice; the guard itself is always there, links or not.
  assert.not.match(restoreBatch(rules, new Set(['-A INPUT -j GEAR-LINKS-GUARD'])), /-A INPUT /);
  assert.match(restoreBatch({ containerIp: '172.17.0.2', links: [] }, new Set()), /^-A GEAR-LINKS-GUARD -d 127\.0\.0\.0\/8 ! -i lo .* -j DROP$/m);
  // No links: the chains are declared (emptied), no DNAT; the SNAT rule stays, as the guard does.
  const none = restoreBatch({ containerIp: '172.17.0.2', links: [] }, new Set());
  assert.not.match(none, /-A GEAR-LINKS /);
  assert.equal(none.split('\n').filter((l) => l.startsWith('-A GEAR-LINKS-SNAT ')), ['-A GEAR-LINKS-SNAT -s 127.0.0.0/8 ! -o lo -p tcp -m conntrack --ctstate DNAT -j SNAT --to-source 172.17.0.2']);
});

test('a link with several targets: round-robin by connection (nth 3, nth 2, the rest), one SNAT rule; the read-back check takes it', () => {
  const to = (ToIp: string, ToPort: number) => ({ FromHost: '127.0.0.2', FromPort: 8080, ToHost: ToIp, ToPort, ToIp });
  const three: LinkRules = { containerIp: '172.17.0.5', links: [to('10.0.0.1', 4001), { ...to('10.0.0.9', 9), FromPort: 9 }, to('10.0.0.2', 4002), to('10.0.0.3', 4003)] };
  assert.equal(ruleLines(three).filter((l) => l.includes('-j DNAT')), [
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8080 -m statistic --mode nth --every 3 --packet 0 -j DNAT --to-destination 10.0.0.1:4001',
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8080 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.0.0.2:4002',
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.3:4003',
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 9 -j DNAT --to-destination 10.0.0.9:9',
  ]);
  assert.is(ruleLines(three).filter((l) => l.includes('SNAT')).length, 1);
  // As iptables-save (nf_tables) prints it back.
  const save = ['*nat', '-A PREROUTING -j GEAR-LINKS', '-A OUTPUT -j GEAR-LINKS', '-A POSTROUTING -j GEAR-LINKS-SNAT', ...ruleLines(three), '*filter', '-A INPUT -j GEAR-LINKS-GUARD'].join('\n');
  assert.equal(verifyRules(save, three), []);
  assert.equal(verifyRules(save.replace('--every 3', '--every 2'), three), ['1 expected rule is missing', '1 unexpected rule is present']);
});

test('the SNAT rule does not depend on the targets: a re-apply (re-pointing, a drain) never takes away the SNAT of a connection DNATed just before', () => {
  // A connection's first packet is DNATed in OUTPUT and SNATed in POSTROUTING; a re-apply between the two
  // must find it a SNAT rule whatever target the old rules sent it to, or conntrack keeps its 127.x source
  // for good and it hangs (seen on a test host: 5 s, until wget's timeout).
  const to = (ToPort: number) => ({ FromHost: '127.0.0.2', FromPort: 8080, ToHost: 'localhost', ToPort, ToIp: '172.17.0.1' });
  const snat = (links: LinkRules['links']) => ruleLines({ containerIp: '172.17.0.4', links }).filter((l) => l.startsWith('-A GEAR-LINKS-SNAT '));
  const both = snat([to(4000), to(4001)]);
  assert.equal(both, ['-A GEAR-LINKS-SNAT -s 127.0.0.0/8 ! -o lo -p tcp -m conntrack --ctstate DNAT -j SNAT --to-source 172.17.0.4']);
  assert.equal(snat([to(4000)]), both, 'drained: one target left');
  assert.equal(snat([{ ...to(9), ToIp: '10.0.0.9' }]), both, 're-pointed elsewhere');
  assert.equal(snat([]), both, 'no links left');
});

test('drained targets leave a link only while it keeps another target', () => {
  const l = (FromPort: number, ToPort: number) => ({ FromHost: '127.0.0.2', FromPort, ToHost: 'localhost', ToPort, ToIp: '172.17.0.1' });
  const links = [l(80, 4001), l(80, 4002), l(81, 4001), l(82, 4003)];
  const out = (x: { ToPort: number }) => x.ToPort === 4001;
  assert.equal(withoutTargets(links, out), [l(80, 4002), l(81, 4001), l(82, 4003)]);
  assert.equal(linkGroups(links).map((g) => g.length), [2, 1, 1]);
  assert.equal(withoutTargets(links, () => false), links);
  assert.equal(withoutTargets([l(80, 4001), l(80, 4002)], () => true), [l(80, 4001), l(80, 4002)], 'all out: all kept');
});

test('100 links make one batch of 100 DNAT rules', () => {
  const many: LinkRules = {
    containerIp: '172.17.0.2',
    links: Array.from({ length: 100 }, (_, i) => ({ FromHost: '127.0.0.2', FromPort: 10000 + i, ToHost: '10.0.0.9', ToPort: 20000 + i, ToIp: '10.0.0.9' })),
  };
  assert.is(ruleLines(many).filter((l) => l.includes('-j DNAT')).length, 100);
  assert.is(restoreBatch(many, new Set()).split('\n').filter((l) => l === 'COMMIT').length, 2, 'one batch: nat and filter');
});

const saved = (extra: string[] = []) =>
  [
    '# Generated by iptables-save v1.8.9 (nf_tables)',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':GEAR-LINKS - [0:0]',
    ':GEAR-LINKS-SNAT - [0:0]',
    '-A PREROUTING -j GEAR-LINKS',
    '-A OUTPUT -j GEAR-LINKS',
    '-A POSTROUTING -j GEAR-LINKS-SNAT',
    // iptables-save's own option order differs from what was written: it does not matter.
    '-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.250.0.3:4001',
    '-A GEAR-LINKS -p tcp -d 127.0.0.3/32 -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.1:4500',
    '-A GEAR-LINKS -d 127.0.0.4/32 -p tcp -m tcp --dport 9 -j DNAT --to-destination 10.250.0.3:4001',
    '-A GEAR-LINKS-SNAT -s 127.0.0.0/8 ! -o lo -p tcp -m conntrack --ctstate DNAT -j SNAT --to-source 172.17.0.2',
    ...extra,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':GEAR-LINKS-GUARD - [0:0]',
    '-A INPUT -j GEAR-LINKS-GUARD',
    // conntrack states in another order: still the same rule.
    '-A GEAR-LINKS-GUARD -d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate ESTABLISHED,RELATED,DNAT -j DROP',
    'COMMIT',
  ].join('\n');

test('the read-back check: what landed is exactly what was meant', () => {
  assert.equal(verifyRules(saved(), rules), []);
  assert.equal(presentJumps(saved()).size, 4);
  assert.equal(verifyRules(saved().replace(/^-A GEAR-LINKS-GUARD .*$/m, ''), rules), ['1 expected rule is missing'], 'a missing guard is an error');
  assert.equal(verifyRules(saved().replace('-A INPUT -j GEAR-LINKS-GUARD', ''), rules), ['INPUT has 0 jumps to GEAR-LINKS-GUARD, expected 1']);
  assert.equal(verifyRules(saved().replace('--dport 9 ', '--dport 10 '), rules), ['1 expected rule is missing', '1 unexpected rule is present']);
  assert.equal(verifyRules(saved(['-A OUTPUT -j GEAR-LINKS']), rules), ['OUTPUT has 2 jumps to GEAR-LINKS, expected 1']);
  assert.equal(verifyRules('*nat\nCOMMIT\n', { containerIp: 'x', links: [] }).length, 5);
});

test('a pid that is no longer the container\'s is refused before nsenter', () => {
  const id = 'a'.repeat(64);
  const ok = { pid: 42, containerId: id, netns: 'net:[4026532300]', hostNetns: 'net:[4026531992]', cgroup: `0::/system.slice/docker-${id}.scope\n` };
  assert.is(pidProblem(ok), undefined);
  assert.match(pidProblem({ ...ok, netns: ok.hostNetns })!, /pid 42 is in the host's network namespace/);
  assert.match(pidProblem({ ...ok, cgroup: '0::/system.slice/cron.service\n' })!, /pid 42 is no longer a process of container aaaaaaaaaaaa \(the pid was reused\)/);
  assert.match(pidProblem({ ...ok, netns: undefined })!, /pid 42 is gone/);
});

test('the command linked units run: GEAR_SELF_BIN, else this node and bundle, else (SPC) the host wrapper', () => {
  assert.equal(configFromEnv({ GEAR_SELF_BIN: '/opt/gear/bin/gear' }).selfCommand, ['/opt/gear/bin/gear']);
  assert.equal(configFromEnv({}).selfCommand[0], process.execPath);
  assert.equal(configFromEnv({ GEAR_HOST_ROOT: '/host' }).selfCommand, ['/usr/local/bin/gear']);
  assert.throws(() => configFromEnv({ GEAR_SELF_BIN: 'gear' }), /absolute path/);
  assert.throws(() => configFromEnv({ GEAR_SELF_BIN: '/a b\nExecStartPre=/bin/sh' }), /control characters/);
});

test.run();
