import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shedStartupGarbage } from '../../src/agent/memory.js';

test('the start-up collection frees what nothing refers to, and leaves no gc function behind', async () => {
  let garbage: object | undefined = { rows: Array.from({ length: 1000 }, (_, i) => ({ i })) };
  const ref = new WeakRef(garbage);
  garbage = undefined;
  // A WeakRef's target lives until the end of the job that made it.
  await new Promise((r) => setImmediate(r));
  shedStartupGarbage();
  assert.is(ref.deref(), undefined);
  assert.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  // Contexts made later get no gc either: the flag was turned off again.
  const { runInNewContext } = await import('node:vm');
  assert.is(runInNewContext('typeof gc'), 'undefined');
});

test.run();
