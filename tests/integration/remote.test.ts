import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, eventually, hostIp, httpGet, httpsRequest, remoteAgents, sh } from './harness.js';

// Servers are named as the user named them (with a port only when given).
// Two hosts, each with its own agent listening on its network address with a
// token, over TLS; the CLI runs on the machine, as a remote client would,
// trusting the agents' certificate (GEAR_CA).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const agents = remoteAgents([A, B]);
const { cli, token: TOKEN } = agents;
const ipA = hostIp(A);
const ipB = hostIp(B);

test.before(() => agents.start());
test.after(() => agents.stop());

test('an agent refuses to listen beyond loopback without TLS, or with a readable token file', async () => {
  const r = await sh(A, `${GEAR} daemon --listen 0.0.0.0:43999 --no-socket 2>&1; echo "exit $?"`);
  assert.match(r, /refusing to listen on 0.0.0.0:43999 without TLS/);
  assert.match(r, /exit 1/);
  const loose = await sh(A, `echo ${TOKEN} > /root/loose.token; chmod 644 /root/loose.token; ${GEAR} daemon --listen 0.0.0.0:43999 --no-socket --token-file /root/loose.token --insecure-plaintext 2>&1; echo "exit $?"`);
  assert.match(loose, /must not be readable by group or others/);
});

test('auth: no token and a wrong token get 401, the right one works', async () => {
  const url = `https://${ipA}:43273/containers`;
  const ca = readFileSync(agents.ca, 'utf8');
  assert.is((await httpsRequest(url, { ca })).status, 401);
  assert.is((await httpsRequest(url, { ca, headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  const ok = await httpsRequest(url, { ca, headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.is(ok.status, 200);
  const denied = await cli(['list-units', ipA], { GEAR_TOKEN_FILE: '' });
  assert.is(denied.code, 1);
  assert.match(denied.stderr, /wants a token/);
});

test('install on two hosts in one command; each container answers on its host', async () => {
  const r = await cli(['install', 'test/web', `${ipA}/web-1`, `${ipB}/web-2`, '--start', '-p', '8080:0']);
  assert.is(r.code, 0, r.stderr);
  const portA = Number(new RegExp(`${ipA.replace(/\./g, '\\.')}/web-1 installed and started \\(8080 -> (\\d+)\\)`).exec(r.stdout)?.[1]);
  const portB = Number(new RegExp(`${ipB.replace(/\./g, '\\.')}/web-2 installed and started \\(8080 -> (\\d+)\\)`).exec(r.stdout)?.[1]);
  assert.ok(portA && portB, r.stdout);
  assert.ok(await eventually(() => httpGet(`http://${ipA}:${portA}/`)), 'web-1 answers on A');
  assert.ok(await eventually(() => httpGet(`http://${ipB}:${portB}/`)), 'web-2 answers on B');
  assert.is((await sh(A, 'systemctl is-active ctr-web-1')).trim(), 'active');
  assert.is((await sh(B, 'systemctl is-active ctr-web-2')).trim(), 'active');
  assert.is((await sh(A, 'systemctl is-active ctr-web-2 || true')).trim(), 'inactive', 'web-2 is not on A');
});

test('list-units on both hosts: one table with a SERVER column; --json too', async () => {
  const r = await cli(['list-units', ipA, `${ipB}:43273`]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^SERVER\s+ID\s+ACTIVE\s+SUB\s+LOAD$/m);
  assert.match(r.stdout, new RegExp(`^${ipA}\\s+web-1\\s+active\\s+running\\s+loaded$`, 'm'));
  assert.match(r.stdout, new RegExp(`^${ipB}:43273\\s+web-2\\s+active\\s+running\\s+loaded$`, 'm'));
  const json = JSON.parse((await cli(['list-units', ipA, ipB, '--json'])).stdout);
  assert.equal(json.Containers.map((c: { Server: string; Id: string }) => `${c.Server} ${c.Id}`).sort(), [`${ipA} web-1`, `${ipB} web-2`]);
});

test('stop one remote container; status and errors name the host', async () => {
  const stop = await cli(['stop', `${ipB}:43273/web-2`]);
  assert.is(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /web-2 stopped \(inactive\/dead\)/);
  assert.is((await sh(B, 'systemctl is-active ctr-web-2 || true')).trim(), 'inactive');
  assert.is((await sh(A, 'systemctl is-active ctr-web-1')).trim(), 'active', 'A untouched');
  const status = JSON.parse((await cli(['status', `${ipA}/web-1`, '--json'])).stdout);
  assert.is(status.Unit.ActiveState, 'active');
  assert.is(status.Server, ipA);
  const missing = await cli(['start', `${ipA}/web-1`, `${ipB}/ghost`]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`^gear: ${ipB}/ghost: container ghost is not installed$`, 'm'));
  const unreachable = await cli(['list-units', '10.250.0.254:43273']);
  assert.is(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the agent at 10.250.0.254:43273/);
});

test("an agent's end of the connection gone without a word (its RST lost): the waiting CLI finds out, retries, and ends", async () => {
  // gone-1's start waits in its health gate until /tmp/ok exists in it.
  const inst = await cli(['install', 'test/web', `${ipA}/gone-1`, '--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-start-period', '10m']);
  assert.is(inst.code, 0, inst.stderr);
  const start = cli(['start', `${ipA}/gone-1`], {}, 240_000);
  assert.ok(await eventually(async () => (await sh(A, 'systemctl is-active ctr-gone-1.service; true')).trim() === 'activating', 120_000, 250), 'the start waits');
  // A's kernel forgets the CLI's connection (ss -K), its RST dropped on the way out: as when a host
  // reboots or a network loses its packets. The CLI's side stays open, waiting for an answer.
  await sh(A, `iptables -I OUTPUT -p tcp --sport 43273 -d 10.250.0.1 -j DROP
    ss -K -tn state established '( sport = :43273 and dst 10.250.0.1 )' | grep -q ':43273 '; killed=$?
    iptables -D OUTPUT -p tcp --sport 43273 -d 10.250.0.1 -j DROP
    [ $killed = 0 ] || { echo "no connection of the CLI to forget" >&2; exit 1; }
    docker exec ctr-gone-1 touch /tmp/ok`);
  // Without keepalive it waited forever (killed by the harness: -1); with it, the refused probe fails
  // the request, and its one retry (same request id) gets the answer the agent kept.
  const r = await start;
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /gone-1/);
  assert.is((await sh(A, 'systemctl is-active ctr-gone-1.service; true')).trim(), 'active');
  assert.is((await cli(['delete', `${ipA}/gone-1`])).code, 0);
});

test('clean up', async () => {
  const r = await cli(['delete', `${ipA}/web-1`, `${ipB}/web-2`]);
  assert.is(r.code, 0, r.stderr);
});

test.run();
