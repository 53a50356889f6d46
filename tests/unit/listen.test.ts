import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { needsAuth, parseListenAddress, tokenMatches } from '../../src/api/listen.js';

test('listen addresses', () => {
  assert.equal(parseListenAddress('127.0.0.1:43273'), { kind: 'tcp', host: '127.0.0.1', port: 43273 });
  assert.equal(parseListenAddress('[::1]:1'), { kind: 'tcp', host: '::1', port: 1 });
  assert.equal(parseListenAddress(':43273'), { kind: 'tcp', host: '0.0.0.0', port: 43273 });
  assert.equal(parseListenAddress('unix:/run/gear/gear.sock'), { kind: 'unix', path: '/run/gear/gear.sock' });
  for (const bad of ['43273', 'host:1', '1.2.3.4:0', '1.2.3.4:70000', 'unix:relative']) assert.throws(() => parseListenAddress(bad), /listen address/);
});

test('only loopback and unix sockets go without authentication', () => {
  assert.not.ok(needsAuth(parseListenAddress('127.0.0.1:1')));
  assert.not.ok(needsAuth(parseListenAddress('[::1]:1')));
  assert.not.ok(needsAuth(parseListenAddress('unix:/x')));
  assert.ok(needsAuth(parseListenAddress('0.0.0.0:1')));
  assert.ok(needsAuth(parseListenAddress('10.0.0.1:1')));
});

test('tokens', () => {
  assert.ok(tokenMatches('secret-secret-secret', 'secret-secret-secret'));
  assert.not.ok(tokenMatches('secret', 'secret-secret-secret'));
  assert.not.ok(tokenMatches(undefined, 'secret-secret-secret'));
});

test.run();
