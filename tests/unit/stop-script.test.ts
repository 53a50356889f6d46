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
async function runStop(state: string, onCall: (args: string, dir: string) => void = () => undefined): Promise<{ calls: string[]; mainExit: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gear-stop-'));
  try {
    writeFileSync(`${dir}/state`, state);
    writeFileSync(
      `${dir}/docker`,
      `#!/bin/sh\necho "$*" >> ${dir}/calls\ncase $1 in inspect) cat ${dir}/state;; stop) if [ "$(cat ${dir}/state)" = running ]; then echo exited > ${dir}/state; kill $MAINPID; fi;; esac\n`,
    );
    chmodSync(`${dir}/docker`, 0o755);
    const main = spawn('sleep', ['30']);
    const exited = new Promise<string>((r) => main.on('exit', (code, sig) => r(sig ?? String(code))));
    const script = stopScript(`${dir}/docker`, 10, 'ctr-web-1');
    const stop = spawn('/bin/sh', ['-c', script], { env: { ...process.env, MAINPID: String(main.pid) } });
    // Let a round or two pass, then play the part of whoever moves the container on.
    await new Promise((r) => setTimeout(r, 1200));
    onCall(readFileSync(`${dir}/calls`, 'utf8'), dir);
    const mainExit = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 3000))]);
    // The script ends with the client.
    main.kill('SIGKILL');
    await new Promise((r) => (stop.exitCode === null ? stop.on('exit', r) : r(undefined)));
    return { calls: readFileSync(`${dir}/calls`, 'utf8').trim().split('\n'), mainExit };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const INSPECT = "inspect --type container -f {{.State.Status}} ctr-web-1";

test('no container yet (the client is creating it): SIGTERM to the client, no docker stop', async () => {
  const r = await runStop('');
  assert.is(r.mainExit, 'SIGTERM');
  assert.equal(r.calls, [INSPECT]);
});

test('running: one docker stop, which ends the client', async () => {
  const r = await runStop('running');
  assert.equal(r.calls, [INSPECT, 'stop -t 10 ctr-web-1']);
  assert.is(r.mainExit, 'SIGTERM');
});

test('created, not started: a stop every round until it runs, which then stops it; the client is not signalled meanwhile', async () => {
  const r = await runStop('created', (calls, dir) => {
    assert.ok(calls.split('\n').filter((c) => c === INSPECT).length >= 2, calls);
    // The client starts the container now.
    writeFileSync(`${dir}/state`, 'running');
  });
  assert.is(r.calls.at(-1), 'stop -t 10 ctr-web-1');
  assert.is(r.mainExit, 'SIGTERM', 'ended by the stop once it ran');
});

test('exited or being removed: only inspect, no stop and no signal, while the client finishes', async () => {
  const r = await runStop('removing');
  assert.is(r.mainExit, 'still running');
  assert.ok(r.calls.length >= 2 && r.calls.every((c) => c === INSPECT), r.calls.join('\n'));
});

test.run();
