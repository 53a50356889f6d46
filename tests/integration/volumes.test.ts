import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { volumeNameOf } from '../../src/model/volumes.js';
import { GEAR, TEST_HOST as H, curl, eventually, gear, hostIp, run, sh, startAgent, stopAgent, testhost, journalMatching } from './harness.js';

// An image with its own VOLUME, as postgres or redis have: built in the host from test/web.
const IMAGE = 'test/vol';
const data = volumeNameOf('vol-1', '/data');
const cache = volumeNameOf('vol-1', '/cache');
const AGENT = { GEAR_AGENT: 'unix:///run/gear/gear.sock' };

/** Volumes Docker has that are labelled for container `id`, sorted. */
const labelled = async (id: string) =>
  (await sh(H, `docker volume ls -q --filter label=io.gear.container=${id}`)).split('\n').filter(Boolean).sort();
const volumeExists = async (name: string) => (await run(H, ['docker', 'volume', 'inspect', name])).code === 0;

/** The id of the running container ctr-NAME, once it runs (after a restart by systemd, say). */
async function runningId(name: string, not?: string, waitMs = 120_000, host = H): Promise<string> {
  const id = await eventually(async () => {
    const r = await run(host, ['docker', 'inspect', '-f', '{{.State.Running}} {{.Id}}', `ctr-${name}`]);
    const [running, cid] = r.stdout.trim().split(' ');
    return r.code === 0 && running === 'true' && cid !== not ? cid : undefined;
  }, waitMs);
  assert.ok(id, `ctr-${name} runs${not ? ' a new container' : ''}: ${await sh(host, `systemctl status ctr-${name} --no-pager 2>&1 | tail -5; true`)}`);
  return id as string;
}

/** Write a marker in the running container's volumes, as the application would. */
const write = (name: string, text: string, host = H) => sh(host, `docker exec ctr-${name} sh -c 'echo ${text} > /data/marker && echo ${text} > /cache/marker'`);
/** What the running container finds in its volumes. */
const read = async (name: string, host = H) => (await sh(host, `docker exec ctr-${name} sh -c 'cat /data/marker /cache/marker 2>&1; true'`)).trim();

test('setup: an image with VOLUME /data', async () => {
  await sh(H, `printf 'FROM test/web\\nVOLUME /data\\n' | docker build -q -t ${IMAGE} - >/dev/null`);
  assert.is((await sh(H, `docker image inspect -f '{{json .Config.Volumes}}' ${IMAGE}`)).trim(), '{"/data":{}}');
});

test('install: the image VOLUME and -v /cache become named, labelled volumes, mounted by name', async () => {
  const r = await gear(H, ['install', IMAGE, 'vol-1', '--start', '-v', '/cache']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(await labelled('vol-1'), [cache, data].sort());
  assert.match(data, /^gear\.vol-1\.data\.[0-9a-f]{8}$/);
  const labels = JSON.parse(await sh(H, `docker volume inspect -f '{{json .Labels}}' ${data}`));
  assert.equal(labels, { 'io.gear.volume': '1', 'io.gear.container': 'vol-1', 'io.gear.path': '/data' });
  const unit = await sh(H, 'systemctl cat ctr-vol-1');
  assert.match(unit, /ExecStart=\S+docker run --rm /, '--rm stays: named volumes outlive it');
  assert.ok(unit.includes(` -v ${cache}:/cache -v ${data}:/data `), unit);
  const verify = await sh(H, 'systemd-analyze verify /etc/systemd/system/ctr-vol-1.service 2>&1');
  assert.is(verify.trim(), '', verify);
  // Docker mounts exactly these, and nothing anonymous.
  const mounts = JSON.parse(await sh(H, "docker inspect -f '{{json .Mounts}}' ctr-vol-1")) as { Name: string; Destination: string }[];
  assert.equal(mounts.map((m) => `${m.Name}:${m.Destination}`).sort(), [`${cache}:/cache`, `${data}:/data`]);
});

test('status lists the volumes with their names (text and JSON, CLI and API)', async () => {
  const text = await gear(H, ['status', 'vol-1']);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`Volumes: ${cache.replace(/\./g, '\\.')} on /cache\\n\\s+${data.replace(/\./g, '\\.')} on /data\\n`));
  const json = JSON.parse((await gear(H, ['status', 'vol-1', '--json'])).stdout);
  assert.equal(json.Volumes, [{ Name: cache, Path: '/cache' }, { Name: data, Path: '/data' }]);
  await startAgent(H);
  try {
    const api = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-H', 'Accept: application/json', 'http://agent/container/vol-1/status']);
    assert.is(api.status, 200, api.body);
    assert.equal(JSON.parse(api.body).Volumes, json.Volumes);
  } finally {
    await stopAgent(H);
  }
});

