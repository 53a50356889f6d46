import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPortMapping, listeningPorts, parsePortFlag, parsePortRange, validatePorts } from '../../src/model/ports.js';
import { install } from '../../src/operations/install.js';
import { HostFs } from '../../src/host/fs.js';
import { PortReservations } from '../../src/host/ports.js';

const installPorts = (Ports: unknown) => install.parse({ params: { id: 'p' }, query: {}, body: { Image: 'test/web', Ports } }).Ports;

test('-p flags: INTERNAL:EXTERNAL, EXTERNAL 0 or missing allocates', () => {
  assert.equal(parsePortFlag('8080:0'), { Internal: 8080, External: 0 });
  assert.equal(parsePortFlag('8080'), { Internal: 8080, External: 0 });
  assert.equal(parsePortFlag('8080:4500'), { Internal: 8080, External: 4500 });
  for (const bad of ['0:1', '8080:70000', 'a:b', '1:2:3', '-1:0', ':80', '80: 1']) assert.throws(() => parsePortFlag(bad), /port/);
});

test('API port lists: duplicates refused', () => {
  assert.equal(validatePorts([{ Internal: 8080 }]), [{ Internal: 8080, External: 0 }]);
  assert.throws(() => validatePorts([{ Internal: 8080 }, { Internal: 8080 }]), /listed twice/);
  assert.throws(() => validatePorts([{ Internal: 1, External: 5 }, { Internal: 2, External: 5 }]), /listed twice/);
  // Types are the schema's (checked in install's parse before validatePorts).
  assert.throws(() => installPorts([{ Internal: '8080' }].map(() => 'x')), /object/);
  assert.throws(() => installPorts({}), /list/);
  assert.throws(() => installPorts([{ Internal: 1.5 }]), /Ports\[0\]\.Internal must be an integer 1-65535/);
});

test('port ranges', () => {
  assert.equal(parsePortRange('4000-60000'), { first: 4000, last: 60000 });
  assert.throws(() => parsePortRange('5-4'), /empty/);
  assert.throws(() => parsePortRange('4000'), /FIRST-LAST/);
});

test('X-PortMapping format', () => {
  assert.is(formatPortMapping([{ Internal: 8080, External: 4000 }, { Internal: 22, External: 4001 }]), '8080:4000,22:4001');
});

test('listening ports come from /proc/net/tcp LISTEN rows only', () => {
  const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0FA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
`;
  assert.equal([...listeningPorts(text)], [4000]);
  const v6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
`;
  assert.equal([...listeningPorts(v6)], [8080]);
});

test.run();

test('allocation skips the ports browsers refuse (4045, 5060, 6665-6669, ...); one asked for by number is given', async () => {
  const ports = new PortReservations(new HostFs(mkdtempSync(join(tmpdir(), 'gear-ports-'))), '/var/lib/gear/ports', { first: 4044, last: 4046 });
  const got = await ports.reserve('web', [{ Internal: 8080, External: 0 }, { Internal: 9090, External: 0 }]);
  assert.equal(got, [{ Internal: 8080, External: 4044 }, { Internal: 9090, External: 4046 }]);
  const asked = await ports.reserve('irc', [{ Internal: 6667, External: 4045 }]);
  assert.equal(asked, [{ Internal: 6667, External: 4045 }]);
  const six = new PortReservations(new HostFs(mkdtempSync(join(tmpdir(), 'gear-ports-'))), '/var/lib/gear/ports', { first: 6664, last: 6670 });
  const two = await six.reserve('x', [{ Internal: 1, External: 0 }, { Internal: 2, External: 0 }]);
  assert.equal(two.map((p) => p.External), [6664, 6670]);
});
