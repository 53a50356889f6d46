import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, curl, eventually, gear, hostIp, makeCertificate, putFile, run, sh, startAgent, stopAgent, journalMatching } from './harness.js';

// The agent's doors (docs/security.md): which listener lets what in.
// Agent A listens on its network address in plain HTTP (--insecure-plaintext,
// so that raw sockets from the machine reach a token-protected listener), on
// loopback, and on its unix socket; agent B serves TLS with a certificate
// made here, for the CLI in A.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const LOCAL = 'http://127.0.0.1:43273';
const SOCK = ['--unix-socket', '/run/gear/gear.sock'];
let TOKEN = '';
const bearer = () => ['-H', `Authorization: Bearer ${TOKEN}`];
const JSON_TYPE = ['-H', 'Content-Type: application/json'];
// The running agent's lines only: earlier test files ran agents under the same unit name on this host.
const agentLog = () => sh(A, 'journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID=$(systemctl show -p InvocationID --value gear-agent)');
/** The running agent's journal once it has a line matching re (journald may not have read the agent's last lines yet). */
const agentLogMatching = (re: RegExp) => journalMatching(A, '-o cat _SYSTEMD_INVOCATION_ID=$(systemctl show -p InvocationID --value gear-agent)', re);

test.before(async () => {
  await sh(A, 'rm -f /var/lib/gear/token');
  await startAgent(A, ['--listen', '127.0.0.1:43273', '--listen', `${ipA}:43273`, '--insecure-plaintext', '--log-stream-seconds', '60']);
  TOKEN = (await sh(A, 'cat /var/lib/gear/token')).trim();
});
test.after(async () => {
  await stopAgent(A);
  await stopAgent(B);
});

test('without --token-file the agent makes its own token: root-owned, 0600; the unix socket is 0600', async () => {
  assert.match(TOKEN, /^[0-9a-f]{64}$/);
  assert.is((await sh(A, "stat -c '%U %a' /var/lib/gear/token")).trim(), 'root 600');
  assert.is((await sh(A, "stat -c '%U %a %F' /run/gear/gear.sock")).trim(), 'root 600 socket');
  const listening = /listening on http:\/\/127\.0\.0\.1:43273 \(token\), http:\/\/10\.250\.0\.\d+:43273 \(token\), unix:\/run\/gear\/gear\.sock/;
  assert.match(await agentLogMatching(listening), listening);
});

/** Write a whole request on a raw socket and reset the connection (RST) at once. */
function sendAndReset(host: string, port: number, request: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.write(request, () => {
        socket.resetAndDestroy();
        resolve();
      });
    });
    socket.on('error', () => resolve());
  });
}

