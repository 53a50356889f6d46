import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mergeEnv, parseAssignment, parseEnvFile, renderEnvFile } from '../../src/model/env.js';

const nasty = `a "quoted" 'value' with spaces $HOME %n \\back\\slash = trailing  `;

test('values with quotes, spaces, $, % and backslashes round-trip through the env file', () => {
  const vars = [
    { Name: 'NASTY', Value: nasty },
    { Name: 'EMPTY', Value: '' },
    { Name: 'EQ', Value: 'a=b=c' },
    { Name: 'HASH', Value: '#not a comment' },
  ];
  assert.equal(parseEnvFile(renderEnvFile(vars)), vars);
});

test('assignments split at the first =', () => {
  assert.equal(parseAssignment('A=b=c'), { Name: 'A', Value: 'b=c' });
  assert.equal(parseAssignment('A='), { Name: 'A', Value: '' });
  assert.throws(() => parseAssignment('=x'), /NAME=VALUE/);
  assert.throws(() => parseAssignment('A'), /NAME=VALUE/);
  assert.throws(() => parseAssignment('1A=x'), /not valid/);
  assert.throws(() => parseAssignment('A B=x'), /not valid/);
  assert.throws(() => parseAssignment('A=line\nbreak'), /line break/);
});

test('user env files: comments, blanks, export, CRLF; errors name the line', () => {
  const text = '# comment\n\nexport A=1\r\nB=two words\n  C=3\n';
  assert.equal(parseEnvFile(text), [
    { Name: 'A', Value: '1' },
    { Name: 'B', Value: 'two words' },
    { Name: 'C', Value: '3' },
  ]);
  assert.throws(() => parseEnvFile('A=1\nnot valid\n', 'app.env'), /app.env, line 2/);
});

test('merge: later wins, first order kept', () => {
  assert.equal(
    mergeEnv([{ Name: 'A', Value: '1' }, { Name: 'B', Value: '2' }], [{ Name: 'A', Value: '3' }, { Name: 'C', Value: '4' }]),
    [{ Name: 'A', Value: '3' }, { Name: 'B', Value: '2' }, { Name: 'C', Value: '4' }],
  );
});

test.run();
