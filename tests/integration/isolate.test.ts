import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, allocatedPort, curl, eventually, gear, hostIp, httpGet, putFile, run, sh, startAgent, stateListing, stopAgent, testhost } from './harness.js';

// Isolated containers on a real host (install --isolate, Isolate: true):
// each runs as a host user of its own (ctr-NAME, a uid from gear's range)
// without capabilities; the uid is kept through re-install, update and
// restarts and given back by delete; the volumes gear makes are the uid's,
// and their data stays; images that cannot run that way are refused.

const FIRST_UID = 70000;

/** `id` inside the container, as Docker runs it. */
const idIn = async (name: string) => (await sh(H, `docker exec ctr-${name} id`)).trim();

/** The uid recorded in the container's definition. */
const uidOf = async (name: string): Promise<number> => JSON.parse(await sh(H, `cat /var/lib/gear/containers/${name}.json`)).Isolation.Uid;

/** The container of this start runs (a restart replaces it). */
async function runningAgain(name: string, before: string): Promise<string> {
  const id = await eventually(async () => {
    const out = (await sh(H, `docker inspect -f '{{.Id}} {{.State.Running}}' ctr-${name} 2>/dev/null || true`)).trim();
    return out.endsWith(' true') && !out.startsWith(before) ? out.split(' ')[0] : undefined;
  }, 90_000, 250);
  assert.ok(id, `ctr-${name} did not run again`);
  return id as string;
}

const containerId = async (name: string) => (await sh(H, `docker inspect -f '{{.Id}}' ctr-${name}`)).trim();

test.before(async () => {
  // An image with a VOLUME that holds a file (Docker copies it into a new volume), and one with a USER of its own.
  await sh(H, 'mkdir -p /tmp/isovol /tmp/isouser');
  await putFile(H, '/tmp/isovol/Dockerfile', 'FROM test/web\nRUN mkdir -p /data && echo seed > /data/seed\nVOLUME /data\n');
  await putFile(H, '/tmp/isouser/Dockerfile', 'FROM test/web\nUSER nobody\n');
  await sh(H, 'docker build -q -t test/isovol /tmp/isovol >/dev/null && docker build -q -t test/isouser /tmp/isouser >/dev/null && docker tag test/web test/web:2');
});

test('install --isolate --start: the container runs as its own non-root host user, ctr-NAME, from the range; status and the unit say so', async () => {
  const r = await gear(H, ['install', 'test/web', 'iso-1', '--isolate', '--start', '-p', '8080:0']);
  assert.is(r.code, 0, r.stderr);
  const uid = await uidOf('iso-1');
  assert.ok(uid >= FIRST_UID && uid < FIRST_UID + 10000, String(uid));
  assert.match(r.stdout, new RegExp(`^iso-1 runs as ctr-iso-1 \\(uid ${uid}, gid ${uid}\\), no SELinux label \\(SELinux is disabled on this host\\)$`, 'm'));
  assert.is(await idIn('iso-1'), `uid=${uid} gid=${uid} groups=${uid}`);
  // The host knows the user: a sysadmin's ps and id name it.
  assert.is((await sh(H, 'id ctr-iso-1')).trim(), `uid=${uid}(ctr-iso-1) gid=${uid}(ctr-iso-1) groups=${uid}(ctr-iso-1)`);
  assert.match(await sh(H, 'getent passwd ctr-iso-1'), new RegExp(`^ctr-iso-1:x:${uid}:${uid}:gear container iso-1:/nonexistent:/usr/sbin/nologin$`, 'm'));
  assert.match(await sh(H, 'ps -o user:12=,args= -u ctr-iso-1'), /^ctr-iso-1 +\/bin\/busybox httpd/m);
  // It serves as before.
  const page = await eventually(() => httpGet(`http://${hostIp(H)}:${allocatedPort(r.stdout)}/`));
  assert.ok(page && page.body === 'hello from test/web\n');
  assert.match((await gear(H, ['status', 'iso-1'])).stdout, new RegExp(`^ Isolated: runs as ctr-iso-1 \\(uid ${uid}, gid ${uid}\\), no SELinux label \\(SELinux is disabled on this host\\)$`, 'm'));
  const execStart = await sh(H, 'systemctl show -p ExecStart --value ctr-iso-1');
  assert.match(execStart, new RegExp(`--user ${uid}:${uid} --cap-drop ALL --security-opt no-new-privileges test/web`));
  assert.is((await sh(H, `cat /var/lib/gear/uids/${uid}`)).trim(), 'iso-1');
});

