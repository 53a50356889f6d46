import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, eventually, gear, journalMatching, putFile, sh, stateListing } from './harness.js';

// Limits on a real host: docker enforces them on the container's own cgroup
// (docker-ID.scope, put in the unit's slice), systemd shows them there and
// the unit names them; a memory hog is OOM-killed and its unit restarts; a
// fork loop stops at the pids limit; a re-install keeps them.

const M = 1024 * 1024;

/** The scope unit of the container's running container (the unit is active before docker has made it). */
async function scopeOf(name: string): Promise<string> {
  const id = await eventually(async () => /^([0-9a-f]{64}) true$/m.exec(await sh(H, `docker inspect -f '{{.Id}} {{.State.Running}}' ctr-${name} 2>/dev/null || true`))?.[1], 60_000, 250);
  assert.ok(id, `container ctr-${name} is not running`);
  return `docker-${id}.scope`;
}

/** `systemctl show -p ...` of a unit as a record. */
async function show(unit: string, props: string[]): Promise<Record<string, string>> {
  const out = await sh(H, `systemctl show ${unit} ${props.map((p) => `-p ${p}`).join(' ')}`);
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The memory limit systemd shows: MemoryLimit= with cgroup v1, MemoryMax= with v2. */
const memoryOf = (p: Record<string, string>) => (p.MemoryMax && p.MemoryMax !== 'infinity' ? p.MemoryMax : p.MemoryLimit);

test.before(async () => {
  // A memory hog: awk as the container's main process (PID 1) doubles a string up to 256 MiB, then says it survived.
  await sh(H, 'mkdir -p /tmp/hog');
  await putFile(H, '/tmp/hog/Dockerfile', `FROM test/web
CMD exec awk 'BEGIN { print "hog: start"; fflush(); s = "a"; for (i = 0; i < 28; i++) s = s s; print "hog: survived"; fflush(); system("sleep 3600") }'
`);
  await sh(H, 'docker build -q -t test/hog /tmp/hog >/dev/null');
});

test('install with --memory --cpus --pids --slice: systemctl show has them on the container scope in the slice; the unit and status name them', async () => {
  const r = await gear(H, ['install', 'test/web', 'lim-1', '--memory', '64M', '--cpus', '0.5', '--pids', '20', '--slice', 'gear-small.slice', '--start']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'systemctl show -p Slice --value ctr-lim-1')).trim(), 'gear-small.slice');
  const scope = await show(await scopeOf('lim-1'), ['Slice', 'MemoryMax', 'MemoryLimit', 'TasksMax', 'CPUQuotaPerSecUSec']);
  assert.is(scope.Slice, 'gear-small.slice', 'the container is accounted in the unit slice');
  assert.is(memoryOf(scope), String(64 * M));
  assert.is(scope.TasksMax, '20');
  assert.is(scope.CPUQuotaPerSecUSec, '500ms');
  const execStart = await sh(H, 'systemctl show -p ExecStart --value ctr-lim-1');
  assert.match(execStart, /--cgroup-parent gear-small\.slice --memory 67108864 --memory-swap 67108864 --cpus 0\.5 --pids-limit 20 test\/web/);
  assert.match(await sh(H, 'cat /etc/systemd/system/ctr-lim-1.service'), /^# gear: limits memory=64M cpus=0\.5 pids=20 /m);
  // The slice holds the container's processes: systemd's accounting sees them.
  // (The start returns once the container runs: its /start execs httpd a moment later.)
  const inSlice = /docker-[0-9a-f]{64}\.scope[\s\S]*httpd/;
  let slice = '';
  await eventually(async () => inSlice.test((slice = await sh(H, 'systemctl status gear-small.slice --no-pager'))), 60_000);
  assert.match(slice, inSlice);
  const status = await gear(H, ['status', 'lim-1']);
  assert.match(status.stdout, /^ {3}Limits: memory=64M cpus=0\.5 pids=20 in gear-small\.slice$/m);
});

test('a fork loop stops at the pids limit: forks beyond it fail, the container never has more than 20 tasks', async () => {
  const scope = await scopeOf('lim-1');
  const cg = (await show(scope, ['ControlGroup'])).ControlGroup;
  // pids.events of the scope's cgroup (v1 or v2): "max N", the forks the limit refused.
  const refusedForks = async () => Number(/^max ([0-9]+)$/m.exec(await sh(H, `cat /sys/fs/cgroup/pids${cg}/pids.events 2>/dev/null || cat /sys/fs/cgroup${cg}/pids.events`))?.[1]);
  assert.is(await refusedForks(), 0);
  await sh(H, `docker exec -d ctr-lim-1 sh -c 'for i in $(seq 1 60); do sleep 300 & done; wait'`);
  const counts: number[] = [];
  const hit = await eventually(
    async () => {
      counts.push(Number((await show(scope, ['TasksCurrent'])).TasksCurrent));
      return (await refusedForks()) > 0;
    },
    60_000,
    250,
  );
  assert.ok(hit, `no fork was refused; tasks seen: ${counts.join(' ')}`);
  counts.push(Number((await show(scope, ['TasksCurrent'])).TasksCurrent));
  assert.ok(Math.max(...counts) <= 20, `tasks seen: ${counts.join(' ')}`);
  // The loop got as far as the limit lets it (60 sleeps asked for).
  assert.ok(counts.at(-1)! >= 15, `tasks seen: ${counts.join(' ')}`);
});

