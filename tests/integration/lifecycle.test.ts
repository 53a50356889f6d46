import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, allocatedPort, eventually, gear, hostIp, httpGet, run, sh } from './harness.js';

const ip = hostIp(H);
let port = 0;

test('install --start: unit active, container answers on the allocated port', async () => {
  const r = await gear(H, ['install', 'test/web', 'web-1', '--start', '-p', '8080:0']);
  assert.is(r.code, 0, r.stderr);
  port = allocatedPort(r.stdout);
  assert.ok(port >= 4000 && port <= 60000, `port ${port} in the default range`);
  assert.is((await sh(H, 'systemctl is-active ctr-web-1')).trim(), 'active');
  assert.is((await sh(H, 'systemctl is-enabled ctr-web-1')).trim(), 'enabled');
  assert.is((await sh(H, "docker inspect -f '{{.State.Running}}' ctr-web-1")).trim(), 'true');
  const res = await eventually(() => httpGet(`http://${ip}:${port}/`));
  assert.ok(res, 'the container answers over HTTP');
  assert.match(res.body, /hello from test\/web/);
});

test('the unit file is plain, 0644, and passes systemd-analyze verify without a warning', async () => {
  const unit = await sh(H, 'systemctl cat ctr-web-1');
  assert.match(unit, /ExecStart=\S+docker run --rm --name ctr-web-1 /);
  assert.match(unit, /Restart=on-failure/);
  assert.is((await sh(H, "stat -c '%a' /etc/systemd/system/ctr-web-1.service")).trim(), '644');
  const verify = await sh(H, 'systemd-analyze verify /etc/systemd/system/ctr-web-1.service /etc/systemd/system/gear.target 2>&1');
  assert.is(verify.trim(), '', verify);
  assert.is((await sh(H, 'systemctl is-enabled gear.target')).trim(), 'enabled');
});

test('status shows unit state, main pid, container id and ports', async () => {
  const r = await gear(H, ['status', 'web-1']);
  assert.is(r.code, 0, r.stderr);
  const pid = (await sh(H, 'systemctl show -p MainPID --value ctr-web-1')).trim();
  const id = (await sh(H, "docker inspect -f '{{.Id}}' ctr-web-1")).trim();
  assert.match(r.stdout, /Active: active \(running\)/);
  assert.match(r.stdout, new RegExp(`Main PID: ${pid}\\b`));
  assert.match(r.stdout, new RegExp(`Container: ${id.slice(0, 12)} running`));
  assert.match(r.stdout, new RegExp(`Ports: 8080 -> ${port}`));
  const json = JSON.parse((await gear(H, ['status', 'web-1', '--json'])).stdout);
  assert.is(json.Unit.MainPID, Number(pid));
  assert.is(json.Container.Id, id);
});

test('list-units: table and JSON; --all adds installed but never started', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'idle-1'])).code, 0);
  const table = await gear(H, ['list-units']);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+ACTIVE\s+SUB\s+LOAD/);
  assert.match(table.stdout, /^web-1\s+active\s+running\s+loaded$/m);
  assert.not.match(table.stdout, /idle-1/);
  const all = JSON.parse((await gear(H, ['list-units', '--all', '--json'])).stdout);
  const idle = all.Containers.find((c: { Id: string }) => c.Id === 'idle-1');
  assert.equal(idle, { Id: 'idle-1', ActiveState: 'inactive', SubState: 'dead', LoadState: 'not-loaded' });
  assert.is((await gear(H, ['delete', 'idle-1'])).code, 0);
});

test('logs: the container output is in the journal, and -f follows new lines', async () => {
  const logs = await eventually(async () => {
    const r = await gear(H, ['logs', 'web-1']);
    return /web: listening on 8080/.test(r.stdout) && r.stdout;
  });
  assert.ok(logs, 'startup line of the container in gear logs');
  const journal = await sh(H, 'journalctl -u ctr-web-1 -o cat --no-pager');
  assert.match(journal, /web: listening on 8080/);
  // Follow: a line the container prints after `logs -f` started shows up in its output.
  // The container prints the marker again every half second until the follower shows it (a
  // follower still starting, under load, misses the first ones: -n 0 shows only what comes after it).
  const marker = `follow-${Date.now()}`;
  const followed = await sh(
    H,
    `${GEAR} logs web-1 -f -n 0 > /tmp/follow.out 2>&1 & p=$!; ` +
      `for i in $(seq 240); do grep -q ${marker} /tmp/follow.out && break; docker exec ctr-web-1 sh -c 'echo ${marker} > /proc/1/fd/1'; sleep 0.5; done; ` +
      `kill $p; wait $p; cat /tmp/follow.out`,
  );
  assert.match(followed, new RegExp(marker));
});