test('data survives gear restart', async () => {
  await survives('vol-1', 'one', async () => {
    const r = await gear(H, ['restart', 'vol-1']);
    assert.is(r.code, 0, r.stderr);
  });
});

test('data survives docker kill (systemd restarts the container)', async () => {
  await survives('vol-1', 'two', () => sh(H, 'docker kill ctr-vol-1 >/dev/null'));
  assert.ok(Number((await sh(H, 'systemctl show -p NRestarts --value ctr-vol-1')).trim()) >= 1, 'systemd restarted it');
});

test('data survives gear stop and gear start', async () => {
  await write('vol-1', 'three');
  assert.is((await gear(H, ['stop', 'vol-1'])).code, 0);
  assert.is((await sh(H, 'docker ps -aq --filter name=ctr-vol-1')).trim(), '', 'the container itself is gone (--rm)');
  const r = await gear(H, ['start', 'vol-1']);
  assert.is(r.code, 0, r.stderr);
  await runningId('vol-1');
  assert.is(await read('vol-1'), 'three\nthree');
});

test('data survives an agent restart and a restart through the agent', async () => {
  await write('vol-1', 'four');
  await startAgent(H);
  try {
    await stopAgent(H);
    await startAgent(H);
    assert.is(await read('vol-1'), 'four\nfour');
    await survives('vol-1', 'five', async () => {
      const r = await gear(H, ['restart', 'vol-1'], { env: AGENT });
      assert.is(r.code, 0, r.stderr);
    });
  } finally {
    await stopAgent(H);
  }
});

test('data survives a reboot of the host (testhost reboot: clean shutdown, then a boot on the same disk)', async () => {
  // A host of its own: a rebootable one keeps its upper layer on disk (tests/host/README.md).
  const R = `${H}-boot`;
  const index = Number(hostIp(H).split('.')[3]) + 3;
  testhost(['down', R]);
  testhost(['up', R, String(index), '--persistent']);
  try {
    await sh(R, `printf 'FROM test/web\\nVOLUME /data\\n' | docker build -q -t ${IMAGE} - >/dev/null`);
    const r = await gear(R, ['install', IMAGE, 'vol-r', '--start', '-v', '/cache']);
    assert.is(r.code, 0, r.stderr);
    await write('vol-r', 'rebooted', R);
    const booted = () => sh(R, 'systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target');
    const before = await booted();
    await sh(R, 'touch /run/before-reboot');
    testhost(['reboot', R]);
    assert.is.not(await booted(), before, 'a new boot');
    assert.is((await run(R, ['test', '-e', '/run/before-reboot'])).code, 1, 'what lived in memory is gone');
    // Enabled under gear.target: the boot starts it again, by systemd alone.
    await runningId('vol-r', undefined, 60_000, R);
    assert.is((await sh(R, 'systemctl is-active ctr-vol-r')).trim(), 'active');
    assert.is(await read('vol-r', R), 'rebooted\nrebooted');
  } finally {
    testhost(['down', R]);
  }
});

test('delete --keep-volumes keeps them; gear clean leaves them and lists them as kept', async () => {
  await write('vol-1', 'six');
  const r = await gear(H, ['delete', '--keep-volumes', 'vol-1']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'vol-1 deleted (volumes kept)\n');
  assert.is((await run(H, ['systemctl', 'cat', 'ctr-vol-1'])).code, 1, 'the unit is gone');
  assert.equal(await labelled('vol-1'), [cache, data].sort());
  const clean = await gear(H, ['clean']);
  assert.is(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, new RegExp(`kept volume ${data.replace(/\./g, '\\.')} \\(vol-1 /data; \`gear delete vol-1\` removes it\\)`));
  assert.not.match(clean.stdout, /removed volume/);
  assert.equal(await labelled('vol-1'), [cache, data].sort());
});

test('a reinstall of the same name and paths finds its data again; they are no longer kept', async () => {
  const r = await gear(H, ['install', IMAGE, 'vol-1', '--start', '-v', '/cache']);
  assert.is(r.code, 0, r.stderr);
  await runningId('vol-1');
  assert.is(await read('vol-1'), 'six\nsix');
  assert.not.match((await gear(H, ['clean'])).stdout, /kept volume/);
});

