import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, allocatedPort, curl, eventually, gear, run, sh, startAgent, stateListing, stopAgent } from './harness.js';

// One-off jobs and source-to-image builds on a real host: transient units
// run by systemd, containers by Docker. After each, nothing of it is left:
// no gear-job-*/gear-build-* unit loaded, no container carrying their labels.
const AGENT = { GEAR_AGENT: 'unix:///run/gear/gear.sock' };

/** What a job or a build could leave behind: units and containers. */
const leftovers = () =>
  sh(H, "systemctl list-units --all --no-legend 'gear-job-*' 'gear-build-*'; docker ps -aq --filter label=io.gear.job; docker ps -aq --filter name=gear-build-");

/**
 * A source-to-image builder made here from test/web (busybox): its scripts
 * at /s2i (named by its io.openshift.s2i.scripts-url label). assemble
 * counts the source files, fails if the source has a file named "fail"
 * (sleeps if one named "slow", prints 200,000 lines of 99 "a" (20 MB) if
 * one named "loud"),
 * copies the source to /app and writes /app/count: 1 more than the count
 * in the restored artifacts; run serves /app on 8080; save-artifacts tars
 * /app/count. And a source tree in /srv/src/app, the agent's build sources.
 */
const MAKE_BUILDER = String.raw`
set -e
d=$(mktemp -d)
mkdir -p $d/s2i
cat > $d/s2i/assemble <<'E'
#!/bin/sh
set -e
echo "assemble: $(find /tmp/src -type f | wc -l) source files"
n=0
if [ -f /tmp/artifacts/count ]; then n=$(cat /tmp/artifacts/count); echo "assemble: reused the artifacts of build $n"; fi
[ ! -f /tmp/src/fail ] || { echo "assemble: failing as asked" >&2; exit 7; }
[ ! -f /tmp/src/slow ] || { echo "assemble: slow as asked"; exec sleep 600; }
[ ! -f /tmp/src/loud ] || { yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -n 200000; sleep 3; }
mkdir -p /app
cp -r /tmp/src/. /app/
echo $((n + 1)) > /app/count
echo "assemble: build $((n + 1)) done"
E
cat > $d/s2i/run <<'E'
#!/bin/sh
echo "run: serving /app on 8080"
exec httpd -f -p 8080 -h /app
E
cat > $d/s2i/save-artifacts <<'E'
#!/bin/sh
cd /app && exec busybox tar cf - count
E
chmod 755 $d/s2i/*
docker rm -f gear-test-mkbuilder >/dev/null 2>&1 || true
docker create --name gear-test-mkbuilder test/web true >/dev/null
docker cp $d/s2i gear-test-mkbuilder:/s2i
docker commit --change 'LABEL io.openshift.s2i.scripts-url=image:///s2i' gear-test-mkbuilder test/builder >/dev/null
docker rm gear-test-mkbuilder >/dev/null
rm -rf $d
mkdir -p /srv/src/app/sub
echo 'hello from the build' > /srv/src/app/index.html
echo 'nested' > /srv/src/app/sub/file.txt
ln -sf index.html /srv/src/app/sub/../home.html
`;

test.before(async () => {
  await sh(H, MAKE_BUILDER);
  await startAgent(H, [], { GEAR_BUILD_SOURCES: '/srv/src' });
});

test.after(async () => {
  await gear(H, ['delete', 'app-1']);
  await stopAgent(H);
});

test('run-job prints the job\'s output and exits with its status; nothing of it is left', async () => {
  const r = await gear(H, ['run-job', 'test/web', '--', 'sh', '-c', 'echo hello from the job; echo to stderr >&2; exit 3']);
  assert.is(r.code, 3, r.stderr);
  assert.is(r.stdout, 'hello from the job\n');
  assert.match(r.stderr, /^to stderr\n$/);
  const ok = await gear(H, ['run-job', 'test/web', '--', 'id', '-u']);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, '0\n');
  assert.is(await leftovers(), '');
});

