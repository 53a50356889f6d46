import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEnvFile } from '../../src/model/env.js';
import { goTrimSpace, goUnquote, parseGeardEnv } from '../../src/model/env-geard.js';

// ../shared/geard-fixtures/simple.env, byte for byte.
const SIMPLE_ENV = 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\nIGNORED\n';

test('simple.env loads as the seed loads it: three variables, QUOTED keeps its backslashes, IGNORED ignored', () => {
  const { Variables, skipped } = parseGeardEnv(SIMPLE_ENV);
  assert.equal(Variables, [
    { Name: 'TEST', Value: 'value' },
    { Name: 'OTHER', Value: '1' },
    { Name: 'QUOTED', Value: '\\"foo\\"' },
  ]);
  assert.equal(skipped, [], 'a line without "=" is ignored, not a bad line');
  // gear's strict parser refuses the same file: it names the line the seed ignores.
  assert.throws(() => parseEnvFile(SIMPLE_ENV, 'simple.env'), /simple.env, line 4: "IGNORED" must look like NAME=VALUE/);
});

test('the seed rules: first "=", name trimmed on the left only, no comments or export, last duplicate wins', () => {
  const text = [
    'A=b=c',
    ' \tLEFT=trimmed',
    'RIGHT =x', // a space left in the name: bad, skipped
    'export E=1', // "export E": white space in the name
    '#C=1', // no comments: defines "#C", which gear cannot hold (skipped, reported)
    'DUP=first',
    'EMPTY=',
    'DUP=last',
    '=novalue',
    'CRLF=yes\r',
    '',
  ].join('\n');
  const { Variables, skipped } = parseGeardEnv(text);
  assert.equal(Variables, [
    { Name: 'A', Value: 'b=c' },
    { Name: 'LEFT', Value: 'trimmed' },
    { Name: 'EMPTY', Value: '' },
    { Name: 'DUP', Value: 'last' },
    { Name: 'CRLF', Value: 'yes' },
  ]);
  assert.equal(
    skipped.map((s) => s.line),
    [3, 4, 5, 9],
  );
  assert.match(skipped[0]!.reason, /white space/);
  assert.match(skipped[2]!.reason, /"#C" is not valid/);
  assert.match(skipped[3]!.reason, /name is empty/);
});

test('values: unquoted as Go strconv.Unquote, else raw; then trimmed', () => {
  const value = (v: string) => parseGeardEnv(`V=${v}\n`).Variables[0]?.Value;
  assert.is(value('"quoted value"'), 'quoted value');
  assert.is(value('"  padded  "'), 'padded', 'trimmed after unquoting');
  assert.is(value('  raw value  '), 'raw value');
  assert.is(value(' "x"'), '"x"', 'a space before the quote: not one literal, taken raw');
  assert.is(value('"tab\\there"'), 'tab\there');
  assert.is(value('"\\x41\\101\\u00e9\\U0001F600"'), 'AAé😀');
  assert.is(value('`raw \\n kept`'), 'raw \\n kept');
  assert.is(value("'x'"), 'x');
  assert.is(value("'xy'"), "'xy'", 'a rune literal holds one character');
  assert.is(value('"a"b"'), '"a"b"');
  assert.is(value('"unterminated'), '"unterminated');
  assert.is(value('"\\q"'), '"\\q"', 'an unknown escape: raw');
  assert.is(parseGeardEnv('V="line\\nbreak"\n').Variables.length, 0, 'a newline an env file cannot carry: skipped');
  assert.is(value('x'.repeat(8192)), 'x'.repeat(8192));
  assert.is(parseGeardEnv(`V=${'x'.repeat(8193)}\n`).skipped[0]?.reason, 'the value of V is longer than 8192 bytes');
  assert.is(parseGeardEnv(`${'N'.repeat(1025)}=1\n`).skipped[0]?.reason, 'the name is longer than 1024 bytes');
});

test('Go details: TrimSpace is not JavaScript trim; Unquote edge cases', () => {
  assert.is(goTrimSpace('\u00a0\u3000x\u2029 \v'), 'x');
  assert.is(goTrimSpace('\ufeffx\ufeff'), '\ufeffx\ufeff', 'U+FEFF is not a space to Go');
  assert.is(goUnquote('""'), '');
  assert.is(goUnquote("''"), undefined);
  assert.is(goUnquote('"\\\'"'), undefined, "\\' only inside a rune literal");
  assert.is(goUnquote("'\\''"), "'");
  assert.is(goUnquote('"\\400"'), undefined, 'octal above 255');
  assert.is(goUnquote('"\\uD800"'), undefined, 'a surrogate is not a rune');
  assert.is(goUnquote('`a\rb`'), 'ab', 'raw strings lose carriage returns');
  assert.is(goUnquote('`a`b`'), undefined);
  assert.is(goUnquote('"'), undefined);
});

test.run();
