import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, allocatedPort, curl, eventually, gear, hostIp, run, sh, startAgent, stateListing, stopAgent, journalMatching } from './harness.js';

// Links across three real hosts (each its own network namespace, address,
// systemd and dockerd on the test bridge): a container on A reaches
// containers on B and C through a fixed 127.x address inside it.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const C = process.env.GEAR_TEST_HOST_C ?? 'gear-c';
const [ipB, ipC] = [hostIp(B), hostIp(C)];
let portB = 0;
let portC = 0;
let portLocal = 0;

/** GET a URL from inside a container (busybox wget; its -T crashes, so timeout(1)). */
async function inside(host: string, name: string, url: string): Promise<string | undefined> {
  const r = await run(host, ['docker', 'exec', `ctr-${name}`, 'timeout', '5', 'wget', '-qO-', url]);
  return r.code === 0 ? r.stdout : undefined;
}
const greeting = async (host: string, name: string, url: string) => /GREETING=(\S+)/.exec((await inside(host, name, url)) ?? '')?.[1];

const pidOf = async (host: string, name: string) => (await sh(host, `docker inspect -f '{{.State.Pid}}' ctr-${name}`)).trim();
const natRules = async (host: string, name: string) => sh(host, `nsenter -t ${await pidOf(host, name)} -n iptables-save -t nat`);

test.before(async () => {
  const b = await gear(B, ['install', 'test/web', 'lk-b', '--start', '-p', '8080:0', '-e', 'GREETING=from-b']);
  const c = await gear(C, ['install', 'test/web', 'lk-c', '--start', '-p', '8080:0', '-e', 'GREETING=from-c']);
  assert.is(b.code + c.code, 0, b.stderr + c.stderr);
  portB = allocatedPort(b.stdout);
  portC = allocatedPort(c.stdout);
});