const raw = (method: string, path: string, body?: string) =>
  `${method} ${path} HTTP/1.1\r\nHost: ${ipA}:43273\r\nContent-Type: application/json\r\n${body === undefined ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`}\r\n${body ?? ''}`;

test('RST: a request whose connection is reset at once is never run without the token', async () => {
  // A victim, installed and started through the unix socket.
  const victim = await curl(A, [...SOCK, ...JSON_TYPE, '-X', 'PUT', 'http://agent/container/rst-victim', '-d', '{"Image":"test/web","Started":true}']);
  assert.is(victim.status, 204, victim.body);
  const install = raw('PUT', '/container/rst-evil', JSON.stringify({ Image: 'test/web', Started: true, VolumeConfig: { Volumes: [], BindMounts: [{ HostPath: '/', ContainerPath: '/host' }] } }));
  const install2 = raw('PUT', '/container/rst-evil2', '{"Image":"test/web","Started":true}');
  const stop = raw('PUT', '/container/rst-victim/stopped');
  const links = raw('POST', '/containers/links', JSON.stringify({ Links: [{ Id: 'rst-victim', NetworkLinks: [{ FromHost: '127.0.0.1', FromPort: 81, ToHost: '10.9.9.9', ToPort: 80 }] }] }));
  for (let round = 0; round < 20; round++) await Promise.all([install, install2, stop, links].map((r) => sendAndReset(ipA, 43273, r)));
  await new Promise((r) => setTimeout(r, 2000));
  const state = await sh(A, `ls /etc/systemd/system/ | grep ctr-rst-evil; ls /var/lib/gear/containers/ /var/lib/gear/locks/ 2>/dev/null | grep rst-evil; docker ps -a --format '{{.Names}}' | grep rst-evil; ls /var/lib/gear/links/ 2>/dev/null | grep rst-victim; true`);
  assert.is(state.trim(), '', `nothing was made: ${state}`);
  assert.is((await sh(A, 'systemctl is-active ctr-rst-victim || true')).trim(), 'active', 'the victim was not stopped');
  const log = await agentLog();
  assert.not.match(log, /(PUT \/container\/rst-|POST \/containers\/links) 2\d\d/, 'no reset request was executed');
  assert.is((await curl(A, [...SOCK, '-X', 'DELETE', 'http://agent/container/rst-victim'])).status, 204);
});

test('loopback is a door with a lock: no token 401; the local CLI finds the agent\'s own token', async () => {
  const none = await curl(A, [`${LOCAL}/containers`]);
  assert.is(none.status, 401);
  assert.match(JSON.parse(none.body).Message, /authentication required/);
  assert.is((await curl(A, ['-H', 'Authorization: Bearer wrong-wrong-wrong-wrong', `${LOCAL}/containers`])).status, 401);
  assert.is((await curl(A, [...bearer(), `${LOCAL}/health`])).status, 200);
  const byCli = await gear(A, ['list-units', '127.0.0.1']);
  assert.is(byCli.code, 0, byCli.stderr);
  // The unix socket needs no token (only root can open it).
  assert.is((await curl(A, [...SOCK, 'http://agent/containers'])).status, 200);
});

test('browser doors: foreign Host, Origin, Sec-Fetch-Site and simple-request types are refused', async () => {
  const before = await sh(A, 'ls /var/lib/gear/containers/ 2>/dev/null; true');
  const body = '{"Image":"test/web"}';
  const cases: [string[], number, RegExp][] = [
    [['-H', 'Host: evil.example:43273', `${LOCAL}/containers`], 403, /unexpected Host/],
    [['-H', 'Origin: http://evil.example', `${LOCAL}/containers`], 403, /cross-origin/],
    [['-H', 'Origin: null', `${LOCAL}/containers`], 403, /cross-origin/],
    [['-H', 'Sec-Fetch-Site: cross-site', `${LOCAL}/containers`], 403, /cross-site/],
    [['-H', 'Sec-Fetch-Site: same-site', `${LOCAL}/containers`], 403, /cross-site/],
    [['-X', 'PUT', '-H', 'Content-Type: text/plain', `${LOCAL}/container/web-plain`, '-d', body], 415, /send application\/json/],
    [['-X', 'PUT', `${LOCAL}/container/web-form`, '-d', body], 415, /application\/x-www-form-urlencoded.*send application\/json/],
    [['-X', 'PUT', '-F', `x=${body}`, `${LOCAL}/container/web-multi`], 415, /multipart\/form-data/],
  ];
  for (const [args, status, message] of cases) {
    const r = await curl(A, [...bearer(), ...args]);
    assert.is(r.status, status, `${args.join(' ')}: ${r.body}`);
    assert.match(JSON.parse(r.body).Message, message);
  }
  // No Host at all (HTTP/1.1): 400.
  assert.is((await curl(A, [...bearer(), '-H', 'Host:', `${LOCAL}/containers`])).status, 400);
  // Without the token, the same holds (a web page has none): refused before anything is read.
  assert.is((await curl(A, ['-X', 'PUT', '-H', 'Content-Type: text/plain', `${LOCAL}/container/web-plain`, '-d', body])).status, 415);
  // The agent's own origin, IP literals, localhost and the hostname pass.
  assert.is((await curl(A, [...bearer(), '-H', 'Origin: http://127.0.0.1:43273', `${LOCAL}/containers`])).status, 200);
  assert.is((await curl(A, [...bearer(), '-H', 'Host: localhost:43273', `${LOCAL}/containers`])).status, 200);
  const hostname = (await sh(A, 'hostname')).trim();
  assert.is((await curl(A, [...bearer(), '-H', `Host: ${hostname}:43273`, `${LOCAL}/containers`])).status, 200);
  assert.is(await sh(A, 'ls /var/lib/gear/containers/ 2>/dev/null; true'), before, 'nothing was installed');
});

test('a tokenless listener only where the operator opted in: the seed client (no token, no Content-Type) works there', async () => {
  await startAgent(A, ['--insecure-tokenless-listen', '127.0.0.1:43274', '--listen', '127.0.0.1:43273']);
  // As the seed's client sends it: JSON, no Content-Type, no token.
  const seed = await curl(A, ['-X', 'PUT', '-H', 'Content-Type:', '-H', 'Accept: application/json;stream=true', 'http://127.0.0.1:43274/container/seed-1', '--data-binary', '{"Image":"test/web","Ports":[]}\n']);
  assert.is(seed.status, 202, seed.body);
  assert.match(seed.body, /Container seed-1 is installed/);
  assert.is((await curl(A, [`${LOCAL}/containers`])).status, 401, 'the other listener still wants the token');
  assert.match(await agentLogMatching(/127\.0\.0\.1:43274 \(NO TOKEN: insecure\)/), /127\.0\.0\.1:43274 \(NO TOKEN: insecure\)/);
  assert.is((await curl(A, ['-X', 'DELETE', 'http://127.0.0.1:43274/container/seed-1'])).status, 204);
  // The opt-out is per listener and beyond loopback still needs TLS or --insecure-plaintext.
  const r = await sh(A, `${GEAR} daemon --insecure-tokenless-listen 0.0.0.0:43999 --no-socket 2>&1; echo "exit $?"`);
  assert.match(r, /refusing to listen on 0\.0\.0\.0:43999 without TLS/);
});

test('the tokenless listener (the one door without a lock) still refuses a rebinding Host, a foreign Origin and simple requests', async () => {
  // The listener of the previous test: a web page reaching it through DNS rebinding or a cross-site form has no token to lack.
  const before = await sh(A, 'ls /var/lib/gear/containers/ 2>/dev/null; true');
  const open = 'http://127.0.0.1:43274';
  const body = '{"Image":"test/web","Started":true}';
  const cases: [string[], number, RegExp][] = [
    [['-H', 'Host: rebind.evil.example:43274', '-H', 'Content-Type: application/json', '-X', 'PUT', `${open}/container/rebound`, '-d', body], 403, /unexpected Host/],
    [['-H', 'Host: rebind.evil.example', `${open}/containers`], 403, /unexpected Host/],
    [['-H', 'Origin: http://evil.example', '-H', 'Content-Type: application/json', '-X', 'PUT', `${open}/container/crossed`, '-d', body], 403, /cross-origin/],
    [['-H', 'Sec-Fetch-Site: cross-site', `${open}/containers`], 403, /cross-site/],
    [['-X', 'PUT', '-H', 'Content-Type: text/plain', `${open}/container/simple-plain`, '-d', body], 415, /send application\/json/],
    [['-X', 'PUT', `${open}/container/simple-form`, '-d', body], 415, /send application\/json/],
    [['-X', 'POST', '-H', 'Content-Type: text/plain', `${open}/containers/links`, '-d', '{"Links":[]}'], 415, /send application\/json/],
  ];
  for (const [args, status, message] of cases) {
    const r = await curl(A, args);
    assert.is(r.status, status, `${args.join(' ')}: ${r.body}`);
    assert.match(JSON.parse(r.body).Message, message);
  }
  assert.is(await sh(A, 'ls /var/lib/gear/containers/ 2>/dev/null; true'), before, 'nothing was installed');
});

test('token files: a symlink, one not owned by root, or one group-readable is refused', async () => {
  const daemon = (file: string) => sh(A, `${GEAR} daemon --listen 127.0.0.1:43999 --no-socket --token-file ${file} 2>&1; echo "exit $?"`);
  await sh(A, `umask 077; echo ${TOKEN} > /root/good.token; ln -sf /root/good.token /root/link.token; cp /root/good.token /root/nobody.token; chown nobody /root/nobody.token; cp /root/good.token /root/group.token; chmod 640 /root/group.token`);
  const link = await daemon('/root/link.token');
  assert.match(link, /token file \/root\/link\.token: is a symbolic link \(refused\)/);
  assert.match(link, /exit 1/);
  assert.match(await daemon('/root/nobody.token'), /must be owned by root \(it is owned by uid \d+\)/);
  assert.match(await daemon('/root/group.token'), /must not be readable by group or others/);
  // The same holds for the agent's own token file.
  await sh(A, 'chmod 644 /var/lib/gear/token');
  const own = await sh(A, `${GEAR} daemon --listen 127.0.0.1:43999 --no-socket 2>&1; echo "exit $?"`);
  assert.match(own, /token file \/var\/lib\/gear\/token must not be readable by group or others/);
  await sh(A, 'chmod 600 /var/lib/gear/token');
  // The CLI never takes the token on its command line.
  assert.match((await gear(A, ['--token', TOKEN, 'list-units'])).stderr, /unknown option '--token'/);
});

test('TLS across two hosts: the CLI in A reaches B with --ca or the pinned fingerprint, else it refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gear-tls-'));
  const tls = makeCertificate(dir, [ipB], 'b');
  const other = makeCertificate(dir, [ipB], 'other');
  await putFile(B, '/root/b-cert.pem', tls.certPem);
  await putFile(B, '/root/b-key.pem', tls.keyPem);
  await putFile(A, '/root/b-ca.pem', tls.certPem);
  await putFile(A, '/root/other-ca.pem', other.certPem);
  await sh(B, `umask 077; echo ${TOKEN} > /root/gear.token`);
  await sh(A, `umask 077; echo ${TOKEN} > /root/b.token`);
  // Beyond loopback without TLS: refused unless --insecure-plaintext.
  const plain = await sh(B, `${GEAR} daemon --listen ${ipB}:43999 --no-socket --token-file /root/gear.token 2>&1; echo "exit $?"`);
  assert.match(plain, new RegExp(`refusing to listen on ${ipB.replace(/\./g, '\\.')}:43999 without TLS`));
  assert.match(plain, /exit 1/);
  await startAgent(B, ['--listen', `${ipB}:43273`, '--token-file', '/root/gear.token', '--tls-cert', '/root/b-cert.pem', '--tls-key', '/root/b-key.pem']);
  const tlsListening = new RegExp(`https://${ipB.replace(/\./g, '\\.')}:43273 \\(token\\)`);
  assert.match(await journalMatching(B, '-u gear-agent -o cat', tlsListening), tlsListening);
  const cli = (args: string[], env: Record<string, string> = {}) => gear(A, ['--token-file', '/root/b.token', ...args], { env });
  const withCa = await cli(['--ca', '/root/b-ca.pem', 'list-units', ipB]);
  assert.is(withCa.code, 0, withCa.stderr);
  assert.match(withCa.stdout, /^SERVER\s+ID/m);
  const byEnv = await cli(['list-units', ipB], { GEAR_CA: '/root/b-ca.pem' });
  assert.is(byEnv.code, 0, byEnv.stderr);
  const pinned = await cli(['--fingerprint', tls.fingerprint, 'list-units', ipB]);
  assert.is(pinned.code, 0, pinned.stderr);
  // Another CA, no CA, a wrong fingerprint: the handshake is refused, no token sent.
  const wrongCa = await cli(['--ca', '/root/other-ca.pem', 'list-units', ipB]);
  assert.is(wrongCa.code, 1);
  assert.match(wrongCa.stderr, /cannot reach the agent at .*(self.signed|verify|signature)/i);
  const noCa = await cli(['list-units'], { GEAR_AGENT: `https://${ipB}:43273` });
  assert.is(noCa.code, 1);
  assert.match(noCa.stderr, /self.signed certificate/i);
  const wrongPin = await cli(['--fingerprint', other.fingerprint, 'list-units', ipB]);
  assert.is(wrongPin.code, 1);
  assert.match(wrongPin.stderr, /does not match the pinned fingerprint/);
  // No TLS named: the CLI will not send the token in clear text beyond loopback.
  const clear = await cli(['list-units', ipB]);
  assert.is(clear.code, 1);
  assert.match(clear.stderr, /refusing to send the token in clear text/);
  // A plain HTTP client on the TLS listener gets no answer from the API.
  const http = await run(A, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${TOKEN}`, `http://${ipB}:43273/containers`]);
  assert.is.not(http.stdout.trim(), '200');
  assert.not.match(await sh(B, 'journalctl -u gear-agent --no-pager -o cat'), /GET \/containers 401/, 'no request ever reached B without its token');
  await stopAgent(B);
});

