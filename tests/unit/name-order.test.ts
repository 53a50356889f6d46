import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareNames } from '../../src/lib/name-order.js';

const collator = new Intl.Collator().compare;
const sign = (n: number) => Math.sign(n);
const ALPHABET = [...'_-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'];

test('the order of gear names is localeCompare\'s, without a collator', () => {
  const name = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 12 }).map((cs) => cs.join(''));
  // Close pairs too: one name and a copy with one character changed, dropped or its case flipped.
  const pair = fc.oneof(
    fc.tuple(name, name),
    fc.tuple(name, fc.nat(), fc.constantFrom(...ALPHABET)).map(([a, i, c]) => [a, a.slice(0, i % (a.length + 1)) + c + a.slice(i % (a.length + 1) + 1)] as [string, string]),
    name.map((a) => [a, a.toUpperCase()] as [string, string]),
    name.map((a) => [a, a.slice(0, -1)] as [string, string]),
  );
  fc.assert(fc.property(pair, ([a, b]) => sign(compareNames(a, b)) === sign(collator(a, b))), { numRuns: 20_000 });
  const sample = ['a', 'A', 'a_1', 'a_b', 'a-1', 'a-b', 'a.1', 'a0', 'a1', 'A1', 'ab', 'aB', 'Ab', 'AB', 'ab-', 'web-10', 'web-9', 'Web-2', '_x'];
  assert.equal([...sample].sort(compareNames), [...sample].sort(collator));
});

test('names with other characters are left to localeCompare', () => {
  const any = fc.string({ unit: 'binary', maxLength: 8 });
  fc.assert(fc.property(any, any, (a, b) => sign(compareNames(a, b)) === sign(a.localeCompare(b))), { numRuns: 5_000 });
  assert.equal(['é', 'e', 'f', 'E'].sort(compareNames), ['é', 'e', 'f', 'E'].sort(collator));
});

test.run();
