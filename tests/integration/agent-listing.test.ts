import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, eventually, gear, run, sh, startAgent, stopAgent, journalMatching } from './harness.js';

// The agent answers GET /containers from units it keeps in memory, fed by
// systemd's signals. Here units change behind gear's back (systemctl,
// docker kill, a hand-edited unit and daemon-reload, a re-exec of systemd)
// and the very next listing must say what systemd says.

const NAMES = ['lc-a', 'lc-b', 'lc-c'];
const AGENT = { GEAR_AGENT: 'unix:///run/gear/gear.sock' };

interface Row {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
  Description?: string;
}

/** The agent's listing of the test's containers. */
async function agentRows(): Promise<Row[]> {
  const r = await run(H, ['curl', '-sf', '--unix-socket', '/run/gear/gear.sock', 'http://agent/containers?all=1']);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { Containers: Row[] }).Containers.filter((c) => NAMES.includes(c.Id));
}

/**
 * systemd's own word, read independently: `systemctl list-units` (loaded
 * units only: it loads nothing), and "not-loaded" for an installed one it
 * does not list, as gear reports it.
 */
const LIST_UNITS = "systemctl list-units --all --plain --no-legend --full 'ctr-lc-*.service'";
const systemdRows = async () => rowsOf(await sh(H, LIST_UNITS));

function rowsOf(out: string): Row[] {
  const loaded = new Map<string, Row>();
  for (const line of out.split('\n')) {
    const m = /^ctr-(\S+)\.service\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (m) loaded.set(m[1]!, { Id: m[1]!, LoadState: m[2]!, ActiveState: m[3]!, SubState: m[4]!, Description: m[5]! });
  }
  return NAMES.map((id) => loaded.get(id) ?? { Id: id, ActiveState: 'inactive', SubState: 'dead', LoadState: 'not-loaded' });
}

const key = (rows: Row[]) => JSON.stringify(rows.map((r) => [r.Id, r.LoadState, r.ActiveState, r.SubState, r.Description ?? '']));

/**
 * The agent's next listing equals systemd's, read just before and just
 * after it. When those two differ, the unit was still changing (a restart
 * timer, a stop in progress): look again.
 */
async function assertAgentCurrent(what: string): Promise<Row[]> {
  for (let i = 0; i < 20; i++) {
    const before = await systemdRows();
    const agent = await agentRows();
    const after = await systemdRows();
    if (key(before) !== key(after)) continue;
    assert.is(key(agent), key(before), `${what}: the agent's listing is systemd's`);
    return agent;
  }
  throw new Error(`${what}: systemd's units never held still`);
}

const rowOf = (rows: Row[], id: string) => rows.find((r) => r.Id === id)!;
const activeState = async (unit: string) => (await run(H, ['systemctl', 'is-active', unit])).stdout.trim();

test.before(async () => {
  await startAgent(H);
  for (const n of NAMES) {
    const r = await gear(H, ['install', 'test/web', n], { env: AGENT });
    assert.is(r.code, 0, r.stderr);
  }
});
test.after(async () => {
  await stopAgent(H);
  await gear(H, ['delete', ...NAMES]);
});

test('installed, never started: listed as not loaded', async () => {
  const rows = await assertAgentCurrent('after install');
  for (const r of rows) assert.is(r.LoadState, 'not-loaded');
});

test('a listing right after `gear start` through the agent shows the unit active', async () => {
  const r = await gear(H, ['start', 'lc-a'], { env: AGENT });
  assert.is(r.code, 0, r.stderr);
  const row = rowOf(await agentRows(), 'lc-a');
  assert.equal([row.ActiveState, row.SubState, row.LoadState], ['active', 'running', 'loaded']);
  await assertAgentCurrent('after gear start');
});

test('systemctl start and stop behind gear\'s back show in the next listing', async () => {
  await sh(H, 'systemctl start ctr-lc-b');
  assert.is(rowOf(await assertAgentCurrent('after systemctl start'), 'lc-b').ActiveState, 'active');
  await sh(H, 'systemctl stop ctr-lc-a');
  assert.is.not(rowOf(await assertAgentCurrent('after systemctl stop'), 'lc-a').ActiveState, 'active');
});