test('stop, start and restart go through systemd and wait for it', async () => {
  const stop = await gear(H, ['stop', 'web-1']);
  assert.is(stop.code, 0, stop.stderr);
  assert.is((await sh(H, 'systemctl is-active ctr-web-1 || true')).trim(), 'inactive');
  assert.is((await sh(H, 'systemctl is-enabled ctr-web-1 || true')).trim(), 'disabled');
  assert.is((await sh(H, 'docker ps -q --filter name=ctr-web-1')).trim(), '', 'container gone once stop returns');
  assert.is(await httpGet(`http://${ip}:${port}/`, 1000), undefined);

  assert.is((await gear(H, ['start', 'web-1'])).code, 0);
  assert.is((await sh(H, 'systemctl is-active ctr-web-1')).trim(), 'active');
  // The start completes only once the container runs (the unit's ExecStartPost gate), as docker run -d.
  assert.is((await sh(H, "docker inspect -f '{{.State.Running}}' ctr-web-1")).trim(), 'true');
  assert.ok(await eventually(() => httpGet(`http://${ip}:${port}/`)), 'answers again after start');

  const before = (await sh(H, 'systemctl show -p MainPID --value ctr-web-1')).trim();
  assert.is((await gear(H, ['restart', 'web-1'])).code, 0);
  const after = (await sh(H, 'systemctl show -p MainPID --value ctr-web-1')).trim();
  assert.is.not(after, before, 'a new main process after restart');
  assert.is((await sh(H, "docker inspect -f '{{.State.Running}}' ctr-web-1")).trim(), 'true');
  assert.ok(await eventually(() => httpGet(`http://${ip}:${port}/`)), 'answers after restart');
});

test('gear.target, as systemd has it loaded, wants exactly the started containers: no daemon-reload by hand', async () => {
  // Started as an operator would after dockerd came back: systemd loads the
  // target now and reads its .wants only at a load, so gear must reload
  // after it changes the links.
  await sh(H, 'systemctl start gear.target');
  const wants = async () => (await sh(H, 'systemctl show -p Wants --value gear.target')).trim().split(/\s+/);
  assert.ok((await wants()).includes('ctr-web-1.service'), `gear.target wants the running web-1: ${await wants()}`);
  assert.is((await gear(H, ['install', 'test/web', 'wants-1', '--start'])).code, 0);
  assert.ok((await wants()).includes('ctr-wants-1.service'), `gear.target wants ctr-wants-1 once started: ${await wants()}`);
  // Stopped behind gear's back (as dockerd stopping would): starting the target brings it back.
  await sh(H, 'systemctl stop ctr-wants-1');
  await sh(H, 'systemctl start gear.target');
  assert.is((await sh(H, 'systemctl is-active ctr-wants-1 || true')).trim(), 'active', 'systemctl start gear.target starts an enabled container');
  // Stopped through gear: the target no longer wants it, and starting the target leaves it stopped.
  assert.is((await gear(H, ['stop', 'wants-1'])).code, 0);
  assert.not.ok((await wants()).includes('ctr-wants-1.service'), `gear.target does not want a stopped container: ${await wants()}`);
  await sh(H, 'systemctl start gear.target');
  assert.is((await sh(H, 'systemctl is-active ctr-wants-1 || true')).trim(), 'inactive', 'a container stopped through gear stays stopped');
  assert.is((await gear(H, ['delete', 'wants-1'])).code, 0);
});

test('a killed container is restarted by systemd (Restart=on-failure)', async () => {
  const oldId = (await sh(H, "docker inspect -f '{{.Id}}' ctr-web-1")).trim();
  await sh(H, 'docker kill ctr-web-1');
  const newId = await eventually(async () => {
    const id = (await sh(H, "docker inspect -f '{{.Id}}' ctr-web-1 2>/dev/null || true")).trim();
    return id && id !== oldId ? id : undefined;
  }, 120_000);
  assert.ok(newId, 'a new container replaced the killed one');
  assert.ok(Number((await sh(H, 'systemctl show -p NRestarts --value ctr-web-1')).trim()) >= 1, 'systemd counted a restart');
  assert.ok(await eventually(() => httpGet(`http://${ip}:${port}/`)), 'answers after the restart');
});

