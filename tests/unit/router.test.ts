import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadUrl, Router } from '../../src/api/router.js';

test('a trailing :name* takes the rest of the path (each segment decoded, joined by "/"); :name one segment', () => {
  const r = new Router();
  const archive = () => 'archive';
  const one = () => 'one';
  r.add('GET', '/repository/:id/archive/:ref*', archive);
  r.add('GET', '/container/:id', one);
  const found = (path: string) => {
    const f = r.find('GET', path);
    return f && { handler: (f.handler as () => string)(), params: f.params };
  };
  assert.equal(found('/repository/r1/archive/main'), { handler: 'archive', params: { id: 'r1', ref: 'main' } });
  assert.equal(found('/repository/r1/archive/feature/x'), { handler: 'archive', params: { id: 'r1', ref: 'feature/x' } });
  assert.equal(found('/repository/r1/archive/feature%2Fx'), { handler: 'archive', params: { id: 'r1', ref: 'feature/x' } });
  // What the operation's validation then refuses is passed on as it is, not normalised away.
  assert.equal(found('/repository/r1/archive/a//b'), { handler: 'archive', params: { id: 'r1', ref: 'a//b' } });
  assert.equal(found('/repository/r1/archive/%2e%2e/x'), { handler: 'archive', params: { id: 'r1', ref: '../x' } });
  assert.is(found('/repository/r1/archive/'), undefined);
  assert.is(found('/repository/r1/archive'), undefined);
  assert.is(found('/container/a/b'), undefined);
  assert.equal(found('/container/a%2Fb'), { handler: 'one', params: { id: 'a/b' } });
  assert.throws(() => r.find('GET', '/repository/r1/archive/x/%zz'), (e: unknown) => e instanceof BadUrl);
});

test.run();
