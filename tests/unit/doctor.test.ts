import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  acrossHosts,
  cgroupFinding,
  cgroupMode,
  doctorText,
  iptablesBackend,
  rootPropagation,
  stateDirFinding,
  systemdFinding,
  tokenFinding,
  unreadable,
  type DoctorReport,
  type FileFacts,
  type HostAnswer,
} from '../../src/model/doctor.js';

const MOUNTINFO = [
  '225 160 0:74 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/',
  '226 225 0:77 / /proc rw,relatime - proc proc rw',
  '227 225 0:78 / /sys rw,relatime master:3 - sysfs sysfs rw',
].join('\n');

test('rootPropagation: shared, slave, private from the optional fields of the mount at /; the last mount on / counts', () => {
  assert.is(rootPropagation(MOUNTINFO), 'shared');
  assert.is(rootPropagation(MOUNTINFO.replace('shared:1', '')), 'private');
  assert.is(rootPropagation(MOUNTINFO.replace('shared:1', 'master:7')), 'slave');
  assert.is(rootPropagation(`${MOUNTINFO}\n300 225 0:90 / / rw - tmpfs tmpfs rw`), 'private');
  assert.is(rootPropagation('226 225 0:77 / /proc rw - proc proc rw'), undefined);
  assert.is(rootPropagation(''), undefined);
});

test('iptablesBackend and cgroupMode read what the host says', () => {
  assert.equal(iptablesBackend('iptables v1.8.9 (nf_tables)\n'), { version: '1.8.9', backend: 'nft' });
  assert.equal(iptablesBackend('iptables v1.8.7 (legacy)'), { version: '1.8.7', backend: 'legacy' });
  assert.equal(iptablesBackend('iptables v1.6.1'), { version: '1.6.1', backend: 'legacy' });
  assert.is(iptablesBackend('command not found'), undefined);
  assert.is(cgroupMode({ topControllers: true, unified: false }), 'v2');
  assert.is(cgroupMode({ topControllers: false, unified: true }), 'hybrid');
  assert.is(cgroupMode({ topControllers: false, unified: false }), 'v1');
});

test('systemd and cgroup: old systemd a warning; cgroup v1 an error only with a systemd that dropped it', () => {
  assert.is(systemdFinding('252.38-1~deb12u1').Level, 'ok');
  assert.is(systemdFinding('239').Level, 'warning');
  assert.is(systemdFinding(undefined, 'ECONNREFUSED').Level, 'error');
  assert.is(cgroupFinding('v2', '257').Level, 'ok');
  assert.is(cgroupFinding('hybrid', '252').Level, 'ok');
  assert.is(cgroupFinding('v1', '256.1').Level, 'error');
});

const file = (mode: number, extra: Partial<FileFacts> = {}): FileFacts => ({ mode, uid: 0, isDirectory: false, isFile: true, isSymlink: false, ...extra });

test('token file: mode, owner, symlink, missing (configured or not)', () => {
  assert.is(tokenFinding('/t', file(0o100600), true).Level, 'ok');
  assert.is(tokenFinding('/t', file(0o100640), true).Message, 'token file /t has mode 0640: others can read the token');
  assert.is(tokenFinding('/t', file(0o100600, { uid: 1000 }), true).Level, 'error');
  assert.is(tokenFinding('/t', file(0o120777, { isSymlink: true, isFile: false }), true).Level, 'error');
  assert.is(tokenFinding('/t', undefined, true).Level, 'error');
  assert.is(tokenFinding('/t', undefined, false).Level, 'ok');
  assert.is(tokenFinding(undefined, undefined, false).Level, 'ok');
  // Not root: what cannot be examined is said, as a warning, not taken as fine or as broken.
  assert.equal(unreadable('token-file', '/t', 'EACCES'), { Check: 'token-file', Level: 'warning', Message: 'cannot examine /t: EACCES', Fix: 'run gear doctor as root (or ask the agent: gear doctor HOST)' });
});

test('state dir: missing is fine, group-writable or foreign-owned is an error, open env files are named', () => {
  const dir = (mode: number, uid = 0) => file(mode, { isDirectory: true, isFile: false, uid });
  assert.is(stateDirFinding('/s', undefined, []).Level, 'ok');
  assert.is(stateDirFinding('/s', dir(0o40755), []).Level, 'ok');
  assert.is(stateDirFinding('/s', dir(0o40775), []).Level, 'error');
  assert.is(stateDirFinding('/s', dir(0o40755, 5), []).Level, 'error');
  assert.is(stateDirFinding('/s', dir(0o40755), [{ name: 'a.env', facts: file(0o100600) }, { name: 'b.env', facts: file(0o100604) }]).Message, 'environment files readable by others: b.env (0604)');
});

const answer = (host: string, time: number, version = '1.0.0', sent = 1000, received = 1100): HostAnswer => ({
  host,
  report: { Version: version, Time: time, Findings: [] } satisfies DoctorReport,
  sent,
  received,
});

test('acrossHosts: clock skew beyond 2 s (after the round trips) is an error naming who is ahead; versions compared', () => {
  assert.equal(acrossHosts([answer('a', 1050)]), []);
  const same = acrossHosts([answer('a', 1050), answer('b', 1400)]);
  assert.is(same[0]!.Level, 'ok');
  assert.is(same[1]!.Message, 'every agent runs gear 1.0.0');
  const skewed = acrossHosts([answer('a', 1050), answer('b', 1050 + 5000)]);
  assert.is(skewed[0]!.Level, 'error');
  assert.is(skewed[0]!.Message, 'clocks differ by 5.0 s: b is ahead of a');
  // A slow round trip (10 s) leaves 5 s within its uncertainty: not an error.
  assert.is(acrossHosts([answer('a', 6000, '1', 1000, 11000), answer('b', 11000, '1', 1000, 11000)])[0]!.Level, 'ok');
  const versions = acrossHosts([answer('a', 1050, '1.0.0'), answer('b', 1050, '1.1.0'), answer('c', 1050, '1.0.0')]);
  assert.is(versions[1]!.Level, 'warning');
  assert.is(versions[1]!.Message, 'agents run different gear versions: 1.0.0 on a, c; 1.1.0 on b');
});

test('doctorText: per host, fixes under their finding, the counts', () => {
  const text = doctorText([{ host: 'h', findings: [{ Check: 'docker', Level: 'error', Message: 'down', Fix: 'start it' }] }], [{ Check: 'clock-skew', Level: 'ok', Message: 'fine' }]);
  assert.is(text, 'h:\n  error   docker            down\n                            fix: start it\nacross hosts:\n  ok      clock-skew        fine\n1 errors, 0 warnings, 1 ok\n');
});

test.run();
