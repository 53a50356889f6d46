import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { allowedNames, refusal, tagRequest, type ListenerPolicy } from '../../src/api/guard.js';
import { beyondLoopback, ensureTokenFile, readTokenFile, tokenMatches } from '../../src/api/listen.js';
import { parseListenAddress } from '../../src/model/address.js';

test('listen addresses', () => {
  assert.equal(parseListenAddress('127.0.0.1:43273'), { kind: 'tcp', host: '127.0.0.1', port: 43273 });
  assert.equal(parseListenAddress('[::1]:1'), { kind: 'tcp', host: '::1', port: 1 });
  assert.equal(parseListenAddress(':43273'), { kind: 'tcp', host: '0.0.0.0', port: 43273 });
  assert.equal(parseListenAddress('unix:/run/gear/gear.sock'), { kind: 'unix', path: '/run/gear/gear.sock' });
  for (const bad of ['43273', 'host:1', '1.2.3.4:0', '1.2.3.4:70000', 'unix:relative']) assert.throws(() => parseListenAddress(bad), /listen address/);
});

test('beyond loopback: every TCP address but 127/8, ::1 and localhost', () => {
  assert.not.ok(beyondLoopback(parseListenAddress('127.0.0.1:1')));
  assert.not.ok(beyondLoopback(parseListenAddress('[::1]:1')));
  assert.not.ok(beyondLoopback(parseListenAddress('unix:/x')));
  assert.ok(beyondLoopback(parseListenAddress('0.0.0.0:1')));
  assert.ok(beyondLoopback(parseListenAddress('10.0.0.1:1')));
});

test('tokens', () => {
  assert.ok(tokenMatches('secret-secret-secret', 'secret-secret-secret'));
  assert.not.ok(tokenMatches('secret', 'secret-secret-secret'));
  assert.not.ok(tokenMatches(undefined, 'secret-secret-secret'));
  // The expected digest is kept per token: another token is compared against its own.
  assert.ok(tokenMatches('other-other-other-other', 'other-other-other-other'));
  assert.not.ok(tokenMatches('secret-secret-secret', 'other-other-other-other'));
  assert.ok(tokenMatches('secret-secret-secret', 'secret-secret-secret'));
});

const TOKEN = 'secret-secret-secret';
const tcp: ListenerPolicy = { kind: 'tcp', token: TOKEN, scheme: 'http' };
const req = (headers: Record<string, string>, policy?: ListenerPolicy) => {
  const r = { headers } as unknown as IncomingMessage;
  if (policy) tagRequest(r, policy);
  return r;
};
const names = allowedNames(['agent.example']);
const ok = { host: '127.0.0.1:43273', authorization: `Bearer ${TOKEN}` };
const statusOf = (headers: Record<string, string>, policy: ListenerPolicy | undefined = tcp) => refusal(req(headers, policy), names)?.status;

test('guard: a request no listener tagged is refused (fail closed)', () => {
  assert.is(refusal(req(ok), names)?.status, 403);
  assert.is(statusOf(ok), undefined);
});

test('guard: the token on TCP, none on the unix socket or a tokenless listener', () => {
  assert.is(statusOf({ host: '127.0.0.1' }), 401);
  assert.is(statusOf({ host: '127.0.0.1', authorization: 'Bearer nope-nope-nope-nope' }), 401);
  assert.is(statusOf({}, { kind: 'unix' }), undefined);
  assert.is(statusOf({ host: '127.0.0.1' }, { kind: 'tcp', token: undefined, scheme: 'http' }), undefined);
});

