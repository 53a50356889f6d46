import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { balancesOver, drainedTarget, openConnections, parseDrain } from '../../src/model/drain.js';
import { updateText } from '../../src/operations/update.js';

test('a drain file is read back only when it is one', () => {
  assert.equal(parseDrain({ Id: 'web-1', Ports: [4001], Pid: 12 }, 'web-1'), { Id: 'web-1', Ports: [4001], Pid: 12 });
  assert.is(parseDrain({ Id: 'web-2', Ports: [4001], Pid: 12 }, 'web-1'), undefined, 'another container\'s');
  assert.is(parseDrain({ Id: 'web-1', Ports: [0], Pid: 12 }, 'web-1'), undefined);
  assert.is(parseDrain({ Id: 'web-1', Ports: ['4001'], Pid: 12 }, 'web-1'), undefined);
  assert.is(parseDrain({ Id: 'web-1', Ports: [4001], Pid: -1 }, 'web-1'), undefined);
  assert.is(parseDrain(null, 'web-1'), undefined);
});

test('a drained target is a published port of it on this host, by localhost or one of the host\'s addresses', () => {
  const is = drainedTarget([{ Id: 'web-1', Ports: [4001], Pid: 1 }], new Set(['10.250.0.5', '172.17.0.1']));
  const t = (ToHost: string, ToIp: string, ToPort: number) => is({ FromHost: '127.0.0.2', FromPort: 80, ToHost, ToPort, ToIp });
  assert.ok(t('localhost', '172.17.0.1', 4001));
  assert.ok(t('10.250.0.5', '10.250.0.5', 4001));
  assert.ok(t('hosta.example', '10.250.0.5', 4001), 'a name that resolves to this host');
  assert.not.ok(t('10.250.0.6', '10.250.0.6', 4001), 'the same port on another host');
  assert.not.ok(t('localhost', '172.17.0.1', 4002));
});

test('links a drain must change (or refuse): a link of several targets with one of its ports, on any host', () => {
  const l = (FromPort: number, ToHost: string, ToPort: number) => ({ FromHost: '127.0.0.2', FromPort, ToHost, ToPort });
  assert.ok(balancesOver([l(80, 'localhost', 4001), l(80, 'localhost', 4002)], [4001]));
  assert.ok(balancesOver([l(80, 'gone.example', 4001), l(80, 'localhost', 4002)], [4001]), 'a name that may not resolve any more');
  assert.not.ok(balancesOver([l(80, 'localhost', 4001), l(81, 'localhost', 4002)], [4001]), 'its only target: the drain leaves it as it is');
  assert.not.ok(balancesOver([l(80, 'localhost', 4003), l(80, 'localhost', 4002)], [4001]), 'leads elsewhere');
  assert.not.ok(balancesOver([], [4001]));
});

test('open connections: established or being made, to the port, not from loopback (v4 and v6 text of /proc/PID/net/tcp, the container\'s or the host\'s)', () => {
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const v4 = [
    head,
    '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0', // listening
    '   1: 030011AC:1F90 010011AC:B3C2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1', // 172.17.0.1 -> :8080, established
    '   2: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1', // health check on localhost
    '   3: 030011AC:1F90 010011AC:B3C4 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0 0 0 0 0 0', // TIME_WAIT
    '   4: 030011AC:9C40 010011AC:B3C6 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1', // another port
  ].join('\n');
  assert.is(openConnections(v4, new Set([8080])), 1);
  // Being made counts: a SYN the replaced rules sent here (SYN_RECV, as the kernel lists a request).
  const syn = '   5: 030011AC:1F90 010011AC:B3C8 03 00000000:00000000 02:000000C8 00000000     0        0 0 1 0 0 0 0 0 0';
  assert.is(openConnections(`${v4}\n${syn}`, new Set([8080])), 2);
  // The host's side: docker-proxy's end of a connection from a client container (172.17.0.4) to the
  // published port 4001, accepted before the proxy connected on; the proxy's own connection out does not count.
  const host = [
    head,
    '   0: 00000000:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8 1 0 100 0 0 10 0', // listening on 4001
    '   1: 010011AC:0FA1 040011AC:9A10 01 00000000:00000000 00:00000000 00000000     0        0 9 1 0 20 4 30 10 -1', // 172.17.0.4 -> :4001
    '   2: 010011AC:E2A0 030011AC:1F90 01 00000000:00000000 00:00000000 00000000     0        0 10 1 0 20 4 30 10 -1', // proxy -> 172.17.0.3:8080
  ].join('\n');
  assert.is(openConnections(host, new Set([4001])), 1);
  const v6 = [
    head,
    '   0: 0000000000000000FFFF0000030011AC:1F90 0000000000000000FFFF0000010011AC:B3C2 01 00000000:00000000 00:00000000 00000000 0 0 5 1',
    '   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:B3C2 01 00000000:00000000 00:00000000 00000000 0 0 6 1',
    '   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:B3C2 01 00000000:00000000 00:00000000 00000000 0 0 7 1',
  ].join('\n');
  assert.is(openConnections(v6, new Set([8080])), 1);
  assert.is(openConnections('', new Set([8080])), 0);
});

test('the update\'s answer says which links left it out, how its connections ended, and what could not be put back', () => {
  const base = { Id: 'web-1', From: { Image: 'test/web', ImageId: 'sha256:0123456789abcdef' }, To: { Image: 'test/web:2', ImageId: 'sha256:fedcba9876543210' }, Gate: 'healthy' };
  assert.is(updateText(base), 'updated web-1: test/web (0123456789ab) -> test/web:2 (fedcba987654): healthy\n');
  assert.is(
    updateText({ ...base, Drained: { From: ['client', 'other'], Open: 0, WaitedMs: 230, Failed: [] } }),
    'updated web-1: test/web (0123456789ab) -> test/web:2 (fedcba987654): healthy\n  out of the links of client, other while it restarted (its connections ended in 0.2 s); back in\n',
  );
  assert.match(updateText({ ...base, Drained: { From: ['client'], Open: 2, WaitedMs: 10_000, Failed: ['c2: links not applied: pid 9 is gone'] } }), /\(2 connections still open after 10\.0 s\); back in\n {2}warning: links of c2: links not applied: pid 9 is gone\n$/);
});

test.run();
