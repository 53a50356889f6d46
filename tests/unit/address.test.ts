import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  canonicalDeployHost,
  deployHostAddress,
  hostOfHeader,
  parseAgentAddressText,
  parseAgentHost,
  parseListenAddress,
  parseLocator,
  portNumber,
  parseConsoleOrigin,
  validateDeployHost,
} from '../../src/model/address.js';
import { portNumber as portNumberOfPorts } from '../../src/model/ports.js';

/** Inputs no host[:port] grammar takes, whatever the kind. */
const JUNK = [
  '',
  ' ',
  'host :1',
  'host: 1',
  ' host:1',
  'host:1 ',
  'ho st:1',
  'host:1x',
  'host:1:2',
  'host:+1',
  'host:-1',
  'host:0x10',
  'host:1.0',
  'hôst:1',
  'host:١',
  'host\n:1',
  'host:1\n',
  '[::1',
  '::1]:1',
  '[::1]x',
  '[::1]:1x',
  '[]:1',
  '[zz::1]:1',
];

test('port numbers: one rule, 1-65535 (0 where it means "allocate one"); text only where allowed', () => {
  assert.is(portNumber(1, 'p', false), 1);
  assert.is(portNumber(65535, 'p', false), 65535);
  assert.is(portNumber(0, 'p', true), 0);
  assert.is(portNumber('8080', 'p', false), 8080);
  for (const bad of [0, 65536, -1, 1.5, NaN, Infinity, '0x50', ' 80', '80 ', '+80', '', '123456', '８０', null, true, [80]])
    assert.throws(() => portNumber(bad, 'p', false), /is not a port number \(1-65535\)/, String(bad));
  assert.throws(() => portNumber(65536, 'p', true), /\(0-65535\)/);
  assert.throws(() => portNumber('8080', '', false, { text: false }), /^.*"8080" is not a port number/);
  assert.is(portNumberOfPorts, portNumber, 'model/ports.ts exports the same rule');
});

test('agent hosts: HOST[:PORT], HOST a DNS name, an IPv4 address or [IPv6]', () => {
  assert.equal(parseAgentHost('10.0.0.2'), { host: '10.0.0.2', port: undefined });
  assert.equal(parseAgentHost('10.0.0.2:43273'), { host: '10.0.0.2', port: 43273 });
  assert.equal(parseAgentHost('agent-1.example'), { host: 'agent-1.example', port: undefined });
  assert.equal(parseAgentHost('[::1]:43273'), { host: '[::1]', port: 43273 });
  assert.equal(parseAgentHost('[fe80::1]'), { host: '[fe80::1]', port: undefined });
  for (const bad of [...JUNK, 'host:', ':43273', '::1', '::1:43273', '-a', 'a..b', 'a_b', '999.1.1.1', 'x'.repeat(254), 'https://a', 'a/b'])
    assert.throws(() => parseAgentHost(bad), /must look like HOST\[:PORT\]|out of range/, JSON.stringify(bad));
  for (const bad of ['host:0', 'host:65536', 'host:99999', '[::1]:0']) assert.throws(() => parseAgentHost(bad), /out of range/, bad);
});

test('locators: the agent host grammar before the last "/"', () => {
  assert.equal(parseLocator('[::1]:43273/web'), { host: '[::1]', port: 43273, name: 'web' });
  assert.equal(parseLocator('ctr://h.example/web'), { host: 'h.example', port: undefined, name: 'web' });
  for (const bad of ['host:/web', ':43273/web', '[::1/web', 'h:0/web', 'h:65536/web', 'h :1/web', 'hôst/web', 'h/web ', 'h/wéb', '//web', 'h//web'])
    assert.throws(() => parseLocator(bad), /not (a )?valid|out of range|empty/, bad);
});

