import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stopScript } from '../../src/model/unit.js';

/**
 * The unit's ExecStop script run by /bin/sh against a fake docker client
 * that logs its calls and answers `inspect` with the state in a file; the
 * unit's main process is a sleep (the docker run client). Like Docker's, the
 * fake's stop does nothing to a container that is not running. Each case:
 * what the script does for one state of the container.
 */
const INSPECT = "inspect --type container -f {{.State.Status}} ctr-web-1";
const inspections = (calls: string[]) => calls.filter((c) => c === INSPECT).length;

const readCalls = (dir: string) => {
  try {
    return readFileSync(`${dir}/calls`, 'utf8').trim().split('\n');
  } catch {
    return [];
  }
};

/** Resolves once `ready` holds of the calls logged so far (checked every 50 ms; gives up after a minute). */
async function callsWhere(dir: string, ready: (calls: string[]) => boolean): Promise<void> {
  for (let waited = 0; !ready(readCalls(dir)); waited += 50) {
    if (waited > 60_000) throw new Error(`the stop script never got there; calls: ${readCalls(dir).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Run the script against a container in `state`. Once the calls logged
 * satisfy `until`, `then` plays whoever moves the container on; the result
 * says how the client ended: by a signal, or still running (when `ends` is
 * false it is checked at that moment: after whole rounds of the script).
 * Each step waits for an event, never for a time, so a slow machine only
 * makes it slower.
 */
async function runStop(
  state: string,
  opts: { until: (calls: string[]) => boolean; then?: (dir: string) => void; ends: boolean },
): Promise<{ calls: string[]; mainExit: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gear-stop-'));
  try {
    writeFileSync(`${dir}/state`, state);
    writeFileSync(
      `${dir}/docker`,
      `#!/bin/sh\necho "$*" >> ${dir}/calls\ncase $1 in inspect) cat ${dir}/state;; stop) if [ "$(cat ${dir}/state)" = running ]; then echo exited > ${dir}/state; kill $MAINPID; fi;; esac\n`,
    );
    chmodSync(`${dir}/docker`, 0o755);
    const main = spawn('sleep', ['300']);
    const exited = new Promise<string>((r) => main.on('exit', (code, sig) => r(sig ?? String(code))));
    const script = stopScript(`${dir}/docker`, 10, 'ctr-web-1');
    const stop = spawn('/bin/sh', ['-c', script], { env: { ...process.env, MAINPID: String(main.pid) } });
    await callsWhere(dir, opts.until);
    opts.then?.(dir);
    const mainExit = opts.ends ? await exited : main.exitCode === null && main.signalCode === null ? 'still running' : 'ended';
    // The script ends with the client.
    main.kill('SIGKILL');
    await new Promise((r) => (stop.exitCode === null ? stop.on('exit', r) : r(undefined)));
    return { calls: readCalls(dir), mainExit };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


/**
 * The stop that ended the client was the last: a round after it (the killed
 * client not yet reaped by its parent, so kill -0 still finds it) only
 * inspects the container, which is exited by then.
 */
function afterLastStopOnlyInspections(calls: string[]): void {
  const last = calls.lastIndexOf('stop -t 10 ctr-web-1');
  assert.ok(last >= 0, calls.join('\n'));
  assert.ok(calls.slice(last + 1).every((c) => c === INSPECT), calls.join('\n'));
}

test('no container yet (the client is creating it): SIGTERM to the client, no docker stop', async () => {
  const r = await runStop('', { until: (calls) => inspections(calls) >= 1, ends: true });
  assert.is(r.mainExit, 'SIGTERM');
  // More rounds may run until the killed client is reaped (kill -0 still finds it): each only inspects.
  assert.ok(r.calls.every((c) => c === INSPECT), r.calls.join('\n'));
});

test('running: one docker stop, which ends the client', async () => {
  const r = await runStop('running', { until: (calls) => calls.includes('stop -t 10 ctr-web-1'), ends: true });
  assert.equal(r.calls.slice(0, 2), [INSPECT, 'stop -t 10 ctr-web-1']);
  afterLastStopOnlyInspections(r.calls);
  assert.is(r.mainExit, 'SIGTERM');
});

test('created, not started: a stop every round until it runs, which then stops it; the client is not signalled meanwhile', async () => {
  const r = await runStop('created', {
    // Two rounds seen, each with its stop that did nothing...
    until: (calls) => inspections(calls) >= 2,
    // ...and the client starts the container now.
    then: (dir) => writeFileSync(`${dir}/state`, 'running'),
    ends: true,
  });
  assert.ok(r.calls.includes('stop -t 10 ctr-web-1'));
  afterLastStopOnlyInspections(r.calls);
  assert.is(r.mainExit, 'SIGTERM', 'ended by the stop once it ran');
});

test('exited or being removed: only inspect, no stop and no signal, while the client finishes', async () => {
  const r = await runStop('removing', { until: (calls) => inspections(calls) >= 3, ends: false });
  assert.is(r.mainExit, 'still running');
  assert.ok(r.calls.length >= 2 && r.calls.every((c) => c === INSPECT), r.calls.join('\n'));
});

test.run();
