import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { volumeNameOf } from '../../src/model/volumes.js';
import { TEST_HOST as H, allocatedPort, curl, gear, sh, startAgent, stopAgent } from './harness.js';

/**
 * `gear clean --repair`: every kind of inconsistency planted by hand, next
 * to foreign look-alikes (no gear marks) and a healthy installed container
 * with data in its volume. Dry run lists and changes nothing; repair fixes
 * each gear one and touches nothing else; a second repair finds nothing.
 */

const STATE = '/var/lib/gear';
const UNITS = '/etc/systemd/system';
const GHOST_VOLUME = volumeNameOf('ghost', '/data');
const LOOKALIKE_VOLUME = volumeNameOf('ghost2', '/data');
/** The namespace a leftover process holds (as a namespace that outlived its container would be held). */
const NS = `nsenter -t $(systemctl show -p MainPID --value leftover-netns) -n`;

/** Everything the test looks at, in one listing: compared before and after a dry run. */
const snapshot = () =>
  sh(
    H,
    `find ${STATE} ${UNITS} -path ${STATE}/locks -prune -o -type f -printf '%p %s\\n' | sort; ls ${STATE}/locks | grep -v '\\.lock\\.dead-'; ` +
      `docker ps -a --format '{{.Names}} {{.State}}' | sort; docker volume ls -q | sort; ${NS} iptables-save -t nat | grep -v '^#'`,
  );

/** The lines of `gear clean --repair` naming each planted inconsistency ("fixed" or "would fix"). */
const expected = (verb: string, gonePort: number) => [
  `${verb}: unit file ${UNITS}/ctr-gonedef.service has no definition (no installed container): stop the unit and remove the file`,
  `${verb}: links file ${STATE}/links/ghost.json has no definition (no installed container): remove the file`,
  `${verb}: port ${gonePort} is reserved by gonedef, which is not installed: release the reservation`,
  `${verb}: port 4998 is reserved by ghost, which is not installed: release the reservation`,
  `${verb}: env file ${STATE}/env/gonedef.env is read by no installed container: remove the file`,
  `${verb}: temp file ${STATE}/containers/.0123abcd.tmp is left from an interrupted write: remove the file`,
  `${verb}: container nounit is installed but its unit file ${UNITS}/ctr-nounit.service is gone: render the unit file again from its definition`,
  `${verb}: port 4997 is reserved by keep, whose definition does not list it: release the reservation`,
  `${verb}: container ctr-ghost (`,
  `${verb}: volume ${GHOST_VOLUME} is gear's (ghost /data) but in no record of gear's: record it as a kept volume of ghost`,
  `${verb}: link rules of a gone container: 2 rules in or into gear's chains GEAR-LINKS (nat) in network namespace net:[`,
  `${verb}: lock ${STATE}/locks/phantom.lock is held by a process that is gone: remove the lock`,
  `${verb}: helper container `,
];

const findingLines = (stdout: string) => stdout.split('\n').filter((l) => /^(fixed|would fix): /.test(l));

function assertAllListed(stdout: string, verb: string, gonePort: number): void {
  const lines = findingLines(stdout);
  for (const want of expected(verb, gonePort)) assert.ok(lines.some((l) => l.startsWith(want)), `missing "${want}" in:\n${stdout}`);
  assert.is(lines.length, expected(verb, gonePort).length, stdout);
  assert.not.match(stdout, /foreign|lookalike|OTHER-LINKS|ghost2|ctr-keep|volume gear\.keep/);
}

let gonePort = 0;
let keepStarted = '';
let nounitUnit = '';

