import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_TRIES, SpreadPlan, type SpreadStep } from '../../src/model/image-spread.js';

// The spreading plan of a deploy (model/image-spread.ts), run in rounds:
// every transfer started in a round ends before the next round starts;
// `outcome` says whether a transfer works (a string: the reason it failed).

interface Run {
  rounds: string[][];
  steps: SpreadStep[];
  plan: SpreadPlan;
}

function simulate(plan: SpreadPlan, outcome: (s: SpreadStep) => string | undefined = () => undefined): Run {
  const rounds: string[][] = [];
  const steps: SpreadStep[] = [];
  for (let n = 0; n < 50; n++) {
    const now = plan.next();
    if (now.length === 0) break;
    // A sender never sends to two hosts at once, and a receiver never takes from two.
    assert.is(new Set(now.map((s) => s.from)).size, now.length, `one transfer per sender: ${JSON.stringify(now)}`);
    assert.is(new Set(now.map((s) => s.to)).size, now.length, `one transfer per receiver: ${JSON.stringify(now)}`);
    rounds.push(now.map((s) => `${s.from}>${s.to}`));
    steps.push(...now);
    for (const s of now) {
      const why = outcome(s);
      if (why === undefined) plan.received(s);
      else plan.failed(s, why);
    }
  }
  assert.ok(plan.done, 'the plan finished');
  return { rounds, steps, plan };
}

test('one holder, seven hosts that want it: a tree (1, 2, 4 transfers at once), every receiver sends on, nobody sends to all', () => {
  const { rounds, steps, plan } = simulate(new SpreadPlan(['a'], ['b', 'c', 'd', 'e', 'f', 'g', 'h']));
  assert.equal(rounds.map((r) => r.length), [1, 2, 4]);
  assert.equal(rounds[0], ['a>b']);
  // The new holder goes first (it has sent nothing), then the older one.
  assert.equal(rounds[1], ['b>c', 'a>d']);
  assert.equal([...plan.from.keys()].sort(), ['b', 'c', 'd', 'e', 'f', 'g', 'h']);
  const sends = new Map<string, number>();
  for (const s of steps) sends.set(s.from, (sends.get(s.from) ?? 0) + 1);
  assert.is(sends.get('a'), 3, 'the first holder sends to log2(8) hosts');
  assert.ok([...sends.values()].every((n) => n <= 3));
  assert.is(plan.failures.size, 0);
  assert.is(plan.pullOn, undefined);
});

test('three hosts, one holder: a chain (a to b, then b to c)', () => {
  const { rounds } = simulate(new SpreadPlan(['a'], ['a', 'b', 'c']));
  assert.equal(rounds, [['a>b'], ['b>c']]);
});

test('hosts that have it already get nothing; two holders and one host lacking it: one transfer, from one of them', () => {
  const { steps, plan } = simulate(new SpreadPlan(['a', 'b'], ['a', 'b', 'c']));
  assert.is(steps.length, 1);
  assert.is(steps[0]!.to, 'c');
  assert.ok(['a', 'b'].includes(steps[0]!.from));
  assert.equal([...plan.from], [['c', steps[0]!.from]]);
});

test('a holder that does not want it still sends (it is a host named in the deploy)', () => {
  const { steps } = simulate(new SpreadPlan(['z'], ['b', 'c']));
  assert.equal(steps[0], { from: 'z', to: 'b' });
  assert.is(steps.length, 2);
});

test('one host only: it has it (nothing to do), or nobody has it (it pulls, and nothing is sent)', () => {
  const has = new SpreadPlan(['a'], ['a']);
  assert.ok(has.done);
  assert.is(has.pullOn, undefined);
  assert.equal(has.next(), []);
  const lacks = new SpreadPlan([], ['a']);
  assert.is(lacks.pullOn, 'a');
  lacks.pulled('a');
  assert.ok(lacks.done);
  assert.equal(lacks.next(), []);
  assert.equal([...lacks.from], [['a', 'registry']]);
});

