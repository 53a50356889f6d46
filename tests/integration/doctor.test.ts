import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, curl, gear, hostIp, remoteAgents, sh } from './harness.js';

// gear doctor on real hosts: each check is broken on a host by the test
// (/ made private, a world-readable token file, Docker stopped, an open
// state directory) and restored after; the same checks pass on a healthy
// host. Locally in the host, and through the agents (token over TLS) from
// the machine, with the checks across hosts (clock skew, versions).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B]);
const { cli } = agents;

interface Finding {
  Check: string;
  Level: string;
  Message: string;
  Fix?: string;
}

/** A healthy host, as a real boot leaves it: systemd makes / shared at boot, but not in a test host (it boots as a container, container=other). */
const makeHealthy = (host: string) => sh(host, 'mount --make-rshared /');

// Each host's propagation of / before the test, put back after it (the files after this one see their hosts as they were).
const before: Record<string, string> = {};

test.before(async () => {
  for (const h of [A, B]) {
    before[h] = (await sh(h, 'findmnt -no PROPAGATION /')).trim();
    await makeHealthy(h);
  }
  // A container with an environment (its file holds a secret: 0600): the state directory is what gear made.
  const r = await gear(A, ['install', 'test/web', 'doc-1', '-e', 'SECRET=s3cret']);
  assert.is(r.code, 0, r.stderr);
  await agents.start();
});

test.after(async () => {
  await gear(A, ['delete', 'doc-1']);
  await agents.stop();
  for (const h of [A, B]) if (before[h] === 'private') await sh(h, 'mount --make-rprivate /');
});

const levels = (findings: Finding[]) => Object.fromEntries(findings.map((f) => [f.Check, f.Level]));
const finding = (findings: Finding[], check: string) => findings.find((f) => f.Check === check)!;

const remote = async (...hosts: string[]) => {
  const r = await cli(['doctor', ...hosts, '--json']);
  return { code: r.code, stderr: r.stderr, json: JSON.parse(r.stdout || '{}') as { Hosts: Record<string, { Version: string; Time: number; Findings: Finding[] }>; Across: Finding[] } };
};

const local = async (host: string) => {
  const r = await gear(host, ['doctor', '--json']);
  return { code: r.code, findings: (JSON.parse(r.stdout).Hosts.local.Findings as Finding[]), stderr: r.stderr };
};