test('setup: a healthy container with data and links, then every inconsistency and its foreign look-alikes, planted by hand', async () => {
  // The host is shared with earlier test files: start from a repaired one, so what is found below is what is planted here.
  assert.is((await gear(H, ['clean', '--repair'])).code, 0);
  const keep = await gear(H, ['install', 'test/web', 'keep', '-p', '8080:0', '-v', '/data', '-n', '127.0.0.2:8081:10.250.0.1:9', '--start']);
  assert.is(keep.code, 0, keep.stderr);
  await sh(H, 'docker exec ctr-keep sh -c "echo precious > /data/file"');
  keepStarted = (await sh(H, "docker inspect -f '{{.State.StartedAt}}' ctr-keep")).trim();
  const gone = await gear(H, ['install', 'test/web', 'gonedef', '-p', '8080:0']);
  assert.is(gone.code, 0, gone.stderr);
  gonePort = allocatedPort(gone.stdout);
  assert.is((await gear(H, ['install', 'test/web', 'nounit'])).code, 0);
  nounitUnit = await sh(H, `cat ${UNITS}/ctr-nounit.service`);
  await sh(
    H,
    [
      // Units without state, state without units.
      `rm ${STATE}/containers/gonedef.json ${UNITS}/ctr-nounit.service`,
      // Ports of nobody, and one of an installed container its definition does not list.
      `echo ghost > ${STATE}/ports/4998`,
      `echo keep > ${STATE}/ports/4997`,
      `echo '{"Id":"ghost","NetworkLinks":[]}' > ${STATE}/links/ghost.json`,
      // A gear container and a gear volume (with data) of a name that is not installed.
      'docker run -d --name ctr-ghost --label io.gear.container=ghost test/web >/dev/null',
      `docker volume create --label io.gear.volume=1 --label io.gear.container=ghost --label io.gear.path=/data ${GHOST_VOLUME} >/dev/null`,
      `echo ghostdata > $(docker volume inspect -f '{{.Mountpoint}}' ${GHOST_VOLUME})/f`,
      // The volume filler of an isolated install killed before it removed it (never started).
      'docker create --label io.gear.copy-up=cu-ghost test/web >/dev/null',
      // A temp file of an interrupted atomic write, a lock of a dead process.
      `touch -d '2 minutes ago' ${STATE}/containers/.0123abcd.tmp`,
      `mkdir -p ${STATE}/locks/phantom.lock && echo "999999 1 $(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \\n')" > ${STATE}/locks/phantom.lock/owner`,
      // Link rules in gear's chain of a namespace no container owns any more, and someone else's chain there.
      // Type=exec: systemd-run returns once sleep runs, so its namespace exists before nsenter enters it (with
      // `unshare -n sleep` and a fixed 0.3 s wait, a slow unshare let the rules land in the host's namespace).
      'systemd-run --unit=leftover-netns -p Type=exec -p PrivateNetwork=yes sleep 600 >/dev/null',
      `${NS} sh -c 'iptables -t nat -N GEAR-LINKS && iptables -t nat -A OUTPUT -j GEAR-LINKS && iptables -t nat -A GEAR-LINKS -d 127.0.0.9/32 -p tcp --dport 9999 -j DNAT --to-destination 10.250.0.99:9'`,
      `${NS} sh -c 'iptables -t nat -N OTHER-LINKS && iptables -t nat -A OUTPUT -j OTHER-LINKS && iptables -t nat -A OTHER-LINKS -d 127.0.0.9/32 -p tcp --dport 9998 -j DNAT --to-destination 10.250.0.99:9'`,
      // Foreign look-alikes: no gear marks.
      'docker run -d --name foreign-web test/web >/dev/null',
      'docker run -d --name ctr-lookalike test/web >/dev/null',
      'docker volume create foreign-vol >/dev/null',
      `docker volume create --label io.gear.container=ghost2 ${LOOKALIKE_VOLUME} >/dev/null`,
      `printf '[Service]\\nExecStart=/bin/true\\n' > ${UNITS}/ctr-foreign.service`,
    ].join(' && '),
  );
});

test('clean --repair --dry-run lists each planted inconsistency with its fix, none of the foreign ones, and changes nothing', async () => {
  const before = await snapshot();
  const r = await gear(H, ['clean', '--repair', '--dry-run']);
  assert.is(r.code, 0, r.stderr);
  assertAllListed(r.stdout, 'would fix', gonePort);
  assert.is(await snapshot(), before);
});

test("clean --repair fixes each one, leaves every foreign one alone, and the healthy container keeps running with its data", async () => {
  const r = await gear(H, ['clean', '--repair']);
  assert.is(r.code, 0, r.stderr);
  assertAllListed(r.stdout, 'fixed', gonePort);
  // Fixed: gone, released, re-rendered, recorded.
  const files = await sh(
    H,
    `for f in ${UNITS}/ctr-gonedef.service ${STATE}/ports/${gonePort} ${STATE}/ports/4998 ${STATE}/ports/4997 ${STATE}/env/gonedef.env ${STATE}/links/ghost.json ${STATE}/containers/.0123abcd.tmp ${STATE}/locks/phantom.lock; do test -e $f && echo "still there: $f"; done; true`,
  );
  assert.is(files, '');
  assert.is(await sh(H, `cat ${UNITS}/ctr-nounit.service`), nounitUnit);
  assert.is((await sh(H, 'systemctl show -p LoadState --value ctr-nounit.service')).trim(), 'loaded');
  assert.is((await sh(H, "docker ps -a --filter name=^ctr-ghost$ --format '{{.Names}}'")).trim(), '');
  assert.is((await sh(H, 'docker ps -aq --filter label=io.gear.copy-up')).trim(), '', 'the volume filler is gone');
  assert.match(r.stdout, /^fixed: helper container [0-9a-f]{12} of cu-ghost, made to fill its volumes, is left from an install that did not finish: remove the container \(volumes are not touched\)$/m);
  // The unrecorded gear volume keeps its data, now listed as kept.
  assert.is((await sh(H, `cat $(docker volume inspect -f '{{.Mountpoint}}' ${GHOST_VOLUME})/f`)).trim(), 'ghostdata');
  assert.match(await sh(H, `cat ${STATE}/kept-volumes/ghost.json`), GHOST_VOLUME);
  const nat = await sh(H, `${NS} iptables-save -t nat`);
  assert.not.match(nat, /GEAR-LINKS/);
  assert.match(nat, /-A OTHER-LINKS -d 127\.0\.0\.9\/32 -p tcp -m tcp --dport 9998 -j DNAT/);
  assert.match(nat, /-A OUTPUT -j OTHER-LINKS/);
  // Foreign ones untouched.
  assert.is(await sh(H, "docker ps --filter name=foreign-web --filter name=ctr-lookalike --format '{{.Names}}' | sort"), 'ctr-lookalike\nforeign-web\n');
  assert.ok((await sh(H, 'docker volume ls -q')).split('\n').includes('foreign-vol'));
  assert.ok((await sh(H, 'docker volume ls -q')).split('\n').includes(LOOKALIKE_VOLUME));
  assert.is(await sh(H, `cat ${UNITS}/ctr-foreign.service`), '[Service]\nExecStart=/bin/true\n');
  // The healthy container: same run, its data, its links.
  assert.is((await sh(H, "docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' ctr-keep")).trim(), `true ${keepStarted}`);
  assert.is((await sh(H, 'docker exec ctr-keep cat /data/file')).trim(), 'precious');
  assert.match(await sh(H, "nsenter -t $(docker inspect -f '{{.State.Pid}}' ctr-keep) -n iptables-save -t nat"), /-A GEAR-LINKS -d 127\.0\.0\.2\/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10\.250\.0\.1:9/);
  assert.is((await sh(H, 'systemctl is-active ctr-keep')).trim(), 'active');
});