test('install -n: inside the container on A, 127.0.0.2:8081 reaches the container on B', async () => {
  const r = await gear(A, ['install', 'test/web', 'lk-a', '--start', '-n', `127.0.0.2:8081:${ipB}:${portB}`]);
  assert.is(r.code, 0, r.stderr);
  assert.is(await eventually(() => greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env')), 'from-b');
  // The rules are gear's own chains, in the container's namespace only.
  const rules = await natRules(A, 'lk-a');
  assert.match(rules, new RegExp(`-A GEAR-LINKS -d 127.0.0.2/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination ${ipB}:${portB}`));
  assert.match(rules, /-A GEAR-LINKS-SNAT .*-j SNAT --to-source 172\./);
  assert.not.match(await sh(A, 'iptables-save -t nat'), /GEAR-LINKS/, 'the host namespace is untouched');
  assert.match(await sh(A, `cat /var/lib/gear/links/lk-a.json`), new RegExp(`"ToHost": "${ipB}"`));
  assert.match(await journalMatching(A, '-u ctr-lk-a -o cat', /lk-a: 1 link applied \(3 rules\)/), /lk-a: 1 link applied \(3 rules\)/);
});

test('route_localnet comes with kube-proxy\'s guard (CVE-2020-8558) from the same batch, seen by iptables-save; a lost guard is restored', async () => {
  const pid = await pidOf(A, 'lk-a');
  const guard = '-A GEAR-LINKS-GUARD -d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP';
  const filter = await sh(A, `nsenter -t ${pid} -n iptables-save -t filter`);
  assert.ok(filter.split('\n').includes(guard), filter);
  assert.ok(filter.split('\n').includes('-A INPUT -j GEAR-LINKS-GUARD'), filter);
  assert.is((await sh(A, `nsenter -t ${pid} -n cat /proc/sys/net/ipv4/conf/all/route_localnet`)).trim(), '1');
  // A guard that went missing comes back with the next apply.
  await sh(A, `nsenter -t ${pid} -n iptables -D ${guard.slice(3)}`);
  const again = await gear(A, ['link', '-n', `127.0.0.2:8081:${ipB}:${portB}`, 'lk-a']);
  assert.is(again.code, 0, again.stderr);
  assert.ok((await sh(A, `nsenter -t ${pid} -n iptables-save -t filter`)).split('\n').includes(guard));
  assert.not.match(await sh(A, 'iptables-save -t filter'), /GEAR-LINKS/, 'the host namespace is untouched');
});

test('the guard at work: a neighbour\'s SYN to a service on 127.0.0.1 inside the linked container is dropped, and answered without the guard', async () => {
  const pid = await pidOf(A, 'lk-a');
  const ip = (await sh(A, "docker inspect -f '{{.NetworkSettings.IPAddress}}' ctr-lk-a")).trim();
  // A service only the container itself should reach.
  await sh(A, 'docker exec ctr-lk-a sh -c "mkdir -p /tmp/private && echo private > /tmp/private/index.html && httpd -p 127.0.0.1:9999 -h /tmp/private"');
  // Count, in the container's namespace, SYNs for it arriving on eth0 and the answers it sends.
  const count = (rule: string) => sh(A, `nsenter -t ${pid} -n iptables -I ${rule}`);
  await count('INPUT -i eth0 -d 127.0.0.1 -p tcp --dport 9999 --syn');
  await count('OUTPUT -o eth0 -s 127.0.0.1 -p tcp --sport 9999');
  const counters = async () => {
    const out = await sh(A, `nsenter -t ${pid} -n iptables -L -v -n -x`);
    const packets = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    return {
      syn: packets(/^\s*(\d+)\s+\d+\s+(?:tcp|6)\s+--\s+eth0\s+\*\s+\S+\s+127\.0\.0\.1\s+tcp dpt:9999/m),
      answered: packets(/^\s*(\d+)\s+\d+\s+(?:tcp|6)\s+--\s+\*\s+eth0\s+127\.0\.0\.1\s+\S+\s+tcp spt:9999/m),
      dropped: packets(/^Chain GEAR-LINKS-GUARD[^\n]*\n[^\n]*\n\s*(\d+)/m),
    };
  };
  // A neighbour on the container's network sends to 127.0.0.1 through the
  // linked container's address, as an attacker on that network would (its
  // own kernel must be told to route 127.0.0.1 out of eth0). The echo
  // keeps sh as PID 1: timeout(1) as PID 1 could not end wget (signals to
  // PID 1 are ignored), which then waited out TCP's own 2 minutes.
  const probe = () =>
    run(A, ['docker', 'run', '--rm', '--cap-add', 'NET_ADMIN', '--sysctl', 'net.ipv4.conf.all.route_localnet=1', 'test/web', 'sh', '-c',
      `ip route del local 127.0.0.0/8 dev lo table local; ip route del local 127.0.0.1 dev lo table local; ip route add 127.0.0.1/32 via ${ip} dev eth0; timeout 3 wget -qO- http://127.0.0.1:9999/; echo "wget: $?"`]);
  const before = await counters();
  assert.not.ok((await probe()).stdout.includes('private'));
  const guarded = await counters();
  assert.ok(guarded.syn > before.syn, `the neighbour's SYNs reached the container (${JSON.stringify(guarded)})`);
  assert.ok(guarded.dropped > before.dropped, `the guard dropped them (${JSON.stringify(guarded)})`);
  assert.is(guarded.answered, before.answered, 'the service never answered');
  // The control: without the guard's jump, the same SYNs reach the service and it answers.
  await sh(A, `nsenter -t ${pid} -n iptables -D INPUT -j GEAR-LINKS-GUARD`);
  try {
    await probe();
    const open = await counters();
    assert.ok(open.answered > guarded.answered, `without the guard the service answers from outside (${JSON.stringify(open)})`);
  } finally {
    // gear link puts the guard back (tested above); the counting rules go.
    assert.is((await gear(A, ['link', '-n', `127.0.0.2:8081:${ipB}:${portB}`, 'lk-a'])).code, 0);
    await sh(A, `nsenter -t ${pid} -n iptables -D INPUT -i eth0 -d 127.0.0.1 -p tcp --dport 9999 --syn; nsenter -t ${pid} -n iptables -D OUTPUT -o eth0 -s 127.0.0.1 -p tcp --sport 9999`);
  }
  assert.ok((await sh(A, `nsenter -t ${pid} -n iptables-save -t filter`)).includes('-A INPUT -j GEAR-LINKS-GUARD'));
});

test('a linked unit applies its links in ExecStartPost and passes systemd-analyze verify; other units only wait for their container to run', async () => {
  const unit = await sh(A, 'systemctl cat ctr-lk-a');
  assert.match(unit, /^ExecStartPost=\S+ \S+ apply-links --state-dir \/var\/lib\/gear lk-a$/m);
  const verify = await sh(A, 'systemd-analyze verify /etc/systemd/system/ctr-lk-a.service 2>&1');
  assert.is(verify.trim(), '', verify);
  assert.is((await gear(A, ['install', 'test/web', 'lk-plain'])).code, 0);
  const plain = await sh(A, 'cat /etc/systemd/system/ctr-lk-plain.service');
  assert.not.match(plain, /apply-links/);
  assert.match(plain, /^ExecStartPost=\/bin\/sh -c "d=0.05; until .*State.Running/m);
  const status = await gear(A, ['status', 'lk-a']);
  assert.match(status.stdout, new RegExp(`Links: 127.0.0.2:8081 -> ${ipB}:${portB}`));
});

test('gear link re-points the same address to host C at once, without restarting the container', async () => {
  const [pid, mainPid] = [await pidOf(A, 'lk-a'), (await sh(A, 'systemctl show -p MainPID --value ctr-lk-a')).trim()];
  const r = await gear(A, ['link', '-n', `127.0.0.2:8081:${ipC}:${portC}`, 'lk-a']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /lk-a: 1 link applied/);
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c');
  assert.is(await pidOf(A, 'lk-a'), pid, 'same container process');
  assert.is((await sh(A, 'systemctl show -p MainPID --value ctr-lk-a')).trim(), mainPid, 'same unit process');
});

test('restart, and a killed container brought back by systemd: the links are applied again', async () => {
  const before = await pidOf(A, 'lk-a');
  assert.is((await gear(A, ['restart', 'lk-a'])).code, 0);
  assert.is.not(await pidOf(A, 'lk-a'), before, 'a new container, a new network namespace');
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c', 'right after restart returns');
  const restarts = Number((await sh(A, 'systemctl show -p NRestarts --value ctr-lk-a')).trim());
  await sh(A, 'docker kill ctr-lk-a >/dev/null');
  const back = await eventually(async () => Number((await sh(A, 'systemctl show -p NRestarts --value ctr-lk-a')).trim()) > restarts && (await sh(A, 'systemctl is-active ctr-lk-a || true')).trim() === 'active', 120_000, 500);
  assert.ok(back, 'systemd restarted the killed container');
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c');
});

test('localhost is the host itself; re-applying replaces only gear\'s rules, never anyone else\'s', async () => {
  const l = await gear(A, ['install', 'test/web', 'lk-local', '--start', '-p', '8080:0', '-e', 'GREETING=from-a']);
  assert.is(l.code, 0, l.stderr);
  portLocal = allocatedPort(l.stdout);
  const pid = await pidOf(A, 'lk-a');
  // Someone else's rule in the container's nat table.
  await sh(A, `nsenter -t ${pid} -n iptables -t nat -A OUTPUT -d 127.0.0.9/32 -p tcp --dport 9 -j DNAT --to-destination 10.0.0.9:9`);
  const r = await gear(A, ['link', '-n', `127.0.0.2:8081:${ipC}:${portC}`, '-n', `127.0.0.3:80:localhost:${portLocal}`, 'lk-a']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.3/cgi-bin/env'), 'from-a');
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c');
  const rules = await natRules(A, 'lk-a');
  assert.match(rules, /-A OUTPUT -d 127.0.0.9\/32 -p tcp -m tcp --dport 9 -j DNAT --to-destination 10.0.0.9:9/, 'the foreign rule survives');
  assert.is(rules.split('\n').filter((x) => x === '-A OUTPUT -j GEAR-LINKS').length, 1, 'one jump, however often applied');
  assert.is(rules.split('\n').filter((x) => x.startsWith('-A GEAR-LINKS ')).length, 2);
});

test('100 links are applied in one batch: one iptables-restore process', async () => {
  const flags = Array.from({ length: 100 }, (_, i) => ['-n', `127.0.1.${(i % 250) + 1}:${9000 + i}:${ipC}:${portC}`]).flat();
  // A counting iptables-restore first on PATH (gear finds iptables on PATH).
  await sh(A, 'mkdir -p /tmp/count && rm -f /tmp/count/log && printf \'#!/bin/sh\\necho run >> /tmp/count/log\\nexec /usr/sbin/iptables-restore "$@"\\n\' > /tmp/count/iptables-restore && chmod +x /tmp/count/iptables-restore');
  const r = await run(A, ['sh', '-c', `PATH=/tmp/count:$PATH ${GEAR} link ${flags.join(' ')} lk-a`]);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(A, 'wc -l < /tmp/count/log')).trim(), '1');
  assert.is((await natRules(A, 'lk-a')).split('\n').filter((x) => x.startsWith('-A GEAR-LINKS ')).length, 100);
  assert.is(await greeting(A, 'lk-a', 'http://127.0.1.100:9099/cgi-bin/env'), 'from-c');
  assert.is(await inside(A, 'lk-a', 'http://127.0.0.3/'), undefined, 'the old links are gone');
});

test('a stopped container gets its links when it starts', async () => {
  assert.is((await gear(A, ['stop', 'lk-a'])).code, 0);
  const r = await gear(A, ['link', '-n', `127.0.0.2:8081:${ipB}:${portB}`, 'lk-a']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /stored \(applied when it starts\)/);
  assert.is((await gear(A, ['start', 'lk-a'])).code, 0);
  assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-b');
  // And --clear takes them away again, at once.
  assert.is((await gear(A, ['link', '--clear', 'lk-a'])).code, 0);
  assert.is(await inside(A, 'lk-a', 'http://127.0.0.2:8081/'), undefined);
});

/** A refused command: exit 1, one error line, nothing changed on the host. */
async function refused(args: string[], pattern: RegExp): Promise<void> {
  const before = await stateListing(A);
  const r = await gear(A, args);
  assert.is(r.code, 1, `${JSON.stringify(args)} should fail: ${r.stdout}`);
  assert.is(r.stderr.split('\n').filter((l) => l.startsWith('gear:')).length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.is(await stateListing(A), before, `${JSON.stringify(args)} changed the host`);
}

test('bad link specs are refused and change nothing', async () => {
  await refused(['link', '-n', '127.0.0.1:99999:x:1', 'lk-a'], /FROM_PORT "99999" is not a port number/);
  await refused(['link', '-n', `127.0.0.2:8081:${ipB}:0`, 'lk-a'], /TO_PORT/);
  await refused(['link', '-n', '127.0.0.2:8081:a b:1', 'lk-a'], /TO_HOST/);
  await refused(['link', '-n', '127.0.0.2:8081:x\n-A OUTPUT -j DROP:1', 'lk-a'], /TO_HOST/);
  await refused(['link', '-n', '127.0.0.2:8081:$(reboot):1', 'lk-a'], /TO_HOST/);
  await refused(['link', '-n', 'evil host:8081:x:1', 'lk-a'], /FROM_IP/);
  await refused(['link', '-n', '127.0.0.2:8081:127.0.0.1:80', 'lk-a'], /loopback/);
  await refused(['link', '-n', '8081', 'lk-a'], /must look like/);
  await refused(['link', 'lk-a'], /at least one link/);
  await refused(['link', '-n', '127.0.0.2:8081:x:1', 'ghost'], /ghost is not installed/);
  await refused(['install', 'test/web', 'lk-bad', '-n', '127.0.0.2:8081:x y:1'], /TO_HOST/);
  await refused(['install', 'test/web', 'lk-bad', '-n', '127.0.0.2:80:x:1', '-n', '127.0.0.2:80:x:1'], /127.0.0.2:80 is linked twice to x:1/);
});

test('HTTP: POST /containers/links and NetworkLinks in install, as in the seed; bad bodies get 400', async () => {
  await startAgent(A);
  try {
    const api = ['--unix-socket', '/run/gear/gear.sock'];
    const json = ['-H', 'Content-Type: application/json'];
    const body = JSON.stringify({ Links: [{ Id: 'lk-a', NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 8081, ToHost: ipC, ToPort: portC }] }] });
    const r = await curl(A, [...api, '-X', 'POST', 'http://agent/containers/links', ...json, '-d', body]);
    assert.is(r.status, 204, r.body);
    assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c');
    const withJson = await curl(A, [...api, '-X', 'POST', 'http://agent/containers/links', ...json, '-H', 'Accept: application/json', '-d', body]);
    assert.equal(JSON.parse(withJson.body).Links[0].Applied, true);
    const install = JSON.stringify({ Image: 'test/web', Started: true, NetworkLinks: [{ FromPort: 5432, ToHost: ipB, ToPort: portB }] });
    const i = await curl(A, [...api, '-X', 'PUT', 'http://agent/container/lk-api', ...json, '-d', install]);
    assert.is(i.status, 204, i.body);
    assert.is(await greeting(A, 'lk-api', 'http://127.0.0.1:5432/cgi-bin/env'), 'from-b', 'FromHost defaults to 127.0.0.1');
    const before = await stateListing(A);
    for (const [bad, status, message] of [
      [{ Links: [{ Id: 'lk-a', NetworkLinks: [{ FromPort: 8081, ToHost: 'a\nb', ToPort: 1 }] }] }, 400, /ToHost/],
      [{ Links: [{ Id: 'lk-a', NetworkLinks: [{ FromPort: 99999, ToHost: 'x', ToPort: 1 }] }] }, 400, /FromPort/],
      [{ Links: [{ Id: 'lk-a', NetworkLinks: [{ FromPort: 1, ToHost: 'x', ToPort: 1, Extra: 1 }] }] }, 400, /unknown field/],
      [{ Links: [{ Id: 'lk-a', NetworkLinks: [] }, { Id: 'ghost', NetworkLinks: [] }] }, 404, /ghost is not installed/],
      [{ Links: [] }, 400, /Links/],
    ] as const) {
      const res = await curl(A, [...api, '-X', 'POST', 'http://agent/containers/links', ...json, '-d', JSON.stringify(bad)]);
      assert.is(res.status, status, res.body);
      assert.match(JSON.parse(res.body).Message, message);
    }
    assert.is(await stateListing(A), before, 'refused requests changed nothing (not even lk-a before ghost)');
    assert.is(await greeting(A, 'lk-a', 'http://127.0.0.2:8081/cgi-bin/env'), 'from-c');
  } finally {
    await stopAgent(A);
  }
});

test('delete removes the links with the container', async () => {
  const r = await gear(A, ['delete', 'lk-a', 'lk-api', 'lk-plain', 'lk-local']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(A, 'ls /var/lib/gear/links/ 2>/dev/null | grep ^lk- || true')).trim(), '');
  assert.is((await gear(B, ['delete', 'lk-b'])).code, 0);
  assert.is((await gear(C, ['delete', 'lk-c'])).code, 0);
});

test.run();