test('a job is a transient unit: in systemctl while it runs, its output in the journal; Ctrl-C of the CLI stops it', async () => {
  const job = await run(H, ['sh', '-c', [
    `${GEAR} run-job test/web -- sh -c 'echo marker-in-journal; exec sleep 600' >/tmp/job.out 2>&1 & pid=$!`,
    'for i in $(seq 600); do systemctl list-units --no-legend --plain "gear-job-*" | grep -q running && break; sleep 0.2; done',
    'unit=$(systemctl list-units --no-legend --plain "gear-job-*" | cut -d" " -f1)',
    'echo "unit=$unit"',
    'for i in $(seq 600); do journalctl -u "$unit" --no-pager | grep -q marker-in-journal && break; sleep 0.2; done',
    'journalctl -u "$unit" --no-pager | grep -c marker-in-journal',
    'kill -INT $pid; wait $pid; echo "exit=$?"; cat /tmp/job.out',
  ].join('\n')]);
  assert.is(job.code, 0, job.stderr);
  assert.match(job.stdout, /^unit=gear-job-[0-9a-f]{12}\.service\n1\nexit=[1-9][0-9]*\n/);
  assert.match(job.stdout, /marker-in-journal\n/);
  assert.match(job.stdout, /gear: job [0-9a-f]{12} cancelled\n/);
  assert.is(await leftovers(), '');
});

test('through the agent, Ctrl-C of the CLI drops the request and the agent stops the job', async () => {
  const job = await run(H, ['sh', '-c', [
    `GEAR_AGENT=unix:///run/gear/gear.sock ${GEAR} run-job test/web -- sh -c 'echo agent-job-running; exec sleep 600' >/tmp/job2.out 2>&1 & pid=$!`,
    'for i in $(seq 600); do grep -q agent-job-running /tmp/job2.out && break; sleep 0.2; done',
    "systemctl list-units --no-legend --plain 'gear-job-*' | awk '{print $1, $2, $3, $4}'",
    'kill -INT $pid; wait $pid; echo "exit=$?"; cat /tmp/job2.out',
  ].join('\n')]);
  assert.is(job.code, 0, job.stderr);
  assert.match(job.stdout, /^gear-job-[0-9a-f]{12}\.service loaded active running\nexit=1\nagent-job-running\ngear: cancelled\n$/, job.stdout);
  // The agent stops the unit once it sees the request gone: wait for that, then nothing is left.
  const gone = await eventually(async () => (await leftovers()) === '', 60_000);
  assert.ok(gone, await leftovers());
});

test('a job over its time limit is stopped by systemd; the CLI says so and fails', async () => {
  const r = await gear(H, ['run-job', '--timeout', '2', 'test/web', '--', 'sh', '-c', 'echo started; exec sleep 600']);
  assert.is(r.stdout, 'started\n');
  assert.ok(r.code !== 0, `exit ${r.code}`);
  assert.match(r.stderr, /gear: job [0-9a-f]{12} stopped: it ran longer than its time limit \(2 s\)\n$/);
  assert.is(await leftovers(), '');
});

test('POST /jobs (the seed\'s body) through the agent: 202, the output as the answer, the outcome in its trailer; the CLI through the agent too', async () => {
  const api = await curl(H, ['--raw', '--unix-socket', '/run/gear/gear.sock', '-X', 'POST', '-H', 'Content-Type: application/json', 'http://agent/jobs', '-d', JSON.stringify({ Image: 'test/web', Arguments: ['sh', '-c', 'echo via the api; exit 4'] })]);
  assert.is(api.status, 202, api.body);
  assert.match(api.body, /via the api\n/);
  assert.match(api.body, /X-Gear-Result: \{[^\n]*"ExitCode":4[^\n]*"Result":"exited"/);
  const r = await gear(H, ['run-job', 'test/web', '--', 'sh', '-c', 'echo through the agent; exit 5'], { env: AGENT });
  assert.is(r.code, 5, r.stderr);
  assert.is(r.stdout, 'through the agent\n');
  assert.is(await leftovers(), '');
});

test('bad input: one line, exit 1, nothing changed (CLI and API)', async () => {
  const before = await stateListing(H);
  for (const [args, message] of [
    [['run-job', 'Not An Image!', '--', 'true'], /^gear: image "Not An Image!" is not a valid image reference\n$/],
    [['run-job', '--timeout', '0', 'test/web'], /^gear: --timeout must be whole seconds \(at least 1\)\n$/],
    [['run-job', 'test/no-such-image-here'], /^pulling test\/no-such-image-here\ngear: image test\/no-such-image-here is not on this host and cannot be pulled: .*\n$/],
  ] as const) {
    const r = await gear(H, [...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stdout, '');
  }
  const api = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'POST', '-H', 'Content-Type: application/json', 'http://agent/jobs', '-d', JSON.stringify({ Image: 'test/web', Arguments: ['a\u0000b'] })]);
  assert.is(api.status, 400, api.body);
  assert.is(JSON.parse(api.body).Message, 'body/Arguments[0] must not contain a NUL character');
  assert.is(await stateListing(H), before);
  assert.is(await leftovers(), '');
});