test('the container cannot do root things: no write to /, no capabilities, no way back to root', async () => {
  const root = await sh(H, "docker exec ctr-iso-1 sh -c 'touch /owned 2>&1; echo exit=$?'");
  assert.match(root, /Permission denied[\s\S]*exit=1/);
  const status = await sh(H, 'docker exec ctr-iso-1 cat /proc/1/status');
  assert.match(status, /^CapEff:\s+0+$/m);
  assert.match(status, /^CapBnd:\s+0+$/m);
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  // Not even on the host's side: the process is not root there either.
  const pid = (await sh(H, "docker inspect -f '{{.State.Pid}}' ctr-iso-1")).trim();
  assert.match(await sh(H, `cat /proc/${pid}/status`), new RegExp(`^Uid:\\s+${await uidOf('iso-1')}\\s`, 'm'));
});

test('two isolated containers get different uids; the gear volume is the uid\'s: written, and the data survives restart, reinstall and update', async () => {
  const r = await gear(H, ['install', 'test/isovol', 'iso-2', '--isolate', '--start', '-v', '/more']);
  assert.is(r.code, 0, r.stderr);
  const [uid1, uid2] = [await uidOf('iso-1'), await uidOf('iso-2')];
  assert.is.not(uid1, uid2);
  assert.is(await idIn('iso-2'), `uid=${uid2} gid=${uid2} groups=${uid2}`);
  // The image's content was copied into the new volume, and the volume and its files given to the uid.
  assert.is((await sh(H, 'docker exec ctr-iso-2 cat /data/seed')).trim(), 'seed');
  assert.match(await sh(H, 'docker exec ctr-iso-2 ls -ldn /data /data/seed /more'), new RegExp(`^d\\S+ +\\d+ ${uid2} +${uid2} .* /data$[\\s\\S]*^-\\S+ +\\d+ ${uid2} +${uid2} .* /data/seed$[\\s\\S]*^d\\S+ +\\d+ ${uid2} +${uid2} .* /more$`, 'm'));
  await sh(H, "docker exec ctr-iso-2 sh -c 'echo precious > /data/mine && echo also > /more/mine'");

  const read = async () => (await sh(H, 'docker exec ctr-iso-2 cat /data/mine /more/mine')).trim();
  // A restart through gear, and one by systemd alone (as at boot, or Restart= after a crash).
  let before = await containerId('iso-2');
  assert.is((await gear(H, ['restart', 'iso-2'])).code, 0);
  before = await runningAgain('iso-2', before);
  await sh(H, 'docker kill ctr-iso-2 >/dev/null');
  before = await runningAgain('iso-2', before);
  assert.is(await idIn('iso-2'), `uid=${uid2} gid=${uid2} groups=${uid2}`);
  assert.is(await read(), 'precious\nalso');
  // A re-install without the flag (geard's client sends Isolate false on every install) keeps it isolated.
  const again = await gear(H, ['install', 'test/isovol', 'iso-2', '-v', '/more']);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`iso-2 updated and restarted\\niso-2 runs as ctr-iso-2 \\(uid ${uid2}, gid ${uid2}\\)`));
  before = await runningAgain('iso-2', before);
  assert.is(await idIn('iso-2'), `uid=${uid2} gid=${uid2} groups=${uid2}`);
  assert.is(await read(), 'precious\nalso');
  // The image's seed is still the one copied at install, and still the uid's.
  assert.match(await sh(H, 'docker exec ctr-iso-2 ls -ln /data/seed'), new RegExp(` ${uid2} +${uid2} `));
  assert.is((await sh(H, 'docker exec ctr-iso-2 cat /data/seed')).trim(), 'seed');
  // An update to another image: same uid, same data.
  const up = await gear(H, ['update', 'iso-1', '--image', 'test/web:2']);
  assert.is(up.code, 0, up.stderr);
  assert.is(await uidOf('iso-1'), uid1);
  assert.is(await idIn('iso-1'), `uid=${uid1} gid=${uid1} groups=${uid1}`);
  // systemd alone restarts it (a reboot's start): the same user, and the data.
  await sh(H, 'systemctl restart ctr-iso-2');
  await runningAgain('iso-2', before);
  assert.is(await idIn('iso-2'), `uid=${uid2} gid=${uid2} groups=${uid2}`);
  assert.is(await read(), 'precious\nalso');
});