test('docker kill: a container stopped by SIGTERM leaves its unit inactive, the next listing says so', async () => {
  assert.ok(await eventually(async () => (await run(H, ['docker', 'inspect', '-f', '{{.State.Running}}', 'ctr-lc-b'])).stdout.trim() === 'true'));
  await sh(H, 'docker kill -s TERM ctr-lc-b >/dev/null');
  assert.ok(await eventually(async () => (await activeState('ctr-lc-b')) !== 'active'), 'the unit stopped');
  assert.is.not(rowOf(await assertAgentCurrent('after docker kill -s TERM'), 'lc-b').ActiveState, 'active');
});

test('docker kill: a killed container fails its unit (restarted by systemd), each state shows', async () => {
  // The unit restarts after RestartSec (2 s), too short a window for reads from here on a busy
  // machine: a runtime drop-in holds the failed state still while the listing is compared.
  const dropIn = '/run/systemd/system/ctr-lc-c.service.d';
  await sh(H, `mkdir -p ${dropIn} && printf '[Service]\\nRestartSec=1h\\n' >${dropIn}/hold.conf && systemctl daemon-reload && systemctl start ctr-lc-c`);
  try {
    assert.ok(await eventually(async () => (await run(H, ['docker', 'inspect', '-f', '{{.State.Running}}', 'ctr-lc-c'])).stdout.trim() === 'true'));
    await sh(H, 'docker kill ctr-lc-c >/dev/null');
    assert.ok(await eventually(async () => (await activeState('ctr-lc-c')) !== 'active'), 'the unit left active');
    const rows = await assertAgentCurrent('after docker kill');
    assert.is.not(rowOf(rows, 'lc-c').ActiveState, 'active');
    assert.is(rowOf(rows, 'lc-c').SubState, 'auto-restart', 'waiting for its restart (Restart=on-failure)');
  } finally {
    await sh(H, `rm -rf ${dropIn} && systemctl daemon-reload`);
  }
  // Its restart comes now; the listing follows.
  await sh(H, 'systemctl restart ctr-lc-c');
  assert.is(rowOf(await assertAgentCurrent('after the restart'), 'lc-c').ActiveState, 'active');
});

test('a hand-edited unit and daemon-reload: the next listing has its new description', async () => {
  await sh(H, "sed -i 's/^Description=.*/Description=edited by hand/' /etc/systemd/system/ctr-lc-c.service && systemctl daemon-reload");
  assert.is(rowOf(await assertAgentCurrent('after daemon-reload'), 'lc-c').Description, 'edited by hand');
  // A unit file made unloadable: LoadState changes with the next reload.
  await sh(H, "sed -i 's/^Restart=.*/Restart=bogus-value/; s/^ExecStart=/ExecStart=relative-path /' /etc/systemd/system/ctr-lc-c.service && systemctl daemon-reload");
  await assertAgentCurrent('after a reload of a broken unit');
});

test('after systemd re-executes, the listing is current and changes still show', async () => {
  await sh(H, 'systemctl daemon-reexec');
  await assertAgentCurrent('after daemon-reexec');
  await sh(H, 'systemctl stop ctr-lc-c');
  await assertAgentCurrent('a stop after daemon-reexec');
  await sh(H, 'systemctl start ctr-lc-b');
  assert.is(rowOf(await assertAgentCurrent('a start after daemon-reexec'), 'lc-b').ActiveState, 'active');
});

test('the agent restarted: synced at start', async () => {
  await startAgent(H);
  await assertAgentCurrent('after the agent restarted');
});

test('SIGTERM: the agent exits by itself, its connection to systemd closed (not killed at the stop timeout)', async () => {
  const since = (await sh(H, 'date +%s')).trim();
  await sh(H, 'systemctl stop gear-agent');
  // The agent's last lines, written as it exits, may reach the journal after systemctl stop returned.
  const journal = await journalMatching(H, `-u gear-agent --since @${since}`, /SIGTERM: stopping/);
  assert.match(journal, /SIGTERM: stopping/);
  assert.not.match(journal, /timed out|SIGKILL/);
});

test.run();
