import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GearError } from '../../src/model/errors.js';
import { nameOfUnit, validateImage, validateName, validateSlice } from '../../src/model/names.js';

const rejects = (fn: () => unknown, pattern: RegExp) => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, GearError);
    assert.is((err as GearError).kind, 'invalid');
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable('expected a validation error');
};

test('names: ordinary names pass', () => {
  for (const n of ['web-1', 'my-sample-service.1', 'a', 'A_b.c-9', 'x'.repeat(64)]) assert.is(validateName(n), n);
});

test('names: the nasty ones are refused with a reason', () => {
  rejects(() => validateName('../x'), /not valid/);
  rejects(() => validateName('a b'), /not valid/);
  rejects(() => validateName('a\nExecStartPre=/bin/sh'), /not valid/);
  rejects(() => validateName('%n'), /not valid/);
  rejects(() => validateName('x'.repeat(300)), /300 characters long; the limit is 64/);
  rejects(() => validateName(''), /must not be empty/);
  rejects(() => validateName('.hidden'), /not valid/);
  rejects(() => validateName('a/b'), /not valid/);
  rejects(() => validateName('a..b'), /not valid/);
  rejects(() => validateName(42), /must not be empty/);
});

test('unit names map back to container names', () => {
  assert.is(nameOfUnit('ctr-web-1.service'), 'web-1');
  assert.is(nameOfUnit('docker.service'), undefined);
  assert.is(nameOfUnit('ctr-a b.service'), undefined);
});

test('images: references Docker accepts pass, others do not', () => {
  for (const i of ['test/web', 'busybox', 'registry.local:5000/team/app:1.2', 'a/b@sha256:' + 'a'.repeat(64), 'ubuntu:22.04'])
    assert.is(validateImage(i), i);
  rejects(() => validateImage('a b'), /not a valid image/);
  rejects(() => validateImage('UPPER/case'), /not a valid image/);
  rejects(() => validateImage('x;rm -rf /'), /not a valid image/);
  rejects(() => validateImage('--privileged'), /not a valid image/);
  rejects(() => validateImage(''), /must not be empty/);
});

test('slices: systemd slice names only', () => {
  assert.is(validateSlice('gear-web.slice'), 'gear-web.slice');
  rejects(() => validateSlice('web'), /not a valid systemd slice/);
  rejects(() => validateSlice('../x.slice'), /not a valid systemd slice/);
  rejects(() => validateSlice('a--b.slice'), /not a valid systemd slice/);
});

test.run();