test('logs: 50 followers (streamed and JSON) that disconnect leave no journalctl behind', async () => {
  await startAgent(A, ['--listen', '127.0.0.1:43273', '--log-stream-seconds', '120']);
  assert.is((await curl(A, [...SOCK, ...JSON_TYPE, '-X', 'PUT', 'http://agent/container/logs-1', '-d', '{"Image":"test/web","Started":true}'])).status, 204);
  assert.is((await sh(A, 'pgrep -c -x journalctl || true')).trim(), '0');
  const auth = `-H 'Authorization: Bearer ${TOKEN}'`;
  const out = await sh(A, `
    pids=
    for i in $(seq 25); do curl -s -N ${auth} -H 'Accept: text/plain;stream=true' ${LOCAL}/container/logs-1/log >/dev/null & pids="$pids $!"; done
    for i in $(seq 25); do curl -s ${auth} -H 'Accept: application/json' '${LOCAL}/container/logs-1/log?follow=1' >/dev/null & pids="$pids $!"; done
    n=0; for t in $(seq 600); do n=$(pgrep -c -x journalctl); [ "$n" -ge 50 ] && break; sleep 0.2; done
    echo "running $n"
    kill $pids; wait; true`);
  assert.match(out, /running 50/, 'every client had its journal reader');
  // 50 readers ended and reaped: seconds on a loaded machine (6.8 s was seen at load 34), so a wide window.
  const left = await eventually(async () => (await sh(A, 'pgrep -c -x journalctl || true')).trim() === '0', 120_000, 100);
  assert.ok(left, `journalctl left behind: ${await sh(A, 'pgrep -a -x journalctl || true')}`);
});

