import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseExposition, valueOf, type Family } from '../fixtures/exposition.js';
import { TEST_HOST as A, eventually, hostIp, httpsRequest, remoteAgents, sh } from './harness.js';

// GET /metrics on real agents (token over TLS), scraped from the machine and
// read by a strict parser of the exposition format (tests/fixtures/
// exposition.ts); its values follow what the test does: install, kill (systemd
// restarts the container), restart, link, a failed start, an image transfer.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B], 'metrics-token-0123456789abcdef');
const { cli } = agents;

test.before(async () => {
  await agents.start();
  // An image of A's own (a layer B lacks), to send to B.
  await sh(A, "rm -rf /root/met && mkdir /root/met && printf 'FROM test/web\\nRUN head -c 300000 /dev/urandom > /noise\\n' > /root/met/Dockerfile && docker build -q -t met/app:1 /root/met >/dev/null");
  await sh(B, 'docker rmi -f met/app:1 >/dev/null 2>&1; true');
});

test.after(async () => {
  await cli(['delete', `${ipA}/met-1`, `${ipA}/met-2`]);
  await agents.stop();
});

const ca = () => readFileSync(agents.ca);

/** GET /metrics from the machine, as a Prometheus server would scrape it. */
function scrape(ip: string, token = agents.token): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`https://${ip}:43273/metrics`, { ca: ca(), headers: { Authorization: `Bearer ${token}` }, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A scrape of `ip`, parsed strictly (a violation fails the test with the parser's reason). */
async function metrics(ip: string): Promise<Map<string, Family>> {
  const r = await scrape(ip);
  assert.is(r.status, 200, r.body);
  assert.is(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.body);
}

const ops = (m: Map<string, Family>, operation: string, result = 'ok') => valueOf(m, 'gear_operations_total', { operation, result }) ?? 0;

test('without the token: 401, nothing served; with it: every family typed and documented', async () => {
  const no = await httpsRequest(`https://${ipA}:43273/metrics`, { ca: ca().toString() });
  assert.is(no.status, 401);
  assert.not.match(no.body, /gear_/);
  assert.is((await scrape(ipA, 'wrong-token-0123456789abcdef')).status, 401);
  const m = await metrics(ipA);
  const types = Object.fromEntries([...m.values()].map((f) => [f.name, f.type]));
  assert.equal(types, {
    gear_containers: 'gauge',
    gear_containers_installed: 'gauge',
    gear_container_restarts_total: 'counter',
    gear_operations_total: 'counter',
    gear_operation_duration_seconds: 'histogram',
    gear_jobs_running: 'gauge',
    gear_jobs_waiting: 'gauge',
    gear_jobs_limit: 'gauge',
    gear_link_rules: 'gauge',
    gear_linked_containers: 'gauge',
    gear_image_transfer_bytes_total: 'counter',
    gear_image_transfers_total: 'counter',
  });
  for (const f of m.values()) assert.ok(f.help && f.help.length > 10, `${f.name} has its HELP`);
  for (const s of ['active', 'activating', 'deactivating', 'failed', 'inactive', 'reloading']) assert.type(valueOf(m, 'gear_containers', { state: s }), 'number');
  assert.is(valueOf(m, 'gear_jobs_waiting'), 0);
  assert.is(valueOf(m, 'gear_jobs_limit', { kind: 'running' }), 32);
});

test('install, kill, restart, link, a failed start: the counts and states follow', async () => {
  const m0 = await metrics(ipA);
  const installed0 = valueOf(m0, 'gear_containers_installed')!;
  const active0 = valueOf(m0, 'gear_containers', { state: 'active' })!;
  const r = await cli(['install', 'test/web', `${ipA}/met-1`, '--start']);
  assert.is(r.code, 0, r.stderr);
  const m1 = await metrics(ipA);
  assert.is(valueOf(m1, 'gear_containers_installed'), installed0 + 1);
  assert.is(valueOf(m1, 'gear_containers', { state: 'active' }), active0 + 1);
  assert.is(ops(m1, 'install'), ops(m0, 'install') + 1);
  assert.is(valueOf(m1, 'gear_operation_duration_seconds_count', { operation: 'install' }), ops(m1, 'install'));
  assert.ok(valueOf(m1, 'gear_operation_duration_seconds_sum', { operation: 'install' })! > 0);
  assert.is(valueOf(m1, 'gear_container_restarts_total', { container: 'met-1' }), 0);

  // Killed behind gear's back: systemd restarts it (Restart=on-failure), and NRestarts says so.
  await sh(A, 'docker kill ctr-met-1 >/dev/null');
  const restarted = await eventually(async () => {
    const m = await metrics(ipA);
    return (valueOf(m, 'gear_container_restarts_total', { container: 'met-1' }) ?? 0) >= 1 && valueOf(m, 'gear_containers', { state: 'active' }) === active0 + 1 && m;
  }, 60_000, 500);
  assert.ok(restarted, 'the kill shows as a restart, and the container active again');

  assert.is((await cli(['restart', `${ipA}/met-1`])).code, 0);
  const missing = await cli(['start', `${ipA}/met-absent`]);
  assert.is(missing.code, 1);
  assert.is((await cli(['link', '-n', `127.0.0.2:8081:${ipB}:8080,127.0.0.3:8082:${ipB}:8080`, `${ipA}/met-1`])).code, 0);
  const m2 = await metrics(ipA);
  assert.is(ops(m2, 'restart'), ops(m1, 'restart') + 1);
  assert.is(ops(m2, 'start', 'error'), ops(m1, 'start', 'error') + 1);
  assert.is(ops(m2, 'link'), ops(m1, 'link') + 1);
  assert.is(valueOf(m2, 'gear_link_rules'), 2);
  assert.is(valueOf(m2, 'gear_linked_containers'), 1);

  // Installed, not started: counted as installed; deleted: gone from every count.
  assert.is((await cli(['install', 'test/web', `${ipA}/met-2`])).code, 0);
  assert.is(valueOf(await metrics(ipA), 'gear_containers_installed'), installed0 + 2);
  assert.is((await cli(['delete', `${ipA}/met-1`, `${ipA}/met-2`])).code, 0);
  const m3 = await metrics(ipA);
  assert.is(valueOf(m3, 'gear_containers_installed'), installed0);
  assert.is(valueOf(m3, 'gear_containers', { state: 'active' }), active0);
  assert.is(valueOf(m3, 'gear_container_restarts_total', { container: 'met-1' }), undefined);
  assert.is(valueOf(m3, 'gear_link_rules'), 0);
  assert.is(ops(m3, 'delete'), ops(m2, 'delete') + 2);
});

test('an image sent from A to B: A counts the bytes sent, B the same bytes received', async () => {
  const [a0, b0] = [await metrics(ipA), await metrics(ipB)];
  const r = await cli(['push-image', '--from', ipA, 'met/app:1', ipB]);
  assert.is(r.code, 0, r.stderr);
  const [a1, b1] = [await metrics(ipA), await metrics(ipB)];
  const sent = valueOf(a1, 'gear_image_transfer_bytes_total', { direction: 'sent' })! - valueOf(a0, 'gear_image_transfer_bytes_total', { direction: 'sent' })!;
  const received = valueOf(b1, 'gear_image_transfer_bytes_total', { direction: 'received' })! - valueOf(b0, 'gear_image_transfer_bytes_total', { direction: 'received' })!;
  assert.ok(sent > 300_000, `sent ${sent} bytes: the 300 kB layer at least`);
  assert.is(received, sent);
  assert.is(valueOf(a1, 'gear_image_transfers_total', { direction: 'sent', result: 'ok' }), valueOf(a0, 'gear_image_transfers_total', { direction: 'sent', result: 'ok' })! + 1);
  assert.is(valueOf(b1, 'gear_image_transfers_total', { direction: 'received', result: 'ok' }), valueOf(b0, 'gear_image_transfers_total', { direction: 'received', result: 'ok' })! + 1);
  assert.is(ops(b1, 'image-load'), ops(b0, 'image-load') + 1);
});

test.run();