test('guard: Host, Origin, Sec-Fetch-Site, Content-Type', () => {
  for (const host of ['127.0.0.1', '[::1]:43273', 'localhost:43273', 'agent.example', 'AGENT.example.:1', '10.0.0.1']) assert.is(statusOf({ ...ok, host }), undefined, host);
  for (const host of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io:43273']) assert.is(statusOf({ ...ok, host }), 403, host);
  assert.is(statusOf({ authorization: ok.authorization }), 400);
  assert.is(statusOf({ ...ok, origin: 'http://127.0.0.1:43273' }), undefined);
  assert.is(statusOf({ ...ok, origin: 'https://127.0.0.1:43273' }), 403);
  assert.is(statusOf({ ...ok, origin: 'http://evil.example' }), 403);
  assert.is(statusOf({ origin: 'http://evil.example' }, { kind: 'unix' }), 403);
  assert.is(statusOf({ ...ok, 'sec-fetch-site': 'cross-site' }), 403);
  assert.is(statusOf({ ...ok, 'sec-fetch-site': 'same-site' }), 403);
  assert.is(statusOf({ ...ok, 'sec-fetch-site': 'none' }), undefined);
  for (const type of ['text/plain', 'text/plain;charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx'])
    assert.is(statusOf({ ...ok, 'content-type': type }), 415, type);
  for (const type of ['application/json', 'application/json; charset=utf-8']) assert.is(statusOf({ ...ok, 'content-type': type }), undefined, type);
});

test('guard: application/x-tar only for POST /images/load, with the token and the other checks', () => {
  const at = (method: string, url: string, headers: Record<string, string>, policy: ListenerPolicy = tcp) => {
    const r = { headers, method, url } as unknown as IncomingMessage;
    tagRequest(r, policy);
    return refusal(r, names)?.status;
  };
  const tar = { ...ok, 'content-type': 'application/x-tar' };
  assert.is(at('POST', '/images/load?image=a:1&id=x', tar), undefined);
  assert.is(at('POST', '/images/load', { ...ok, 'content-type': 'Application/X-Tar; q=1' }), undefined);
  for (const [method, url] of [['PUT', '/images/load'], ['GET', '/images/load'], ['POST', '/images/layers'], ['POST', '/images/loadx'], ['POST', '/containers/links'], ['PUT', '/container/web-1'], ['POST', '/x/images/load']])
    assert.is(at(method!, url!, tar), 415, `${method} ${url}`);
  assert.is(at('POST', '/images/load', { ...ok, 'content-type': 'text/plain' }), 415);
  assert.is(at('POST', '/images/load', { host: ok.host, 'content-type': 'application/x-tar' }), 401);
  assert.is(at('POST', '/images/load', { ...tar, origin: 'http://evil.example' }), 403);
});

test('token files: made 0600 once; a symlink, a loose mode or a short token refused', async () => {
  const dir = mkdtempSync(`${tmpdir()}/gear-token-`);
  const made = await ensureTokenFile(`${dir}/state/token`);
  assert.match(made, /^[0-9a-f]{64}$/);
  assert.is(await ensureTokenFile(`${dir}/state/token`), made, 'made once, then read');
  symlinkSync(`${dir}/state/token`, `${dir}/link`);
  try {
    await readTokenFile(`${dir}/link`);
    assert.unreachable('a symlink was followed');
  } catch (err) {
    assert.match(String(err), /symbolic link/);
  }
  writeFileSync(`${dir}/loose`, `${TOKEN}\n`, { mode: 0o640 });
  chmodSync(`${dir}/loose`, 0o640);
  try {
    await readTokenFile(`${dir}/loose`);
    assert.unreachable('a group-readable file was read');
  } catch (err) {
    assert.match(String(err), /group or others/);
  }
  writeFileSync(`${dir}/short`, 'short\n', { mode: 0o600 });
  try {
    await readTokenFile(`${dir}/short`);
    assert.unreachable('a short token was taken');
  } catch (err) {
    assert.match(String(err), /at least 16/);
  }
  if (process.getuid?.() === 0) {
    writeFileSync(`${dir}/nobody`, `${TOKEN}\n`, { mode: 0o600 });
    chownSync(`${dir}/nobody`, 65534, 65534);
    try {
      await readTokenFile(`${dir}/nobody`);
      assert.unreachable("another user's file was read");
    } catch (err) {
      assert.match(String(err), /owned by root/);
    }
  }
});

test.run();