test('logs: a client that does not read holds the journal reader back, not the agent\'s memory; leaving ends it', async () => {
  // 8000 lines of 200 bytes (under journald's burst limit of 10000): 1.6 MB
  // of text, about 12 MB of journal JSON for the agent to read, far beyond
  // what the socket and pipe buffers hold.
  const cmd = 'trap "exit 0" TERM; i=0; pad=$(printf "%0190d" 0); while [ $i -lt 8000 ]; do echo "chatty $i $pad"; i=$((i+1)); done; while :; do sleep 1; done';
  const built = await run(A, ['sh', '-c', 'docker build -q -t test/chatty - >/dev/null'], { input: `FROM test/web\nCMD ${JSON.stringify(['sh', '-c', cmd])}\n` });
  assert.is(built.code, 0, built.stderr);
  await startAgent(A, ['--listen', '127.0.0.1:43273', '--log-stream-seconds', '600']);
  try {
    assert.is((await curl(A, [...SOCK, ...JSON_TYPE, '-X', 'PUT', 'http://agent/container/chatty', '-d', '{"Image":"test/chatty","Started":true}'])).status, 204);
    const logged = await eventually(async () => Number((await sh(A, 'journalctl -u ctr-chatty -o cat | grep -c "^chatty " || true')).trim()) >= 8000, 60_000, 500);
    assert.ok(logged, 'the container wrote its 8000 lines to the journal');
    assert.is((await sh(A, 'pgrep -c -x journalctl || true')).trim(), '0');
    // A reader of 1 KB/s: the agent must wait for it, with journalctl blocked behind a full pipe.
    await sh(A, `curl -s --limit-rate 1k ${SOCK.join(' ')} 'http://agent/container/chatty/log?lines=8000' > /tmp/slow.out 2>&1 & echo $! > /tmp/slow.pid`);
    await new Promise((r) => setTimeout(r, 8000));
    const pending = (await sh(A, 'pgrep -x journalctl || true')).trim();
    assert.ok(pending, 'journalctl is still there, held back by the slow reader (without backpressure it is read dry and exits in a second or two)');
    const received = Number((await sh(A, 'stat -c %s /tmp/slow.out')).trim());
    assert.ok(received < 1_000_000, `the slow client has read ${received} bytes of 1.6 MB`);
    // The client leaves: its journal reader ends with it.
    await sh(A, 'kill $(cat /tmp/slow.pid)');
    const gone = await eventually(async () => (await sh(A, 'pgrep -c -x journalctl || true')).trim() === '0', 10_000, 100);
    assert.ok(gone, `journalctl left behind: ${await sh(A, 'pgrep -a -x journalctl || true')}`);
    // A client that reads gets every line.
    const all = await run(A, ['sh', '-c', `curl -s ${SOCK.join(' ')} 'http://agent/container/chatty/log?lines=8000' | grep -c '^.*chatty '`]);
    assert.is(all.stdout.trim(), '8000');
  } finally {
    await curl(A, [...SOCK, '-X', 'DELETE', 'http://agent/container/chatty']);
    await stopAgent(A);
  }
});