test('a healthy host: every check passes (the test host waits for no network: a warning), exit 0, locally and through agents', async () => {
  const text = await gear(A, ['doctor']);
  assert.is(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^local:\n  ok      systemd +systemd [0-9]+/);
  assert.match(text.stdout, /\n0 errors, 1 warnings, 9 ok\n$/);
  const l = await local(A);
  assert.equal(levels(l.findings), {
    systemd: 'ok',
    cgroup: 'ok',
    runtime: 'ok',
    docker: 'ok',
    iptables: 'ok',
    'network-online': 'warning',
    'mount-propagation': 'ok',
    'state-dir': 'ok',
    'token-file': 'ok',
    selinux: 'ok',
  });
  // gear makes it 0700 or 0755, depending on which of its directories came first.
  assert.match(finding(l.findings, 'state-dir').Message, /^\/var\/lib\/gear is root's, mode 07[05][05]; environment files 0600$/);
  assert.match(finding(l.findings, 'runtime').Message, /^containers run with docker: \/\S*\/docker$/);
  assert.match(finding(l.findings, 'docker').Message, /^Docker [0-9.]+\S* \(API [0-9.]+\) reachable$/);
  assert.match(finding(l.findings, 'iptables').Message, /^iptables 1\.8\.[0-9]+, (nf_tables|legacy) backend/);
  assert.match(finding(l.findings, 'network-online').Fix!, /systemctl enable systemd-networkd-wait-online\.service/);
  const r = await remote(ipA, ipB);
  assert.is(r.code, 0, r.stderr);
  assert.equal(Object.keys(r.json.Hosts), [ipA, ipB]);
  assert.is(levels(r.json.Hosts[ipA]!.Findings)['token-file'], 'ok');
  assert.match(finding(r.json.Hosts[ipA]!.Findings, 'token-file').Message, /^token file \/root\/gear\.token is root's, mode 0600$/);
  assert.equal(levels(r.json.Across), { 'clock-skew': 'ok', 'agent-versions': 'ok' });
  assert.match(finding(r.json.Across, 'agent-versions').Message, /^every agent runs gear \S+$/);
});

test('/ made private in host A: an error with the fix, exit 1; B stays healthy', async () => {
  await sh(A, 'mount --make-private /');
  try {
    const text = await gear(A, ['doctor']);
    assert.is(text.code, 1);
    assert.match(text.stdout, /\n  error   mount-propagation \/ is a private mount: .*\n +fix: make it shared: mount --make-rshared \/ /);
    assert.match(text.stdout, /\n1 errors, 1 warnings, 8 ok\n$/);
    const r = await remote(ipA, ipB);
    assert.is(r.code, 1);
    assert.is(levels(r.json.Hosts[ipA]!.Findings)['mount-propagation'], 'error');
    assert.is(levels(r.json.Hosts[ipB]!.Findings)['mount-propagation'], 'ok');
  } finally {
    await makeHealthy(A);
  }
  assert.is((await gear(A, ['doctor'])).code, 0);
});

test("a world-readable token file: the agent's (--token-file) and the local default each an error, exit 1", async () => {
  await sh(A, 'chmod 644 /root/gear.token');
  try {
    const r = await remote(ipA);
    assert.is(r.code, 1);
    const t = finding(r.json.Hosts[ipA]!.Findings, 'token-file');
    assert.is(t.Level, 'error');
    assert.is(t.Message, 'token file /root/gear.token has mode 0644: others can read the token');
    assert.match(t.Fix!, /^chmod 600 \/root\/gear\.token, and change the token/);
  } finally {
    await sh(A, 'chmod 600 /root/gear.token');
  }
  assert.is((await remote(ipA)).code, 0);
  // Locally, gear doctor checks the agent's own token file (STATE_DIR/token).
  // An agent of an earlier test file may have made one: kept aside (mode and all), put back after.
  await sh(A, 'rm -f /root/token.saved; [ ! -e /var/lib/gear/token ] || mv /var/lib/gear/token /root/token.saved');
  await sh(A, 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n" > /var/lib/gear/token && chmod 644 /var/lib/gear/token');
  try {
    const l = await local(A);
    assert.is(l.code, 1);
    assert.equal(finding(l.findings, 'token-file'), {
      Check: 'token-file',
      Level: 'error',
      Message: 'token file /var/lib/gear/token has mode 0644: others can read the token',
      Fix: 'chmod 600 /var/lib/gear/token, and change the token: it may have been read',
    });
  } finally {
    await sh(A, 'rm -f /var/lib/gear/token; [ ! -e /root/token.saved ] || mv /root/token.saved /var/lib/gear/token');
  }
});

test('Docker stopped on host B: an error saying how to start it, exit 1 (A fine); passes again once Docker runs', async () => {
  // The socket too: a connection to docker.socket would start Docker again.
  await sh(B, 'systemctl stop docker.socket docker.service');
  try {
    const r = await remote(ipA, ipB);
    assert.is(r.code, 1);
    const d = finding(r.json.Hosts[ipB]!.Findings, 'docker');
    assert.is(d.Level, 'error');
    assert.match(d.Message, /^Docker is not reachable: /);
    assert.match(d.Fix!, /^start it: systemctl start docker\.service/);
    assert.is(levels(r.json.Hosts[ipA]!.Findings).docker, 'ok');
    const l = await local(B);
    assert.is(l.code, 1);
    assert.is(finding(l.findings, 'docker').Level, 'error');
  } finally {
    await sh(B, 'systemctl start docker.socket docker.service');
  }
  assert.is((await remote(ipB)).code, 0);
});

test('a state directory others can write, and an env file others can read: errors', async () => {
  const mode = (await sh(A, 'stat -c %a /var/lib/gear')).trim();
  await sh(A, 'chmod 777 /var/lib/gear');
  try {
    const l = await local(A);
    assert.is(l.code, 1);
    assert.equal(finding(l.findings, 'state-dir'), { Check: 'state-dir', Level: 'error', Message: "/var/lib/gear has mode 0777: others can change gear's state", Fix: 'chmod go-w /var/lib/gear' });
  } finally {
    await sh(A, `chmod ${mode} /var/lib/gear`);
  }
  await sh(A, 'mkdir -p /var/lib/gear/env && echo A=1 > /var/lib/gear/env/doc-open.env && chmod 644 /var/lib/gear/env/doc-open.env');
  try {
    const l = await local(A);
    assert.is(l.code, 1);
    assert.is(finding(l.findings, 'state-dir').Message, 'environment files readable by others: doc-open.env (0644)');
  } finally {
    await sh(A, 'rm -f /var/lib/gear/env/doc-open.env');
  }
  assert.is((await local(A)).code, 0);
});

test('GET /doctor over the API: JSON with the token, 401 without, 400 for an unknown query field; a bad host name on the CLI is one line, exit 1', async () => {
  const auth = ['--cacert', '/root/gear-cert.pem', '-H', `Authorization: Bearer ${agents.token}`];
  const ok = await curl(A, [...auth, '-H', 'Accept: application/json', `https://${ipA}:43273/doctor`]);
  assert.is(ok.status, 200, ok.body);
  const body = JSON.parse(ok.body);
  assert.type(body.Time, 'number');
  assert.ok(body.Findings.length >= 9);
  const text = await curl(A, [...auth, '-H', 'Accept: text/plain', `https://${ipA}:43273/doctor`]);
  assert.match(text.body, /^this host:\n  ok      systemd/);
  const noToken = await curl(A, ['--cacert', '/root/gear-cert.pem', `https://${ipA}:43273/doctor`]);
  assert.is(noToken.status, 401);
  const bad = await curl(A, [...auth, `https://${ipA}:43273/doctor?x=1`]);
  assert.is(bad.status, 400);
  assert.match(JSON.parse(bad.body).Message, /^invalid request: query/);
  const r = await cli(['doctor', 'no host!']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test.run();
