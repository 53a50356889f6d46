import { createHmac } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TEST_HOST as H, curl, eventually, gear, run, sh, startAgent, stopAgent, journalMatching } from './harness.js';

/**
 * Job callbacks on a real agent: a small HTTP receiver in the test host
 * records what the agent POSTs; the test checks the signature with the
 * shared secret, the fields, and that a callback nobody answers is logged
 * and retried without failing the job or showing the secret anywhere.
 */

const SECRET = 'cb-secret-for-the-test-0123456789';
const RECEIVED = '/tmp/callbacks.jsonl';
const HOOK = 'http://127.0.0.1:7070/hook?key=receivers-own';
// Records each request (headers and body) as a JSON line; answers 204.
const receiver = (port: number) =>
  `require('http').createServer((q,s)=>{let b='';q.on('data',d=>b+=d);q.on('end',()=>{require('fs').appendFileSync('${RECEIVED}',JSON.stringify({h:q.headers,b,u:q.url})+'\\n');s.writeHead(204).end()})}).listen(${port},'127.0.0.1')`;
const OUTBOX = '/var/lib/gear/callbacks';

interface Got {
  h: Record<string, string>;
  b: string;
  u: string;
}
const received = async (): Promise<Got[]> =>
  (await sh(H, `cat ${RECEIVED} 2>/dev/null; true`))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Got);

test('setup: the secret in a root-only file, the agent started with it, a receiver listening', async () => {
  await sh(H, `install -d -m 700 /etc/gear && (umask 077 && printf %s '${SECRET}' > /etc/gear/callback-secret) && rm -f ${RECEIVED}`);
  await sh(H, `systemd-run --unit=cb-receiver ${REPO}/node_modules/.bin/node -e "${receiver(7070)}" >/dev/null`);
  assert.ok(await eventually(async () => (await run(H, ['sh', '-c', 'ss -ltn | grep -q 127.0.0.1:7070'])).code === 0, 60_000));
  await startAgent(H, ['--callback-secret-file', '/etc/gear/callback-secret']);
});

test('an install through the API and one through the CLI (--callback) each call back once, signed with the shared secret', async () => {
  const api = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', 'http://agent/container/cb-1', '-d', JSON.stringify({ Image: 'test/web', Callback: HOOK })]);
  assert.is(api.status, 204, api.body);
  const cli = await gear(H, ['--token-file', '/var/lib/gear/token', 'install', 'test/web', '127.0.0.1/cb-2', '--callback', HOOK]);
  assert.is(cli.code, 0, cli.stderr);
  const got = await eventually(async () => ((await received()).length >= 2 ? received() : undefined), 90_000);
  assert.ok(got, 'two callbacks arrived');
  assert.is((got as Got[]).length, 2);
  const bodies = (got as Got[]).map((g) => {
    assert.is(g.h['x-gear-signature'], `sha256=${createHmac('sha256', SECRET).update(g.b).digest('hex')}`);
    assert.is(g.h['content-type'], 'application/json');
    assert.is(g.u, '/hook?key=receivers-own');
    const b = JSON.parse(g.b) as { JobId: string; Operation: string; Container: string; Result: string };
    assert.match(b.JobId, /^[0-9a-f-]{36}$/);
    return { ...b, JobId: 'x' };
  });
  assert.equal(bodies.sort((a, b) => a.Container.localeCompare(b.Container)), [
    { JobId: 'x', Operation: 'install', Container: 'cb-1', Result: 'ok' },
    { JobId: 'x', Operation: 'install', Container: 'cb-2', Result: 'ok' },
  ]);
});

test('a callback nobody answers is logged and retried, gives up, and the install still succeeded; the secret is in no log or process argument', async () => {
  const r = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', 'http://agent/container/cb-3', '-d', JSON.stringify({ Image: 'test/web', Callback: 'http://127.0.0.1:7071/nobody?key=receivers-own' })]);
  assert.is(r.status, 204, r.body);
  assert.is((await sh(H, 'test -f /var/lib/gear/containers/cb-3.json && echo installed')).trim(), 'installed');
  const journal = () => sh(H, 'journalctl -u gear-agent --no-pager -o cat');
  const gaveUp = await eventually(async () => /to http:\/\/127\.0\.0\.1:7071\/nobody failed \(try 4 of 4\): ECONNREFUSED; giving up/.test(await journal()), 90_000, 500);
  const log = await journal();
  assert.ok(gaveUp, log);
  assert.match(log, /to http:\/\/127\.0\.0\.1:7071\/nobody failed \(try 1 of 4\): ECONNREFUSED$/m);
  assert.not.match(log, /receivers-own|cb-secret/);
  // The pattern is written so that the grep's own arguments do not hold the secret.
  assert.is((await sh(H, `grep -l '${SECRET.slice(0, -1)}[${SECRET.slice(-1)}]' /proc/[0-9]*/cmdline 2>/dev/null; true`)).trim(), '');
});

const startWithSecret = () => startAgent(H, ['--callback-secret-file', '/etc/gear/callback-secret']);
const bodyOf = (g: Got) => JSON.parse(g.b) as { JobId: string; Operation: string; Container: string; Result: string; Error?: string };
const forContainer = async (name: string) => (await received()).filter((g) => bodyOf(g).Container === name);