test('nobody has it: the first host that wants it pulls it (once), then it spreads from there', () => {
  const plan = new SpreadPlan([], ['b', 'a', 'c']);
  assert.is(plan.pullOn, 'b');
  assert.equal(plan.next(), [], 'nothing is sent before the pull');
  plan.pulled('b');
  assert.is(plan.pullOn, undefined, 'the registry is asked once');
  const { rounds } = simulate(plan);
  assert.equal(rounds, [['b>a'], ['a>c']]);
});

test('the pull fails: every host that wants it fails, naming the host that pulled and why; nothing is sent', () => {
  const plan = new SpreadPlan([], ['a', 'b']);
  plan.pullFailed('a', 'manifest unknown');
  assert.ok(plan.done);
  assert.equal(plan.next(), []);
  assert.equal([...plan.failures], [
    ['a', 'pulling it failed: manifest unknown'],
    ['b', 'no named host has it, and pulling it on a failed: manifest unknown'],
  ]);
});

test('a sender fails mid-tree: it sends no more; the hosts it would have served get it from other holders', () => {
  // b received from a, then dies: every transfer from b fails.
  const { rounds, plan } = simulate(new SpreadPlan(['a'], ['b', 'c', 'd', 'e']), (s) => (s.from === 'b' ? 'connection reset' : undefined));
  assert.equal(rounds[0], ['a>b']);
  assert.equal(rounds[1], ['b>c', 'a>d']);
  assert.ok(rounds.slice(2).flat().every((r) => !r.startsWith('b>')), `b is not used again: ${JSON.stringify(rounds)}`);
  assert.is(plan.failures.size, 0);
  assert.equal([...plan.from.keys()].sort(), ['b', 'c', 'd', 'e']);
  assert.not.equal(plan.from.get('c'), 'b');
});

test('the only holder fails every transfer: each host that wants it fails clearly, naming the sender and the reason', () => {
  const { steps, plan } = simulate(new SpreadPlan(['a'], ['b', 'c']), () => 'disk of a unreadable');
  assert.equal(steps, [
    { from: 'a', to: 'b' },
    { from: 'a', to: 'c' },
  ]);
  assert.equal([...plan.failures], [
    ['b', 'not received (from a: disk of a unreadable)'],
    ['c', 'not received (from a: disk of a unreadable)'],
  ]);
});

test('a receiver that cannot take it (its disk is full): tried from two senders, then it fails; the others get it', () => {
  const { plan, steps } = simulate(new SpreadPlan(['a'], ['b', 'c', 'd']), (s) => (s.to === 'b' ? `no space left on b` : undefined));
  const toB = steps.filter((s) => s.to === 'b');
  assert.is(toB.length, MAX_TRIES);
  assert.is(new Set(toB.map((s) => s.from)).size, MAX_TRIES, 'from different senders');
  assert.equal([...plan.failures.keys()], ['b']);
  assert.match(plan.failures.get('b')!, /^not received \(from a: no space left on b; from [cd]: no space left on b\)$/);
  assert.equal([...plan.from.keys()].sort(), ['c', 'd']);
});

test('a receiver waits for a trusted busy holder rather than take an idle suspect one', () => {
  const plan = new SpreadPlan(['a', 'x'], ['b', 'c', 'd']);
  // x fails its first transfer; a is busy; c must wait for a (or a new holder), not take x again.
  let first = plan.next();
  assert.equal(first, [
    { from: 'x', to: 'b' },
    { from: 'a', to: 'c' },
  ]);
  plan.failed(first[0]!, 'reset');
  assert.equal(plan.next(), [], 'd waits: a is busy, x is suspect');
  plan.received(first[1]!);
  first = plan.next();
  assert.equal(first, [
    { from: 'c', to: 'b' },
    { from: 'a', to: 'd' },
  ]);
});

test.run();