test('logs: lines is capped, followers are bounded (429), every form ends at the time limit', async () => {
  // The bound with a time limit far beyond the test: the two followers must still stream when the third asks
  // (with 3 s, and a fixed second for them to start, a loaded machine could start them late or end them early).
  await startAgent(A, ['--listen', '127.0.0.1:43273', '--log-stream-seconds', '600', '--max-log-streams', '2']);
  const big = await curl(A, [...bearer(), `${LOCAL}/container/logs-1/log?lines=10001`]);
  assert.is(big.status, 400);
  assert.match(JSON.parse(big.body).Message, /lines must be at most 10000/);
  assert.is((await curl(A, [...bearer(), `${LOCAL}/container/logs-1/log?lines=10000`])).status, 200);
  const out = await sh(A, `
    pids=
    for i in 1 2; do curl -s -N -o /dev/null -H 'Authorization: Bearer ${TOKEN}' -H 'Accept: text/plain;stream=true' ${LOCAL}/container/logs-1/log & pids="$pids $!"; done
    n=0; for t in $(seq 300); do n=$(pgrep -c -x journalctl); [ "$n" -ge 2 ] && break; sleep 0.2; done
    echo "running $n"
    curl -s -w ' %{http_code}' -H 'Authorization: Bearer ${TOKEN}' -H 'Accept: text/plain;stream=true' ${LOCAL}/container/logs-1/log
    kill $pids; wait; true`);
  assert.match(out, /^running 2$/m, 'both followers had their journal reader');
  assert.match(out, /429$/);
  // JSON with follow ends at the same limit (3 s here), as the streamed form does: it ends by itself, long before
  // curl's own limit of 25 s, which is below the default 30 s (a follow that ignored the limit would be cut there).
  await startAgent(A, ['--listen', '127.0.0.1:43273', '--log-stream-seconds', '3', '--max-log-streams', '2']);
  const json = await run(A, ['curl', '-s', '-m', '25', '-w', '\\n%{http_code}', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'Accept: application/json', `${LOCAL}/container/logs-1/log?follow=1`]);
  assert.is(json.code, 0, `the JSON follow ended by itself (curl exit ${json.code})`);
  const cut = json.stdout.lastIndexOf('\n');
  assert.is(json.stdout.slice(cut + 1), '200');
  assert.ok(Array.isArray(JSON.parse(json.stdout.slice(0, cut)).Entries));
  assert.is((await curl(A, [...SOCK, '-X', 'DELETE', 'http://agent/container/logs-1'])).status, 204);
});

test.run();