test('a callback owed when the agent restarts (its receiver was down) is kept, 0600, and sent by the next agent', async () => {
  const r = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', 'http://agent/container/cb-5', '-d', JSON.stringify({ Image: 'test/web', Callback: 'http://127.0.0.1:7072/late?key=receivers-own' })]);
  assert.is(r.status, 204, r.body);
  const journal = () => sh(H, 'journalctl -u gear-agent --no-pager -o cat');
  assert.ok(await eventually(async () => /to http:\/\/127\.0\.0\.1:7072\/late failed \(try 1 of 4\)/.test(await journal()), 60_000, 200), await journal());
  // Recorded with its outcome, readable by root only.
  const record = (await sh(H, `stat -c '%a %U' ${OUTBOX}/*.json && cat ${OUTBOX}/*.json`)).split('\n');
  assert.is(record[0], '600 root');
  const owed = JSON.parse(record[1] ?? '') as { Url: string; Payload: { JobId: string; Result: string } };
  assert.is(owed.Payload.Result, 'ok');
  // A stop ends the retries and keeps what is owed (it used to retry to the end, then drop it).
  await stopAgent(H);
  // Written as the agent exits: it may reach the journal after systemctl stop returned.
  assert.match(await journalMatching(H, '-u gear-agent -o cat', /callbacks: 1 not yet delivered, kept for the next start/), /callbacks: 1 not yet delivered, kept for the next start/);
  assert.not.match(await journal(), /7072\/late failed \(try 4 of 4\)/);
  assert.is((await sh(H, `ls ${OUTBOX} | wc -l`)).trim(), '1');
  await sh(H, `systemd-run --unit=cb-receiver-late ${REPO}/node_modules/.bin/node -e "${receiver(7072)}" >/dev/null`);
  assert.ok(await eventually(async () => (await run(H, ['sh', '-c', 'ss -ltn | grep -q 127.0.0.1:7072'])).code === 0, 60_000));
  await startWithSecret();
  const got = await eventually(async () => ((await forContainer('cb-5')).length ? forContainer('cb-5') : undefined), 90_000);
  assert.ok(got, `the owed callback arrived: ${await journal()}`);
  const late = (got as Got[])[0] as Got;
  assert.is(late.u, '/late?key=receivers-own');
  assert.is(late.h['x-gear-signature'], `sha256=${createHmac('sha256', SECRET).update(late.b).digest('hex')}`);
  assert.equal(bodyOf(late), { JobId: owed.Payload.JobId, Operation: 'install', Container: 'cb-5', Result: 'ok' });
  assert.match(await journal(), /callbacks: sending 1 owed from before this start/);
  assert.ok(await eventually(async () => (await sh(H, `ls -A ${OUTBOX}`)).trim() === '', 60_000), 'the outbox is empty once delivered');
});

test('a job the agent never finished (killed mid-install) is called back as failed by the next agent, saying why', async () => {
  // The install's start waits for a health check that cannot pass: the job is still running when the agent is killed.
  const body = { Image: 'test/web', Started: true, Health: { Cmd: 'false', Interval: '1s', StartPeriod: '10m' }, Callback: HOOK };
  await sh(H, `(curl -s --unix-socket /run/gear/gear.sock -X PUT -H 'Content-Type: application/json' http://agent/container/cb-6 -d '${JSON.stringify(body)}' >/dev/null 2>&1 &)`);
  assert.ok(await eventually(async () => (await sh(H, 'systemctl is-active ctr-cb-6.service; true')).trim() === 'activating', 60_000), 'the install is starting the container');
  assert.is((await sh(H, `ls ${OUTBOX} | wc -l`)).trim(), '1', 'the callback owed is recorded before the job runs');
  await sh(H, 'systemctl kill -s KILL gear-agent; true');
  await startWithSecret();
  const got = await eventually(async () => ((await forContainer('cb-6')).length ? forContainer('cb-6') : undefined), 90_000);
  assert.ok(got, 'a callback for the interrupted job arrived');
  const b = bodyOf((got as Got[])[0] as Got);
  assert.is(b.Result, 'failed');
  assert.is(b.Operation, 'install');
  assert.match(b.Error ?? '', /the agent stopped before this job ended/);
  assert.ok(await eventually(async () => (await sh(H, `ls -A ${OUTBOX}`)).trim() === '', 60_000), 'the outbox is empty once delivered');
  assert.is((await gear(H, ['delete', 'cb-6'])).code, 0);
});

test('an agent without a secret refuses a Callback (400, nothing installed)', async () => {
  await startAgent(H);
  const r = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', 'http://agent/container/cb-4', '-d', JSON.stringify({ Image: 'test/web', Callback: HOOK })]);
  assert.is(r.status, 400);
  assert.match(r.body, /Callback: this agent has no callback secret/);
  assert.is((await sh(H, 'test -f /var/lib/gear/containers/cb-4.json && echo installed; true')).trim(), '');
});

test('teardown', async () => {
  await stopAgent(H);
  await sh(H, `systemctl stop cb-receiver cb-receiver-late; rm -rf /etc/gear ${RECEIVED} ${OUTBOX}; true`);
  assert.is((await gear(H, ['delete', 'cb-1', 'cb-2', 'cb-3', 'cb-5'])).code, 0);
});

test.run();
