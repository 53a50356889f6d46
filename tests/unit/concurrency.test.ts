import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batch, ConcurrencyLimit, shareInFlight } from '../../src/lib/concurrency.js';

/** A stand-in for a slow DBus call that records what it was asked. */
function recorder(failOn?: string) {
  const calls: string[][] = [];
  const call = async (items: string[]) => {
    calls.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (failOn && items.includes(failOn)) throw new Error(`bad ${failOn}`);
  };
  return { calls, call };
}

test('requests made while a call is in flight share the next call', async () => {
  const { calls, call } = recorder();
  const batch = new Batch(call);
  await Promise.all(['a', 'b', 'c', 'd'].map((u) => batch.add([u])));
  assert.equal(calls, [['a'], ['b', 'c', 'd']]);
});

test('a name asked for twice is sent once', async () => {
  const { calls, call } = recorder();
  const batch = new Batch(call);
  await Promise.all([batch.add(['x']), batch.add(['y']), batch.add(['y', 'z'])]);
  assert.equal(calls, [['x'], ['y', 'z']]);
});

test('a failed joint call is retried per request: only the culprit fails', async () => {
  const { calls, call } = recorder('bad');
  const batch = new Batch(call);
  const results = await Promise.allSettled([batch.add(['first']), batch.add(['ok']), batch.add(['bad']), batch.add(['fine'])]);
  assert.equal(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  assert.match(String((results[2] as PromiseRejectedResult).reason), /bad bad/);
  assert.equal(calls.slice(0, 2), [['first'], ['ok', 'bad', 'fine']]);
  assert.equal(calls.slice(2).sort(), [['bad'], ['fine'], ['ok']]);
});

test('after a quiet spell the next request is sent at once, alone', async () => {
  const { calls, call } = recorder();
  const batch = new Batch(call);
  await batch.add(['one']);
  await batch.add(['two']);
  assert.equal(calls, [['one'], ['two']]);
});

test('shareInFlight: callers during a call share it; a caller afterwards gets a fresh one', async () => {
  let calls = 0;
  const read = shareInFlight(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    return calls;
  });
  assert.equal(await Promise.all([read(), read(), read()]), [1, 1, 1]);
  assert.is(await read(), 2);
});

test('shareInFlight: a failure reaches every waiting caller and is not kept', async () => {
  let fail = true;
  const read = shareInFlight(async () => {
    await new Promise((r) => setTimeout(r, 1));
    if (fail) throw new Error('boom');
    return 'ok';
  });
  const results = await Promise.allSettled([read(), read()]);
  assert.equal(results.map((r) => r.status), ['rejected', 'rejected']);
  fail = false;
  assert.is(await read(), 'ok');
});

test('ConcurrencyLimit: never more than max at once, every task runs, failures stay with their task', async () => {
  const limit = new ConcurrencyLimit(3);
  let running = 0;
  let peak = 0;
  const task = (i: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    if (i === 5) throw new Error('five');
    return i;
  };
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => limit.run(task(i))));
  assert.is(peak, 3);
  assert.is(results.filter((r) => r.status === 'fulfilled').length, 19);
  assert.match(String((results[5] as PromiseRejectedResult).reason), /five/);
  assert.is(await limit.run(async () => 'after'), 'after');
  assert.equal([limit.running, limit.waiting], [0, 0]);
});

test.run();