const imageId = async (ref: string) => (await run(H, ['docker', 'image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();

test('gear build: the source streamed into the builder, assemble in a unit, the result runs the builder\'s run script and serves the source', async () => {
  const r = await gear(H, ['build', '/srv/src/app', 'test/builder', 'test/app:1']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^assemble: 2 source files\nassemble: build 1 done\nbuilt test\/app:1: [0-9a-f]{12}\n$/);
  assert.is((await sh(H, "docker image inspect --format '{{json .Config.Cmd}}' test/app:1")).trim(), '["/s2i/run"]');
  // The build's unit logged assemble's output in the journal.
  assert.match(await sh(H, "journalctl --no-pager -u 'gear-build-*' | grep 'assemble: build 1 done' | wc -l"), /^1\n$/);
  const installed = await gear(H, ['install', 'test/app:1', 'app-1', '-p', '8080:0', '--start']);
  assert.is(installed.code, 0, installed.stderr);
  const port = allocatedPort(installed.stdout);
  const answer = await eventually(async () => {
    const got = await run(H, ['curl', '-sf', `http://127.0.0.1:${port}/index.html`]);
    return got.code === 0 && got.stdout;
  });
  assert.is(answer, 'hello from the build\n');
  assert.is((await run(H, ['curl', '-sf', `http://127.0.0.1:${port}/sub/file.txt`])).stdout, 'nested\n');
  assert.is(await leftovers(), '');
});

test('gear build --incremental restores the previous image\'s saved artifacts (the script counts them)', async () => {
  const r = await gear(H, ['build', '/srv/src/app', 'test/builder', 'test/app:1', '--incremental']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /assemble: reused the artifacts of build 1\nassemble: build 2 done\nbuilt test\/app:1: [0-9a-f]{12} \(incremental\)\n$/);
  const count = await gear(H, ['run-job', 'test/app:1', '--', 'cat', '/app/count']);
  assert.is(count.stdout, '2\n', count.stderr);
  // A previous image that cannot save artifacts (no such script): a clean build, and a note says so.
  await sh(H, 'docker tag test/web test/plain:1');
  const plain = await gear(H, ['build', '/srv/src/app', 'test/builder', 'test/plain:1', '--incremental']);
  assert.is(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^the previous image \([0-9a-f]{12}\) cannot run save-artifacts \(.+\): a clean build\n$/);
  assert.match(plain.stdout, /assemble: build 1 done\nbuilt test\/plain:1: [0-9a-f]{12}\n$/);
  // Without --incremental the build starts over.
  const clean = await gear(H, ['build', '/srv/src/app', 'test/builder', 'test/app:clean']);
  assert.match(clean.stdout, /assemble: build 1 done\n/);
  assert.is(await leftovers(), '');
});

test('.s2iignore: what it names is not sent, and an ignored directory is not even walked', async () => {
  await sh(
    H,
    'rm -rf /srv/src/ign && cp -r /srv/src/app /srv/src/ign && mkdir -p /srv/src/ign/node_modules/dep && echo x > /srv/src/ign/node_modules/dep/big.js' +
      ' && ln -s /etc/passwd /srv/src/ign/node_modules/out && echo log > /srv/src/ign/debug.log && printf "node_modules/\\n*.log\\n" > /srv/src/ign/.s2iignore',
  );
  const r = await gear(H, ['build', '/srv/src/ign', 'test/builder', 'test/app:ign']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^assemble: 3 source files\n/);
  const files = await gear(H, ['run-job', 'test/app:ign', '--', 'sh', '-c', 'cd /app && find . -type f | sort']);
  assert.is(files.stdout, './.s2iignore\n./count\n./index.html\n./sub/file.txt\n', files.stderr);
  assert.is(await leftovers(), '');
});

test('a failing assemble: exit 1 with one line, no tag set or moved, no container or unit left', async () => {
  await sh(H, 'rm -rf /srv/src/bad && cp -r /srv/src/app /srv/src/bad && touch /srv/src/bad/fail');
  const before = await imageId('test/app:1');
  const images = await sh(H, 'docker images -aq | sort');
  for (const tag of ['test/app:1', 'test/app:never']) {
    const r = await gear(H, ['build', '/srv/src/bad', 'test/builder', tag]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, /assemble: failing as asked\n/);
    assert.match(r.stderr, new RegExp(`\ngear: build [0-9a-f]{12} failed: assemble exited with status 7; ${tag.replace('/', '\\/')} unchanged\n$`));
  }
  assert.is(await imageId('test/app:1'), before);
  assert.is(await imageId('test/app:never'), '');
  assert.is(await sh(H, 'docker images -aq | sort'), images);
  assert.is(await leftovers(), '');
});

test('a build over its time limit, and a cancelled one (Ctrl-C): no tag, no container, no unit', async () => {
  await sh(H, 'rm -rf /srv/src/slow && cp -r /srv/src/app /srv/src/slow && touch /srv/src/slow/slow');
  const images = await sh(H, 'docker images -aq | sort');
  const timed = await gear(H, ['build', '--timeout', '2', '/srv/src/slow', 'test/builder', 'test/app:slow']);
  assert.is(timed.code, 1, timed.stdout);
  assert.match(timed.stdout, /^assemble: 3 source files\nassemble: slow as asked\n$/);
  assert.match(timed.stderr, /^gear: build [0-9a-f]{12} stopped: assemble ran longer than its time limit \(2 s\); test\/app:slow unchanged\n$/);
  const cancelled = await run(H, ['sh', '-c', [
    `${GEAR} build /srv/src/slow test/builder test/app:slow >/tmp/build.out 2>&1 & pid=$!`,
    'for i in $(seq 600); do grep -q "slow as asked" /tmp/build.out && break; sleep 0.2; done',
    "systemctl list-units --no-legend --plain 'gear-build-*' | awk '{print $1, $2, $3, $4}'",
    'kill -INT $pid; wait $pid; echo "exit=$?"; cat /tmp/build.out',
  ].join('\n')]);
  assert.is(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /^gear-build-[0-9a-f]{12}\.service loaded active running\nexit=1\nassemble: 3 source files\nassemble: slow as asked\ngear: build [0-9a-f]{12} cancelled; test\/app:slow unchanged\n$/);
  assert.is(await imageId('test/app:slow'), '');
  assert.is(await sh(H, 'docker images -aq | sort'), images);
  assert.is(await leftovers(), '');
});

test('POST /build-image (the seed\'s body) through the agent: the build\'s output, the outcome in the trailer; sources only under GEAR_BUILD_SOURCES', async () => {
  const api = await curl(H, ['--raw', '--unix-socket', '/run/gear/gear.sock', '-X', 'POST', '-H', 'Content-Type: application/json', 'http://agent/build-image', '-d', JSON.stringify({ BaseImage: 'test/builder', Source: '/srv/src/app', Tag: 'test/app:api' })]);
  assert.is(api.status, 202, api.body);
  assert.match(api.body, /assemble: build 1 done\n/);
  assert.match(api.body, /X-Gear-Result: \{"Id":"[0-9a-f]{12}","Tag":"test\/app:api","Image":"sha256:[0-9a-f]{64}","Incremental":false\}/);
  assert.ok(await imageId('test/app:api'));
  const outside = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'POST', '-H', 'Content-Type: application/json', 'http://agent/build-image', '-d', JSON.stringify({ BaseImage: 'test/builder', Source: '/etc', Tag: 'test/app:etc' })]);
  assert.is(outside.status, 400, outside.body);
  assert.is(JSON.parse(outside.body).Message, 'source /etc is not in a directory builds may read here (/srv/src)');
  // A symlink inside the allowed directory to elsewhere does not lead the agent there.
  await sh(H, 'ln -sfn /etc /srv/src/etc-link');
  const linked = await gear(H, ['build', '/srv/src/etc-link', 'test/builder', 'test/app:etc'], { env: AGENT });
  assert.is(linked.code, 1);
  assert.is(linked.stderr, 'gear: source /srv/src/etc-link is not in a directory builds may read here (/srv/src)\n');
  const viaCli = await gear(H, ['build', '/srv/src/app', 'test/builder', 'test/app:cli'], { env: AGENT });
  assert.is(viaCli.code, 0, viaCli.stderr);
  assert.match(viaCli.stdout, /assemble: build 1 done\nbuilt test\/app:cli: [0-9a-f]{12}\n$/);
  assert.is(await imageId('test/app:etc'), '');
  assert.is(await leftovers(), '');
});

test('bad build input: one line, exit 1, nothing built, tagged or left', async () => {
  await sh(H, 'rm -rf /srv/src/evil && mkdir -p /srv/src/evil/sub && echo x > /srv/src/evil/a && ln -s ../../../etc/passwd /srv/src/evil/sub/up && mkdir -p /srv/src/evil2 && ln -s /etc/passwd /srv/src/evil2/abs');
  const images = await sh(H, 'docker images -aq | sort');
  const before = await stateListing(H);
  for (const [args, message] of [
    [['build', '/srv/src/nope', 'test/builder', 'test/app:x'], /^gear: source \/srv\/src\/nope cannot be read: ENOENT\n$/],
    [['build', '/srv/src/evil', 'test/builder', 'test/app:x'], /^gear: source: the symlink "sub\/up" points out of the source tree \(to "..\/..\/..\/etc\/passwd"\)\n$/],
    [['build', '/srv/src/evil2', 'test/builder', 'test/app:x'], /^gear: source: the symlink "abs" points out of the source tree \(to "\/etc\/passwd"\)\n$/],
    [['build', '/srv/src/app', 'test/builder', 'Bad Tag'], /^gear: image "Bad Tag" is not a valid image reference\n$/],
    [['build', '/srv/src/app', 'test/builder', 'test/app@sha256:' + '0'.repeat(64)], /^gear: tag "test\/app@sha256:0+" must not name a digest\n$/],
    [['build', '/srv/src/app', 'not a builder', 'test/app:x'], /^gear: image "not a builder" is not a valid image reference\n$/],
    [['build', '/srv/src/app/index.html', 'test/builder', 'test/app:x'], /^gear: source \/srv\/src\/app\/index.html is not a directory\n$/],
    [['build', 'file:///etc', 'test/builder', 'test/app:x'], /^gear: git URL "file:\/\/\/etc": only http, https and git URLs are accepted\n$/],
  ] as const) {
    const r = await gear(H, [...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.is(r.stdout, '');
  }
  assert.is(await sh(H, 'docker images -aq | sort'), images);
  assert.is(await stateListing(H), before);
  assert.is(await leftovers(), '');
});

// Docker 20.10 waits at most 2 s after a container exits for its output to be copied out of
// containerd's pipes (moby daemon/monitor.go: StreamConfig.Wait with a 2 s timeout), then closes the
// streams: under heavy load, the last ~100 KB written just before the exit are lost to every reader,
// `docker run`, attach and the log alike (seen once here: 198,696 of 200,000 lines, the build a
// success). gear cannot get back what Docker dropped; the loud builder sleeps 3 s after its burst so
// that this test measures gear's path, and docs/decisions.md says so.
test('a huge build log (20 MB): every line reaches the CLI, locally and through the agent; the build succeeds and nothing is left', async () => {
  await sh(H, 'rm -rf /srv/src/loud && cp -r /srv/src/app /srv/src/loud && touch /srv/src/loud/loud');
  for (const env of [{}, AGENT]) {
    const r = await run(H, ['sh', '-c', `${GEAR} build /srv/src/loud test/builder test/app:loud >/tmp/loud.out 2>/tmp/loud.err; echo "exit=$?"; grep -cx 'a\\{99\\}' /tmp/loud.out; wc -c </tmp/loud.out; tail -n 1 /tmp/loud.out; cat /tmp/loud.err`], { env, timeoutMs: 600_000 });
    const lines = r.stdout.split('\n');
    assert.is(lines[0], 'exit=0', r.stdout);
    assert.is(lines[1], '200000', r.stdout);
    // Exactly the script's output: its own lines and the CLI's last one, nothing lost or doubled.
    const other = 'assemble: 3 source files\nassemble: build 1 done\n'.length + `built test/app:loud: ${'0'.repeat(12)}\n`.length;
    assert.is(Number(lines[2]), 200000 * 100 + other, r.stdout);
    assert.match(lines[3]!, /^built test\/app:loud: [0-9a-f]{12}$/);
    assert.is(lines.slice(4).join('\n'), '', r.stdout);
  }
  assert.is(await leftovers(), '');
});

/** Wait (up to 2 minutes) for a line in a file, in a host's shell script. */
const WAIT_FOR = 'w() { for i in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "no \\"$2\\" in $1: $(cat $1)"; return 1; }';
/** gear's jobs' and builds' units (name, active, sub) and containers: what repair may touch. */
const RUNS = "systemctl list-units --all --no-legend --plain 'gear-job-*' 'gear-build-*' | awk '{print $1, $3, $4}' | sort; docker ps -a --format '{{.Names}}' | grep '^gear-' | sort";
const FINDINGS = (out: string) => out.split('\n').filter((l) => /^(fixed|would fix): /.test(l) && /gear-(job|build)-/.test(l)).sort();

test('the CLI killed (SIGKILL) mid-job and mid-build: gear clean --repair removes their containers and units; a running job and foreign look-alikes are left alone', async () => {
  await sh(H, 'rm -rf /srv/src/slow && cp -r /srv/src/app /srv/src/slow && touch /srv/src/slow/slow');
  // Foreign look-alikes: a job's name without gear's label, a build's label under another name, one label with the other's name.
  await sh(H, 'docker create --name gear-job-0123456789ab test/web true >/dev/null; docker create --name lookalike-build --label io.gear.build=0123456789ab test/web true >/dev/null; docker create --name gear-build-0123456789ab --label io.gear.job=0123456789ab test/web true >/dev/null');
  const images = await sh(H, 'docker images -aq | sort');
  const r = await run(H, ['sh', '-c', [
    WAIT_FOR,
    `${GEAR} run-job test/web -- sh -c 'echo alive-job; exec sleep 600' >/tmp/alive.out 2>&1 & alive=$!`,
    'w /tmp/alive.out alive-job || exit 1',
    "alive_unit=$(systemctl list-units --no-legend --plain 'gear-job-*' | cut -d' ' -f1)",
    `${GEAR} run-job test/web -- sh -c 'echo killed-job; exec sleep 600' >/tmp/killed-job.out 2>&1 & kj=$!`,
    `${GEAR} build /srv/src/slow test/builder test/app:killed >/tmp/killed-build.out 2>&1 & kb=$!`,
    'w /tmp/killed-job.out killed-job && w /tmp/killed-build.out "slow as asked" || exit 1',
    'kill -KILL $kj $kb; wait $kj $kb',
    "killed_unit=$(systemctl list-units --no-legend --plain 'gear-job-*' | cut -d' ' -f1 | grep -v $alive_unit)",
    "build_unit=$(systemctl list-units --no-legend --plain 'gear-build-*' | cut -d' ' -f1)",
    'echo "alive=$alive_unit killed=$killed_unit build=$build_unit"',
    `echo '--- before'; ${RUNS}`,
    `echo '--- dry run'; ${GEAR} clean --repair --dry-run; echo "exit=$?"`,
    `echo '--- after the dry run'; ${RUNS}`,
    `echo '--- repair'; ${GEAR} clean --repair; echo "exit=$?"`,
    `echo '--- after'; ${RUNS}`,
    `echo '--- again'; ${GEAR} clean --repair | grep gear- ; echo '--- the alive job'`,
    'kill -INT $alive; wait $alive; echo "exit=$?"; cat /tmp/alive.out',
  ].join('\n')], { timeoutMs: 600_000 });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout;
  const [, alive, killed, build] = /^alive=gear-job-([0-9a-f]{12})\.service killed=gear-job-([0-9a-f]{12})\.service build=gear-build-([0-9a-f]{12})\.service\n/.exec(out) ?? [];
  assert.ok(alive && killed && build, out);
  /** The lines printed after "--- NAME" up to the next "--- " line. */
  const section = (name: string) => {
    const from = out.indexOf(`--- ${name}\n`);
    assert.ok(from >= 0, `no section ${name} in:\n${out}`);
    const rest = out.slice(from + name.length + 5);
    const end = rest.search(/^--- /m);
    return end < 0 ? rest : rest.slice(0, end);
  };
  const lines = (text: string) => text.split('\n').filter(Boolean).sort();
  const before = section('before');
  for (const want of [`gear-job-${alive}.service active running`, `gear-job-${killed}.service active running`, `gear-build-${build}.service active running`, `gear-job-${alive}`, `gear-job-${killed}`, `gear-build-${build}`])
    assert.ok(before.split('\n').includes(want), `missing ${want} in:\n${before}`);
  // The dry run lists the killed two (their locks, held by gone processes, and their runs) and changes nothing.
  const expected = (verb: string) => [
    `${verb}: lock /var/lib/gear/locks/@gear-job-${killed}.lock is held by a process that is gone: remove the lock`,
    `${verb}: lock /var/lib/gear/locks/@gear-build-${build}.lock is held by a process that is gone: remove the lock`,
    `${verb}: job gear-job-${killed} was left by a gear process that is gone: container gear-job-${killed} (`,
    `${verb}: build gear-build-${build} was left by a gear process that is gone: container gear-build-${build} (`,
  ];
  for (const [name, verb] of [['dry run', 'would fix'], ['repair', 'fixed']] as const) {
    const found = FINDINGS(section(name));
    assert.is(found.length, 4, section(name));
    for (const want of expected(verb)) assert.ok(found.some((l) => l.startsWith(want)), `missing "${want}" in:\n${section(name)}`);
    assert.ok(found.some((l) => l.endsWith(`unit gear-build-${build}.service (active): stop gear-build-${build}.service and remove its containers (nothing is tagged)`)), section(name));
    assert.not.match(section(name), new RegExp(`${alive}|0123456789ab|lookalike`));
    assert.match(section(name), /\nexit=0\n$/);
  }
  assert.is(section('after the dry run'), before);
  // Repaired: only the running job and the foreign containers are left; a second repair finds nothing of runs.
  assert.equal(lines(section('after')), lines(`gear-job-${alive}.service active running\ngear-build-0123456789ab\ngear-job-0123456789ab\ngear-job-${alive}\n`));
  assert.is(section('again'), '');
  // The running job was never touched: it ends as any job does when its CLI is interrupted.
  assert.match(section('the alive job'), /^exit=[1-9][0-9]*\nalive-job\ngear: job [0-9a-f]{12} cancelled\n$/);
  assert.is(await run(H, ['docker', 'image', 'inspect', 'test/app:killed']).then((x) => x.code), 1);
  assert.is(await sh(H, 'docker images -aq | sort'), images);
  await sh(H, 'docker rm -f gear-job-0123456789ab lookalike-build gear-build-0123456789ab >/dev/null');
  assert.is(await leftovers(), '');
});

test('the agent killed (SIGKILL) mid-job and mid-build: after it is back, gear clean --repair removes what they left', async () => {
  const r = await run(H, ['sh', '-c', [
    WAIT_FOR,
    `GEAR_AGENT=unix:///run/gear/gear.sock ${GEAR} run-job test/web -- sh -c 'echo agent-killed-job; exec sleep 600' >/tmp/ak-job.out 2>&1 & kj=$!`,
    `GEAR_AGENT=unix:///run/gear/gear.sock ${GEAR} build /srv/src/slow test/builder test/app:agent-killed >/tmp/ak-build.out 2>&1 & kb=$!`,
    'w /tmp/ak-job.out agent-killed-job && w /tmp/ak-build.out "slow as asked" || exit 1',
    'systemctl kill -s KILL gear-agent; wait $kj $kb',
    `echo '--- left'; ${RUNS}`,
  ].join('\n')], { timeoutMs: 600_000 });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /--- left\ngear-build-[0-9a-f]{12}\.service active running\ngear-job-[0-9a-f]{12}\.service active running\ngear-build-[0-9a-f]{12}\ngear-job-[0-9a-f]{12}\n$/);
  await startAgent(H, [], { GEAR_BUILD_SOURCES: '/srv/src' });
  // Through the agent (its own new process holds no lock of theirs).
  const repaired = await gear(H, ['clean', '--repair'], { env: AGENT, timeoutMs: 600_000 });
  assert.is(repaired.code, 0, repaired.stderr);
  const found = FINDINGS(repaired.stdout);
  assert.is(found.filter((l) => /^fixed: (job|build) gear-(job|build)-[0-9a-f]{12} was left by a gear process that is gone: /.test(l)).length, 2, repaired.stdout);
  assert.is(await leftovers(), '');
  assert.is(await run(H, ['docker', 'image', 'inspect', 'test/app:agent-killed']).then((x) => x.code), 1);
});

test.run();