test('a leftover container of the same name does not keep the unit from starting', async () => {
  // What a dockerd that died during a stop leaves behind: a stopped container with the unit's name.
  assert.is((await gear(H, ['stop', 'web-1'])).code, 0);
  await sh(H, 'docker create --name ctr-web-1 test/web >/dev/null');
  const r = await gear(H, ['start', 'web-1']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(await eventually(() => httpGet(`http://${ip}:${port}/`)), 'answers after the start');
  assert.is((await sh(H, 'systemctl show -p NRestarts --value ctr-web-1')).trim(), '0', 'started at the first attempt');

  // systemd on its own (a reboot, Restart=) has no gear to clear the way: the run fails on the name
  // (the start job reports that failure: it waits for the container to run), ExecStopPost removes
  // the leftover and the restart succeeds.
  await sh(H, 'systemctl stop ctr-web-1 && docker create --name ctr-web-1 test/web >/dev/null');
  const first = await run(H, ['systemctl', 'start', 'ctr-web-1']);
  assert.is.not(first.code, 0, 'the first run failed on the name clash');
  const healed = await eventually(async () => Number((await sh(H, 'systemctl show -p NRestarts --value ctr-web-1')).trim()) >= 1 && (await httpGet(`http://${ip}:${port}/`, 1000)), 120_000);
  assert.ok(healed, 'answers after one restart');
});

test('a stop right after a start of many never waits out the stop timeout', async () => {
  const names = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
  const since = (await sh(H, 'date +%s')).trim();
  try {
    // It returns once all 30 run: as long as dockerd takes to start them (2 minutes at load 90), so no 2-minute cap.
    const started = await gear(H, ['install', 'test/web', ...names, '--start', '-p', '8080:0'], { timeoutMs: 600_000 });
    assert.is(started.code, 0, started.stderr);
    // Before a start waited for its container to run, some of these stops landed while `docker run` was still creating it.
    const stopped = await gear(H, ['stop', ...names], { timeoutMs: 600_000 });
    assert.is(stopped.code, 0, stopped.stderr);
    const results = await sh(H, names.map((n) => `systemctl show -p Result --value ctr-${n}`).join('; '));
    assert.not.match(results, /timeout/, 'no unit needed SIGKILL after TimeoutStopSec');
    const journal = await sh(H, `journalctl --no-pager --since @${since} ${names.map((n) => `-u ctr-${n}`).join(' ')} | grep -i "timed out" || true`);
    assert.is(journal, '');
    assert.is((await sh(H, 'docker ps -aq --filter name=ctr-burst-')).trim(), '', 'no container left');
  } finally {
    await gear(H, ['delete', ...names]);
  }
});

test('a hundred names in one command: install, status and delete all succeed', async () => {
  // Each name costs several DBus calls; the system bus refuses more than 128
  // pending replies per connection, so gear must not send them all at once.
  const names = Array.from({ length: 100 }, (_, i) => `many-${i}`);
  try {
    const install = await gear(H, ['install', 'test/web', ...names]);
    assert.is(install.code, 0, install.stderr);
    const status = await gear(H, ['status', ...names]);
    assert.is(status.code, 0, status.stderr.split('\n').slice(0, 3).join('\n'));
    assert.is(status.stdout.match(/Loaded: loaded/g)?.length, 100);
  } finally {
    const del = await gear(H, ['delete', ...names]);
    assert.is(del.code, 0, del.stderr.split('\n').slice(0, 3).join('\n'));
  }
  assert.is((await sh(H, 'ls /etc/systemd/system | grep -c "^ctr-many-" || true')).trim(), '0');
});

test('delete: stopped, disabled, unit, state and env gone, port released', async () => {
  const r = await gear(H, ['delete', 'web-1']);
  assert.is(r.code, 0, r.stderr);
  const left = await sh(
    H,
    `ls /etc/systemd/system/ctr-web-1.service /etc/systemd/system/gear.target.wants/ctr-web-1.service /var/lib/gear/containers/web-1.json /var/lib/gear/env/web-1.env /var/lib/gear/ports/${port} 2>/dev/null; true`,
  );
  assert.is(left, '', `left behind: ${left}`);
  assert.is((await sh(H, 'docker ps -aq --filter name=ctr-web-1')).trim(), '');
  assert.match(await sh(H, 'systemctl is-active ctr-web-1 || true'), /inactive|unknown/);
  assert.is(await httpGet(`http://${ip}:${port}/`, 1000), undefined);
  const again = await gear(H, ['status', 'web-1']);
  assert.is(again.code, 1);
  assert.match(again.stderr, /^gear: web-1: container web-1 is not installed\n$/);
});

test('the last delete takes gear.target with it; the next start brings it back', async () => {
  const installed = JSON.parse((await gear(H, ['list-units', '--all', '--json'])).stdout).Containers.map((c: { Id: string }) => c.Id);
  if (installed.length) assert.is((await gear(H, ['delete', ...installed])).code, 0);
  const targetFiles = 'ls /etc/systemd/system/gear.target /etc/systemd/system/multi-user.target.wants/gear.target /etc/systemd/system/gear.target.wants 2>/dev/null; true';
  assert.is((await sh(H, targetFiles)).trim(), '', 'no gear.target, no link to it, no .wants');
  assert.is((await sh(H, 'systemctl is-active gear.target || true')).trim(), 'inactive', 'stopped with its last container gone');
  const r = await gear(H, ['install', 'test/web', 'again-1', '--start']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'systemctl is-enabled gear.target')).trim(), 'enabled');
  assert.is((await sh(H, 'systemctl is-active gear.target')).trim(), 'active', 'active from the first start, as after a boot');
  assert.is((await sh(H, 'systemctl is-active ctr-again-1')).trim(), 'active');
  assert.is((await sh(H, 'ls /etc/systemd/system/gear.target.wants')).trim(), 'ctr-again-1.service');
  assert.is((await gear(H, ['delete', 'again-1'])).code, 0);
  assert.is((await sh(H, targetFiles)).trim(), '');
});

test.run();