test('a second repair finds nothing; the kept volume is listed as kept', async () => {
  const r = await gear(H, ['clean', '--repair']);
  assert.is(r.code, 0, r.stderr);
  assert.is(findingLines(r.stdout).length, 0, r.stdout);
  assert.match(r.stdout, /^nothing to repair$/m);
  assert.match(r.stdout, new RegExp(`kept volume ${GHOST_VOLUME.replace(/\./g, '\\.')} \\(ghost /data; \`gear delete ghost\` removes it\\)`));
  const json = JSON.parse((await gear(H, ['clean', '--repair', '--dry-run', '--json'])).stdout) as { Findings: unknown[] };
  assert.equal(json.Findings, []);
});

test('the API: POST /clean?repair=1 (and &dry-run=1) answers the findings as JSON', async () => {
  // Planted after the agent started: at its start the agent cleans what interrupted installs left.
  await startAgent(H);
  try {
    await sh(H, 'docker run -d --name ctr-ghost3 --label io.gear.container=ghost3 test/web >/dev/null');
    const post = (query: string) => curl(H, ['--unix-socket', '/run/gear/gear.sock', '-H', 'Accept: application/json', '-X', 'POST', `http://agent/clean?${query}`]);
    const dry = await post('repair=1&dry-run=1');
    assert.is(dry.status, 200, dry.body);
    const listed = JSON.parse(dry.body) as { DryRun: boolean; Findings: { Problem: string; Fix: string; Fixed: boolean }[] };
    assert.is(listed.DryRun, true);
    assert.is(listed.Findings.length, 1, dry.body);
    assert.match(listed.Findings[0]!.Problem, /^container ctr-ghost3 \([0-9a-f]{12}\) is gear's, of ghost3, which is not installed$/);
    assert.is(listed.Findings[0]!.Fixed, false);
    assert.is((await sh(H, "docker ps -a --filter name=^ctr-ghost3$ --format '{{.Names}}'")).trim(), 'ctr-ghost3');
    const fixed = await post('repair=1');
    assert.is(fixed.status, 200, fixed.body);
    const done = JSON.parse(fixed.body) as { Findings: { Fixed: boolean }[] };
    assert.equal(done.Findings.map((f) => f.Fixed), [true]);
    assert.is((await sh(H, "docker ps -a --filter name=^ctr-ghost3$ --format '{{.Names}}'")).trim(), '');
    const bad = await post('repair=yes');
    assert.is(bad.status, 400);
    assert.match(bad.body, /repair must be 1 or 0/);
  } finally {
    await stopAgent(H);
    await sh(H, 'docker rm -f ctr-ghost3 >/dev/null 2>&1; true');
  }
});

test('teardown: delete what the test made (the kept ghost volume by an explicit delete)', async () => {
  assert.is((await gear(H, ['delete', 'keep', 'nounit', 'ghost'])).code, 0);
  await sh(
    H,
    `systemctl stop leftover-netns; docker rm -f foreign-web ctr-lookalike >/dev/null; docker volume rm foreign-vol ${LOOKALIKE_VOLUME} >/dev/null; rm -f ${UNITS}/ctr-foreign.service; true`,
  );
  assert.is((await sh(H, `docker volume ls -q | grep -c '^gear\\.ghost\\.' ; true`)).trim(), '0');
});

test.run();