test('agent addresses: unix:///PATH, http(s)://HOST[:PORT], HOST[:PORT]; the default port 43273', () => {
  assert.equal(parseAgentAddressText('unix:///run/gear/gear.sock'), { kind: 'unix', path: '/run/gear/gear.sock', label: 'unix:///run/gear/gear.sock' });
  assert.equal(parseAgentAddressText('10.0.0.2'), { kind: 'tcp', host: '10.0.0.2', port: 43273, https: false, label: '10.0.0.2' });
  assert.equal(parseAgentAddressText('https://[::1]:1/'), { kind: 'tcp', host: '::1', port: 1, https: true, label: '[::1]:1' });
  assert.equal(parseAgentAddressText('http://agent.example:8443'), { kind: 'tcp', host: 'agent.example', port: 8443, https: false, label: 'agent.example:8443' });
  for (const bad of [...JUNK, 'unix://relative', 'unix:/x', 'ftp://a', 'https://', 'https://a:0', 'a:65536', 'https://a/b'])
    assert.throws(() => parseAgentAddressText(bad), /agent address/, JSON.stringify(bad));
});

test('listen addresses: the port is required; HOST an IP address or localhost; nasty ones refused', () => {
  assert.equal(parseListenAddress('[::1]:43273'), { kind: 'tcp', host: '::1', port: 43273 });
  assert.equal(parseListenAddress('[::]:1'), { kind: 'tcp', host: '::', port: 1 });
  assert.equal(parseListenAddress('localhost:65535'), { kind: 'tcp', host: 'localhost', port: 65535 });
  assert.equal(parseListenAddress('unix:///run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  for (const bad of [...JUNK, 'host:', '127.0.0.1:', ':', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:43273', 'agent.example:1', '[localhost]:1', '[127.0.0.1]:1'])
    assert.throws(() => parseListenAddress(bad), /listen address/, JSON.stringify(bad));
});

test('deploy hosts: a link target (IPv4 not loopback, or a name) with an optional port', () => {
  assert.is(validateDeployHost('10.250.0.2'), '10.250.0.2');
  assert.is(validateDeployHost('localhost:1'), 'localhost:1');
  for (const bad of [...JUNK, 'host:', ':1', '[::1]:1', '127.0.0.1:43273', '0.0.0.0', '224.0.0.1', 'h:0', 'h:65536'])
    assert.throws(() => validateDeployHost(bad), /^host /, JSON.stringify(bad));
  assert.is(deployHostAddress('10.0.0.2:43273'), '10.0.0.2');
  assert.is(canonicalDeployHost('10.0.0.2:43273'), '10.0.0.2');
  assert.is(canonicalDeployHost('10.0.0.2:4327'), '10.0.0.2:4327');
});

test('Host headers: the host part, lower-cased, without the port or a final dot', () => {
  assert.is(hostOfHeader('[::1]:43273'), '::1');
  assert.is(hostOfHeader('Agent.Example.:43273'), 'agent.example');
  assert.is(hostOfHeader('127.0.0.1'), '127.0.0.1');
  assert.is(hostOfHeader(':43273'), '');
});

test('console peers: an origin as browsers send it, nothing more', () => {
  assert.is(parseConsoleOrigin('https://10.0.0.1:43273'), 'https://10.0.0.1:43273');
  assert.is(parseConsoleOrigin('https://10.0.0.1:43273/'), 'https://10.0.0.1:43273');
  assert.is(parseConsoleOrigin('HTTPS://Agent.Example:443'), 'https://agent.example');
  assert.is(parseConsoleOrigin('http://[::1]:43273'), 'http://[::1]:43273');
  for (const bad of ['', 'agent:43273', 'ftp://x', 'https://x/ui/', 'https://u:p@x', 'https://x?a', 'https://x#a', 'https://x:0', 'https://x:65536', 'https://bad_host', ' https://x', 'https://x ', 'https://é.example', 'javascript:alert(1)'])
    assert.throws(() => parseConsoleOrigin(bad), /console peer/, bad);
});

test.run();
