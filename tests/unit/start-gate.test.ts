import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runningGateScript } from '../../src/model/unit.js';

/**
 * The unit's ExecStartPost gate run by /bin/sh against a fake docker client
 * whose `inspect` answers what a file says ("true" once the container runs,
 * nothing while there is none); the unit's main process is a sleep (the
 * docker run client). Each case waits for events, never for a time.
 */
const INSPECT = 'inspect --type container -f {{.State.Running}} ctr-web-1';

function fakeDocker(running: string) {
  const dir = mkdtempSync(join(tmpdir(), 'gear-gate-'));
  writeFileSync(`${dir}/running`, running);
  writeFileSync(`${dir}/docker`, `#!/bin/sh\necho "$*" >> ${dir}/calls\n[ "$1" = inspect ] && cat ${dir}/running\n`);
  chmodSync(`${dir}/docker`, 0o755);
  const calls = () => {
    try {
      return readFileSync(`${dir}/calls`, 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  return { dir, calls, set: (v: string) => writeFileSync(`${dir}/running`, v), done: () => rmSync(dir, { recursive: true, force: true }) };
}

function runGate(dir: string, mainPid: number) {
  const gate = spawn('/bin/sh', ['-c', runningGateScript(`${dir}/docker`, 'ctr-web-1')], { env: { ...process.env, MAINPID: String(mainPid) } });
  const exit = new Promise<number | null>((r) => gate.on('exit', (code) => r(code)));
  return { gate, exit };
}

async function until(ready: () => boolean): Promise<void> {
  for (let waited = 0; !ready(); waited += 20) {
    if (waited > 60_000) throw new Error('never got there');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a running container: one inspect, and the start completes', async () => {
  const d = fakeDocker('true');
  const main = spawn('sleep', ['300']);
  try {
    const { exit } = runGate(d.dir, main.pid!);
    assert.is(await exit, 0);
    assert.equal(d.calls(), [INSPECT]);
  } finally {
    main.kill('SIGKILL');
    d.done();
  }
});

test('no container yet: the gate waits, inspecting, until it runs', async () => {
  const d = fakeDocker('');
  const main = spawn('sleep', ['300']);
  try {
    const { gate, exit } = runGate(d.dir, main.pid!);
    await until(() => d.calls().length >= 3);
    assert.is(gate.exitCode, null, 'still waiting after three inspects of no container');
    d.set('false'); // created, not started yet
    const seen = d.calls().length;
    await until(() => d.calls().length >= seen + 2);
    assert.is(gate.exitCode, null, 'still waiting while the container is created but not running');
    d.set('true');
    assert.is(await exit, 0);
    assert.ok(d.calls().every((c) => c === INSPECT));
  } finally {
    main.kill('SIGKILL');
    d.done();
  }
});

test('the client exits first (a failed run, or a container that ended): the gate steps aside with success', async () => {
  const d = fakeDocker('');
  const main = spawn('sleep', ['300']);
  const mainGone = new Promise((r) => main.on('exit', r));
  try {
    const { gate, exit } = runGate(d.dir, main.pid!);
    await until(() => d.calls().length >= 2);
    assert.is(gate.exitCode, null);
    main.kill('SIGKILL');
    await mainGone; // reaped, so kill -0 no longer finds it
    assert.is(await exit, 0);
  } finally {
    d.done();
  }
});

test.run();