test('a reboot of the host: the boot starts it as the same user, its volume data there', async () => {
  // A host of its own: a rebootable one keeps its upper layer on disk (tests/host/README.md).
  const R = `${H}-boot`;
  testhost(['down', R]);
  testhost(['up', R, String(Number(hostIp(H).split('.')[3]) + 3), '--persistent']);
  try {
    await sh(R, "printf 'FROM test/web\\nRUN mkdir /data\\nVOLUME /data\\n' | docker build -q -t test/isoboot - >/dev/null");
    const r = await gear(R, ['install', 'test/isoboot', 'iso-r', '--isolate', '--start']);
    assert.is(r.code, 0, r.stderr);
    const uid = JSON.parse(await sh(R, 'cat /var/lib/gear/containers/iso-r.json')).Isolation.Uid;
    await sh(R, 'docker exec ctr-iso-r sh -c "echo before-reboot > /data/mine"');
    const booted = () => sh(R, 'systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target');
    const before = await booted();
    testhost(['reboot', R]);
    assert.is.not(await booted(), before, 'a new boot');
    // Enabled under gear.target: the boot starts it again, by systemd alone.
    const id = await eventually(async () => (await run(R, ['docker', 'exec', 'ctr-iso-r', 'id'])).stdout.trim() || undefined, 240_000, 250);
    assert.is(id, `uid=${uid} gid=${uid} groups=${uid}`);
    assert.is((await sh(R, 'id -un ' + uid)).trim(), 'ctr-iso-r');
    assert.is((await sh(R, 'docker exec ctr-iso-r cat /data/mine')).trim(), 'before-reboot');
  } finally {
    testhost(['down', R]);
  }
});