test('delete removes the volumes', async () => {
  await deleted('vol-1');
  assert.not.ok(await volumeExists(data));
  assert.not.ok(await volumeExists(cache));
});

test('delete NAME after delete --keep-volumes NAME removes the kept volumes; then NAME is unknown (a delete says so)', async () => {
  assert.is((await gear(H, ['install', IMAGE, 'vol-2'])).code, 0);
  assert.is((await gear(H, ['delete', '--keep-volumes', 'vol-2'])).code, 0);
  assert.equal(await labelled('vol-2'), [volumeNameOf('vol-2', '/data')]);
  const r = await gear(H, ['delete', 'vol-2']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(await labelled('vol-2'), []);
  const again = await gear(H, ['delete', 'vol-2']);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout, 'vol-2 is not installed, nothing to delete\n');
});

test('the API: DELETE /container/:id?keep-volumes=true keeps them; a bad value is refused', async () => {
  await startAgent(H);
  try {
    assert.is((await gear(H, ['install', IMAGE, 'vol-3'], { env: AGENT })).code, 0);
    const bad = await curl(H, ['-X', 'DELETE', '--unix-socket', '/run/gear/gear.sock', 'http://agent/container/vol-3?keep-volumes=maybe']);
    assert.is(bad.status, 400, bad.body);
    assert.match(bad.body, /keep-volumes/);
    const kept = await curl(H, ['-X', 'DELETE', '--unix-socket', '/run/gear/gear.sock', 'http://agent/container/vol-3?keep-volumes=true']);
    assert.is(kept.status, 204, kept.body);
    assert.equal(await labelled('vol-3'), [volumeNameOf('vol-3', '/data')]);
    const gone = await curl(H, ['-X', 'DELETE', '--unix-socket', '/run/gear/gear.sock', 'http://agent/container/vol-3']);
    assert.is(gone.status, 204, gone.body);
    assert.equal(await labelled('vol-3'), []);
  } finally {
    await stopAgent(H);
  }
});

test('gear clean never touches a volume gear did not create, even one with gear\'s labels', async () => {
  const fake = volumeNameOf('ghost', '/data');
  await sh(H, `docker volume create mine >/dev/null && docker volume create --label io.gear.volume=1 --label io.gear.container=ghost --label io.gear.path=/data ${fake} >/dev/null`);
  try {
    const r = await gear(H, ['clean']);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stdout, /volume/);
    assert.ok(await volumeExists('mine'));
    assert.ok(await volumeExists(fake));
  } finally {
    await sh(H, `docker volume rm mine ${fake} >/dev/null`);
  }
});

test('install never takes over a volume it did not create, and leaves nothing behind when it refuses', async () => {
  const taken = volumeNameOf('vol-4', '/data');
  await sh(H, `docker volume create ${taken} >/dev/null && docker run --rm -v ${taken}:/v test/web sh -c 'echo theirs > /v/f'`);
  try {
    const r = await gear(H, ['install', IMAGE, 'vol-4', '-v', '/cache']);
    assert.is(r.code, 1);
    assert.match(r.stderr, new RegExp(`a volume named ${taken.replace(/\./g, '\\.')} exists and is not gear's volume of vol-4 \\(/data\\)`));
    assert.equal(await labelled('vol-4'), [], 'the /cache volume it made is gone again');
    assert.is((await sh(H, 'ls /var/lib/gear/containers /var/lib/gear/volumes 2>/dev/null | grep vol-4 || true')).trim(), '');
    assert.is((await sh(H, `docker run --rm -v ${taken}:/v test/web cat /v/f`)).trim(), 'theirs', 'their data untouched');
  } finally {
    await sh(H, `docker volume rm ${taken} >/dev/null`);
  }
});

test('an install killed part-way leaves each container with all its volumes or none (after gear clean)', async () => {
  const names = Array.from({ length: 6 }, (_, i) => `vk-${i}`);
  for (const delay of [0.2, 0.4, 0.7]) {
    await sh(H, `${GEAR} install ${IMAGE} ${names.join(' ')} -v /cache >/dev/null 2>&1 & pid=$!; sleep ${delay}; kill -9 $pid; wait $pid; true`);
    const clean = await gear(H, ['clean']);
    assert.is(clean.code, 0, clean.stderr);
    for (const n of names) {
      const installed = (await run(H, ['test', '-f', `/var/lib/gear/containers/${n}.json`])).code === 0;
      const volumes = await labelled(n);
      const all = [volumeNameOf(n, '/cache'), volumeNameOf(n, '/data')].sort();
      assert.equal(volumes, installed ? all : [], `${n} after a kill at ${delay}s (installed: ${installed})`);
    }
    const left = (await sh(H, `ls /var/lib/gear/containers | sed -n 's/^\\(vk-.*\\)\\.json$/\\1/p'`)).split('\n').filter(Boolean);
    if (left.length) assert.is((await gear(H, ['delete', ...left])).code, 0);
    for (const n of names) assert.equal(await labelled(n), [], `${n} deleted`);
  }
});

