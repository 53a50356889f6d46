import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueue } from '../../src/agent/jobs.js';
import { RequestLog } from '../../src/agent/requests.js';
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

const fresh = () => new RequestLog(new HostFs(mkdtempSync(`${tmpdir()}/gear-req-`)), '/requests');
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
  assert.match(await rejection(log.run(hex, 'DELETE /x', ok('x'))), /belongs to another request/);
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

test.run();