test('bad input changes nothing: --isolate with another value than true/false, an image with a USER of its own, a host user of the name not gear\'s', async () => {
  await sh(H, 'useradd --system --no-create-home ctr-iso-taken');
  const before = await stateListing(H);
  const users = await sh(H, 'getent passwd | sort');
  const cases: [string[], RegExp][] = [
    [['install', 'test/web', 'iso-bad', '--isolate=yes'], /^gear: --isolate takes true or false, not "yes"$/],
    [['install', 'test/web', 'iso-bad', '--isolate=$(reboot)'], /^gear: --isolate takes true or false, not "\$\(reboot\)"$/],
    [['install', 'test/isouser', 'iso-bad', '--isolate', '--start'], /^gear: iso-bad: image test\/isouser runs as its own user "nobody" \(USER in the image\): --isolate would run it as another uid, which its files are not made for; install it without --isolate$/],
    // Not even on a re-install: an isolated container's new image is checked too.
    [['install', 'test/isouser', 'iso-1'], /^gear: iso-1: image test\/isouser runs as its own user "nobody"/],
    // A host user of that name that is not gear's is left alone.
    [['install', 'test/web', 'iso-taken', '--isolate'], /^gear: iso-taken: host user ctr-iso-taken exists \(uid [0-9]+\) and is not gear's user of this container$/],
  ];
  for (const [args, message] of cases) {
    const r = await gear(H, args);
    assert.is(r.code, 1, args.join(' '));
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
  }
  assert.is(await stateListing(H), before);
  assert.is(await sh(H, 'getent passwd | sort'), users);
  assert.is(await sh(H, 'docker inspect -f {{.Config.Image}} ctr-iso-1'), 'test/web:2\n');
  await sh(H, 'userdel ctr-iso-taken');
});

test('a name a user name cannot hold (upper case, a dot) gets host user gear-UID, named in its comment; delete removes it', async () => {
  const r = await gear(H, ['install', 'test/web', 'Iso.Odd', '--isolate', '--start']);
  assert.is(r.code, 0, r.stderr);
  const uid = await uidOf('Iso.Odd');
  assert.match(r.stdout, new RegExp(`^Iso\\.Odd runs as gear-${uid} \\(uid ${uid}, gid ${uid}\\)`, 'm'));
  assert.match(await sh(H, `getent passwd gear-${uid}`), new RegExp(`^gear-${uid}:x:${uid}:${uid}:gear container Iso\\.Odd:`));
  assert.is(await idIn('Iso.Odd'), `uid=${uid} gid=${uid} groups=${uid}`);
  assert.is((await gear(H, ['delete', 'Iso.Odd'])).code, 0);
  assert.is((await sh(H, `getent passwd gear-${uid} || echo none`)).trim(), 'none');
});

test('the API: Isolate true isolates, anything but a boolean is 400', async () => {
  await startAgent(H);
  try {
    const sock = ['--unix-socket', '/run/gear/gear.sock', '-H', 'Content-Type: application/json'];
    const bad = await curl(H, [...sock, '-X', 'PUT', '-d', '{"Image":"test/web","Isolate":"yes"}', 'http://agent/container/iso-api']);
    assert.is(bad.status, 400);
    assert.match(JSON.parse(bad.body).Message, /body\/Isolate must be true or false/);
    const r = await curl(H, [...sock, '-H', 'Accept: application/json', '-X', 'PUT', '-d', '{"Image":"test/web","Isolate":true,"Started":true}', 'http://agent/container/iso-api']);
    assert.is(r.status, 200, r.body);
    const body = JSON.parse(r.body);
    const uid = await uidOf('iso-api');
    assert.equal(body.Isolation, { Uid: uid, Gid: uid, User: 'ctr-iso-api' });
    assert.is(body.SELinux, 'disabled');
    assert.is(await idIn('iso-api'), `uid=${uid} gid=${uid} groups=${uid}`);
  } finally {
    await stopAgent(H);
  }
});

test('deploy --isolate installs every instance isolated', async () => {
  await putFile(H, '/root/isod.json', JSON.stringify({ containers: [{ name: 'isod', image: 'test/web', count: 2 }] }));
  const r = await sh(H, `cd /root && ${GEAR} deploy isod.json --isolate`);
  assert.match(r, /deployed: wrote isod\.json\./);
  const uids = [await uidOf('isod-1'), await uidOf('isod-2')];
  assert.is(new Set(uids).size, 2);
  for (const [i, uid] of uids.entries()) assert.is(await eventually(async () => (await idIn(`isod-${i + 1}`).catch(() => '')) || undefined, 60_000, 250), `uid=${uid} gid=${uid} groups=${uid}`);
});

test('six isolated installs in one command: six distinct uids and host users, none shared; deleted together, all given back', async () => {
  const names = ['iso-b1', 'iso-b2', 'iso-b3', 'iso-b4', 'iso-b5', 'iso-b6'];
  const before = (await sh(H, 'ls /var/lib/gear/uids')).trim().split('\n').sort();
  const r = await gear(H, ['install', 'test/web', ...names, '--isolate']);
  assert.is(r.code, 0, r.stderr);
  const uids = await Promise.all(names.map(uidOf));
  assert.is(new Set([...uids, ...before.map(Number)]).size, uids.length + before.length, `${uids} beside ${before}`);
  for (const [i, name] of names.entries()) {
    assert.is((await sh(H, `id -u ctr-${name}`)).trim(), String(uids[i]));
    assert.is((await sh(H, `cat /var/lib/gear/uids/${uids[i]}`)).trim(), name);
  }
  const d = await gear(H, ['delete', ...names]);
  assert.is(d.code, 0, d.stderr);
  assert.equal((await sh(H, 'ls /var/lib/gear/uids')).trim().split('\n').sort(), before);
  assert.is((await sh(H, "getent passwd | grep -c '^ctr-iso-b' || true")).trim(), '0');
});

test('delete gives the uid and the host user back; the next isolated install may get that uid', async () => {
  const uid = await uidOf('iso-1');
  const r = await gear(H, ['delete', 'iso-1']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, `ls /var/lib/gear/uids/${uid} 2>/dev/null || echo gone`)).trim(), 'gone');
  assert.is((await sh(H, 'getent passwd ctr-iso-1 || echo none')).trim(), 'none');
  assert.is((await sh(H, 'getent group ctr-iso-1 || echo none')).trim(), 'none');
  // The lowest free uid of the range: the one iso-1 gave back.
  assert.is((await gear(H, ['install', 'test/web', 'iso-3', '--isolate'])).code, 0);
  assert.is(await uidOf('iso-3'), uid);
});

test.after(async () => {
  await gear(H, ['delete', 'iso-1', 'iso-2', 'iso-3', 'iso-api', 'isod-1', 'isod-2']);
  await sh(H, 'docker rmi test/isovol test/isouser test/web:2 >/dev/null 2>&1; rm -f /root/isod.json*; true');
});

test.run();