/** Data written before `restart` runs is there in the new container after it. */
async function survives(name: string, text: string, restart: () => Promise<unknown>): Promise<void> {
  const before = await runningId(name);
  await write(name, text);
  await restart();
  await runningId(name, before);
  assert.is(await read(name), `${text}\n${text}`);
}

/** gear delete NAME succeeds and leaves no volume labelled for NAME. */
async function deleted(name: string): Promise<void> {
  const r = await gear(H, ['delete', name]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(await labelled(name), []);
}

/** Make vol-N look installed by a gear before named volumes: definition without NamedVolumes, unit with anonymous volumes. */
async function makeLegacy(name: string): Promise<void> {
  const def = `/var/lib/gear/containers/${name}.json`;
  await sh(
    H,
    `node -e 'const f=process.argv[1],d=JSON.parse(require("fs").readFileSync(f));delete d.NamedVolumes;require("fs").writeFileSync(f,JSON.stringify(d))' ${def} && ` +
      `systemctl stop ctr-${name} && rm -f /var/lib/gear/volumes/${name}.json && ` +
      `sed -i -E 's# -v gear\\.[^ ]*:/cache # -v /cache #; s# -v gear\\.[^ ]*:/data # #' /etc/systemd/system/ctr-${name}.service && ` +
      `systemctl daemon-reload && docker volume rm $(docker volume ls -q --filter label=io.gear.container=${name}) >/dev/null`,
  );
  const unit = await sh(H, `systemctl cat ctr-${name}`);
  assert.ok(unit.includes(' -v /cache ') && !/ -v gear\./.test(unit), 'legacy unit');
}

test('a container installed before named volumes gets them at its next gear start, and keeps data from then on', async () => {
  assert.is((await gear(H, ['install', IMAGE, 'vol-5', '-v', '/cache'])).code, 0);
  await makeLegacy('vol-5');
  const status = await gear(H, ['status', 'vol-5']);
  assert.match(status.stdout, /Volumes: anonymous on \/cache \(named at its next start\)/);
  const r = await gear(H, ['start', 'vol-5']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(await labelled('vol-5'), [volumeNameOf('vol-5', '/cache'), volumeNameOf('vol-5', '/data')].sort());
  assert.ok((await sh(H, 'systemctl cat ctr-vol-5')).includes(` -v ${volumeNameOf('vol-5', '/cache')}:/cache -v ${volumeNameOf('vol-5', '/data')}:/data `));
  assert.is((await sh(H, 'systemctl show -p NeedDaemonReload --value ctr-vol-5')).trim(), 'no');
  await survives('vol-5', 'kept', () => sh(H, 'docker kill ctr-vol-5 >/dev/null'));
  await deleted('vol-5');
});

test('the agent migrates at its start, so a start by systemd alone (a reboot) mounts named volumes', async () => {
  assert.is((await gear(H, ['install', IMAGE, 'vol-6', '-v', '/cache', '--start'])).code, 0);
  await makeLegacy('vol-6');
  await sh(H, 'systemctl start ctr-vol-6');
  await runningId('vol-6');
  await startAgent(H);
  try {
    const migrated = new RegExp(`volumes: vol-6: named volumes ${volumeNameOf('vol-6', '/cache').replace(/\./g, '\\.')} \\(/cache\\)`);
    assert.match(await journalMatching(H, '-u gear-agent -o cat', migrated), migrated);
  } finally {
    await stopAgent(H);
  }
  assert.equal(await labelled('vol-6'), [volumeNameOf('vol-6', '/cache'), volumeNameOf('vol-6', '/data')].sort());
  // systemd alone, as at boot: the unit it loads now mounts the named volumes.
  await sh(H, 'systemctl restart ctr-vol-6');
  await survives('vol-6', 'boot', () => sh(H, 'systemctl restart ctr-vol-6'));
  await deleted('vol-6');
});

test.run();