test('a re-install keeps the limits it does not name; "none" removes one; status shows them', async () => {
  const r = await gear(H, ['install', 'test/web', 'lim-1', '--slice', 'gear-small.slice', '--cpus', '1']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /lim-1 updated and restarted/);
  const scope = await show(await scopeOf('lim-1'), ['MemoryMax', 'MemoryLimit', 'TasksMax', 'CPUQuotaPerSecUSec']);
  assert.equal([memoryOf(scope), scope.TasksMax, scope.CPUQuotaPerSecUSec], [String(64 * M), '20', '1s']);
  assert.match((await gear(H, ['status', 'lim-1'])).stdout, /Limits: memory=64M cpus=1 pids=20 in gear-small\.slice/);
  // Stopped first, to spare a restart: the unit's docker run is what the next start runs.
  assert.is((await gear(H, ['stop', 'lim-1'])).code, 0);
  const none = await gear(H, ['install', 'test/web', 'lim-1', '--slice', 'gear-small.slice', '--pids', 'none']);
  assert.is(none.code, 0, none.stderr);
  const execStart = await sh(H, 'systemctl show -p ExecStart --value ctr-lim-1');
  assert.match(execStart, /--cgroup-parent gear-small\.slice --memory 67108864 --memory-swap 67108864 --cpus 1 test\/web/);
  assert.not.match(execStart, /--pids-limit/);
  assert.match((await gear(H, ['status', 'lim-1'])).stdout, /Limits: memory=64M cpus=1 in gear-small\.slice\n/);
  const def = JSON.parse(await sh(H, 'cat /var/lib/gear/containers/lim-1.json'));
  assert.equal(def.Limits, { Memory: 64 * M, Cpus: 1 });
});

test('a memory hog is OOM-killed and its unit restarts it', async () => {
  const since = (await sh(H, 'date +%s')).trim();
  const r = await gear(H, ['install', 'test/hog', 'hog-1', '--memory', '32M', '--start']);
  assert.is(r.code, 0, r.stderr);
  const restarted = await eventually(async () => Number((await show('ctr-hog-1', ['NRestarts'])).NRestarts) >= 1, 90_000, 250);
  assert.ok(restarted, await sh(H, `journalctl -u ctr-hog-1 --since @${since} --no-pager | tail -20`));
  // systemd's line of the kill may reach the journal after the restart is counted: waited for.
  const log = await journalMatching(H, `-u ctr-hog-1 --since @${since} -o cat`, /ctr-hog-1\.service: Main process exited, code=exited, status=137/);
  assert.ok((log.match(/^hog: start$/gm) ?? []).length >= 1, log);
  assert.not.match(log, /hog: survived/);
  // Killed (137: SIGKILL from the OOM killer), which Restart=on-failure restarts.
  assert.match(log, /ctr-hog-1.service: Main process exited, code=exited, status=137/);
  // And it was the OOM killer: Docker saw the container's cgroup run out of memory.
  const events = await sh(H, `docker events --since ${since} --until $(date +%s) --filter event=oom --filter container=ctr-hog-1 --format '{{.Action}} {{.Actor.Attributes.name}}'`);
  assert.match(events, /^oom ctr-hog-1$/m);
  await gear(H, ['stop', 'hog-1']);
});

test('nasty limits and slices are refused with one line, and nothing changes', async () => {
  const before = await stateListing(H);
  const cases: [string[], RegExp][] = [
    [['--memory', '64M; rm -rf /'], /--memory "64M; rm -rf \/" is not a memory size/],
    [['--memory', '5M'], /below the least Docker allows/],
    [['--memory', '-1'], /is not a memory size/],
    [['--cpus', '0'], /--cpus 0 must be a number of CPUs above 0/],
    [['--cpus', '1e3'], /--cpus "1e3"/],
    [['--cpus', '64'], /Cpus 64 is more than this host has/],
    [['--pids', '0'], /--pids 0 must be a whole number/],
    [['--pids', '$(reboot)'], /--pids "\$\(reboot\)"/],
    [['--slice', 'system.slice'], /slice "system.slice" is not gear's/],
    [['--slice', 'gear-a\nExecStartPre=/bin/false'], /not a valid systemd slice name/],
  ];
  for (const [flags, message] of cases) {
    const r = await gear(H, ['install', 'test/web', 'lim-bad', ...flags]);
    assert.is(r.code, 1, flags.join(' '));
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.is(await stateListing(H), before);
});

test.after(async () => {
  await gear(H, ['delete', 'lim-1', 'hog-1']);
  await sh(H, 'docker rmi test/hog >/dev/null 2>&1; true');
});

test.run();
