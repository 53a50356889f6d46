import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog, requestFingerprint } from '../../src/api/requests.js';
import { GearError } from '../../src/model/errors.js';
import { HostFs } from '../../src/host/fs.js';

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String(err);
  }
  assert.unreachable('expected a rejection');
  return '';
}

const freshIn = (root: string, log?: (l: string) => void) => new RequestLog(new HostFs(root), '/requests', log);
const fresh = () => freshIn(mkdtempSync(`${tmpdir()}/gear-req-`));
const ok = (body: string) => async () => ({ status: 200, headers: {}, body });

test('a repeat while running joins the first; a repeat after gets the same answer', async () => {
  const log = fresh();
  let runs = 0;
  const slow = async () => {
    runs++;
    await new Promise((r) => setTimeout(r, 50));
    return { status: 204, headers: { 'x-portmapping': '8080:4000' }, body: '' };
  };
  const id = 'ab'.repeat(16);
  const [a, b] = await Promise.all([log.run(id, 'PUT /container/x', slow), log.run(id, 'PUT /container/x', slow)]);
  const c = await log.run(id.toUpperCase(), 'PUT /container/x', slow);
  assert.is(runs, 1);
  assert.equal(a, b);
  assert.equal(a, c);
});

test('hex and base64url spellings of the same id are one request; other ids and reuse are refused', async () => {
  const log = fresh();
  const hex = '00112233445566778899aabbccddeeff';
  const b64 = Buffer.from(hex, 'hex').toString('base64url');
  await log.run(hex, 'GET /x', ok('first'));
  assert.equal((await log.run(b64, 'GET /x', ok('second'))).body, 'first');
  assert.match(await rejection(log.run(hex, 'DELETE /x', ok('x'))), /already used for another request/);
  assert.match(await rejection(log.run('nothex', 'GET /x', ok('x'))), /32 hexadecimal/);
});

test('failed answers are not remembered: the client may retry', async () => {
  const log = fresh();
  const id = 'cd'.repeat(16);
  await log.run(id, 'PUT /a', async () => ({ status: 500, headers: {}, body: 'x' }));
  assert.is((await log.run(id, 'PUT /a', ok('retried'))).body, 'retried');
});

test('the job queue runs at most N at once and refuses beyond its waiting room', async () => {
  const q = new JobQueue(2, 1);
  let running = 0;
  let peak = 0;
  const job = () =>
    q.run(async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
    });
  const results = await Promise.allSettled([job(), job(), job(), job()]);
  assert.is(peak, 2);
  assert.equal(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
  assert.match(String((results[3] as PromiseRejectedResult).reason), /busy/);
});

test('the fingerprint covers the body (not its key order): another body under the same id is a 409 conflict', async () => {
  const log = fresh();
  const id = 'ef'.repeat(16);
  const a = requestFingerprint('PUT', '/container/x', { Image: 'a', Ports: [{ Internal: 1 }] });
  assert.is(requestFingerprint('PUT', '/container/x', { Ports: [{ Internal: 1 }], Image: 'a' }), a);
  const b = requestFingerprint('PUT', '/container/x', { Image: 'b', Ports: [{ Internal: 1 }] });
  assert.is.not(a, b);
  assert.is.not(requestFingerprint('PUT', '/container/x?y=1', { Image: 'a', Ports: [{ Internal: 1 }] }), a);
  await log.run(id, a, ok('first'));
  try {
    await log.run(id, b, ok('second'));
    assert.unreachable('expected a conflict');
  } catch (err) {
    assert.instance(err, GearError);
    assert.is((err as GearError).kind, 'conflict');
  }
});

test('outcomes not to be stored (environment values) are not written; a container\'s are forgotten on delete', async () => {
  const root = mkdtempSync(`${tmpdir()}/gear-req-`);
  const log = freshIn(root);
  await log.run('01'.repeat(16), 'PATCH /environment/x', ok('SECRET=1'), { store: false, container: 'x' });
  assert.equal(readdirSync(root).includes('requests') ? readdirSync(`${root}/requests`) : [], []);
  await log.run('02'.repeat(16), 'PUT /container/x', ok('x'), { container: 'x' });
  await log.run('03'.repeat(16), 'PUT /container/y', ok('y'), { container: 'y' });
  await log.forget('x');
  assert.equal(readdirSync(`${root}/requests`), [`${'03'.repeat(16)}.json`]);
});

test('a corrupt record is removed and logged, at prune and when met; never fatal', async () => {
  const root = mkdtempSync(`${tmpdir()}/gear-req-`);
  mkdirSync(`${root}/requests`);
  writeFileSync(`${root}/requests/${'04'.repeat(16)}.json`, '{"fingerprint": tr');
  writeFileSync(`${root}/requests/${'05'.repeat(16)}.json`, '[]');
  const lines: string[] = [];
  const log = freshIn(root, (l) => lines.push(l));
  await log.prune();
  assert.equal(readdirSync(`${root}/requests`), []);
  assert.is(lines.length, 2);
  writeFileSync(`${root}/requests/${'06'.repeat(16)}.json`, 'garbage');
  assert.is((await log.run('06'.repeat(16), 'PUT /a', ok('ran'))).body, 'ran');
});

test.run();
