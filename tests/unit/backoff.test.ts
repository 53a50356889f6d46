import Handlebars from 'handlebars';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadUnitTemplates } from '../../src/host/templates.js';
import { BACKOFF_DIR, backoffCountScript, backoffDelay, backoffWaitScript, parseBackoff } from '../../src/model/backoff.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { containerUnitRenderer, type UnitContext } from '../../src/model/unit.js';

/** The scripts, run for real by sh, on a directory of the test's instead of /run/gear-backoff. */
const dir = mkdtempSync(join(tmpdir(), 'gear-backoff-'));
const local = (script: string) => script.split(BACKOFF_DIR).join(dir);
const file = join(dir, 'web-1');
const now = () => Math.floor(Date.now() / 1000);

/**
 * A clock of the test's: `date` (the scripts ask only `date +%s`) says T,
 * then T + step at the next call, and so on; `sleep` returns at once. The
 * scripts' arithmetic is then checked to the second whatever the machine's
 * load (a real clock can tick between the script and the assertion).
 */
const clock = mkdtempSync(join(tmpdir(), 'gear-clock-'));
writeFileSync(join(clock, 'date'), '#!/bin/sh\nread -r n < "$GEAR_CLOCK/now"; echo $((n + GEAR_CLOCK_STEP)) > "$GEAR_CLOCK/now"; echo "$n"\n', { mode: 0o755 });
writeFileSync(join(clock, 'sleep'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const T = 1_800_000_000;
function onClock(script: string, at: number, step: number, env: Record<string, string> = {}) {
  writeFileSync(join(clock, 'now'), `${at}\n`);
  const r = spawnSync('sh', ['-c', local(script)], { env: { ...process.env, ...env, PATH: `${clock}:${process.env.PATH}`, GEAR_CLOCK: clock, GEAR_CLOCK_STEP: String(step) }, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}
/** The stop script after a run that ended with `result`, at T. */
const count = (result: string) => onClock(backoffCountScript('web-1'), T, 0, { SERVICE_RESULT: result });

test('delays: 1, 2, 4 ... capped at 60 s', () => {
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 100].map(backoffDelay), [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
});

test('the stop script counts failures in a row with doubling waits, and forgets them after a clean stop', () => {
  const waits: number[] = [];
  for (let i = 1; i <= 8; i++) {
    const out = count('exit-code');
    const m = /^gear: failure (\d+) in a row \(exit-code\): the next start waits (\d+) s$/.exec(out.trim());
    assert.ok(m, out);
    assert.is(Number(m![1]), i);
    waits.push(Number(m![2]));
    const [n, until] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
    assert.is(n, i);
    // The announced wait and a second more: `date +%s` drops the fraction of the second the failure came in.
    assert.is(until, T + waits.at(-1)! + 1);
  }
  assert.equal(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
  assert.is(count('success'), '');
  assert.not.ok(existsSync(file));
  assert.match(count('signal'), /failure 1 in a row \(signal\): the next start waits 1 s/);
});

test('a run that lasted the longest delay or more was a good one: its failure is the first again', () => {
  writeFileSync(file, `5 0 ${T - 60}\n`);
  assert.match(count('exit-code'), /failure 1 in a row/);
  writeFileSync(file, `5 0 ${T - 59}\n`);
  assert.match(count('exit-code'), /failure 6 in a row/);
  writeFileSync(file, 'garbage here\n');
  assert.match(count('exit-code'), /failure 1 in a row/);
});

test('the start script waits until the time set, says so, and notes the start', () => {
  // The clock moves a second per `date`: the first says T, the wait's checks T+1 .. T+4, the note T+5.
  writeFileSync(file, `3 ${T + 4} 0\n`);
  const out = onClock(backoffWaitScript('web-1'), T, 1);
  assert.is(out, 'gear: backing off after 3 failures in a row: next try in 4 s\n');
  const [n, until, started] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
  assert.is(n, 3);
  assert.is(until, 0);
  // The start is noted once the wait is over, not before.
  assert.is(started, T + 5);
  assert.is(readFileSync(join(clock, 'now'), 'utf8').trim(), String(T + 6), 'asked the time six times: it waited out every second');
  // Nothing to wait for: no line, and a first start records failures 0.
  writeFileSync(file, '');
  assert.is(onClock(backoffWaitScript('web-1'), T, 1), '');
  assert.is(readFileSync(file, 'utf8'), `0 0 ${T + 1}\n`);
});

test('a stop while it waits (SIGTERM) ends the wait cleanly: exit 0, no failure for systemd to count', async () => {
  writeFileSync(file, `2 ${now() + 600} 0\n`);
  const child = spawn('sh', ['-c', local(backoffWaitScript('web-1'))], { stdio: ['ignore', 'pipe', 'inherit'] });
  // The trap is set before the line is printed: once it is out, a SIGTERM is caught.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGTERM');
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  assert.equal([code, signal], [0, null]);
});

test('status reads the file: failures and the seconds left', () => {
  assert.equal(parseBackoff('4 1010 0\n', 1000), { Failures: 4, NextTryInS: 10 });
  assert.equal(parseBackoff('4 0 999\n', 1000), { Failures: 4, NextTryInS: 0 });
  assert.is(parseBackoff('0 0 999\n', 1000), undefined);
  assert.is(parseBackoff(undefined, 1000), undefined);
  assert.is(parseBackoff('junk', 1000), undefined);
});

test('every unit has the backoff and no start limit', () => {
  const def: ContainerDefinition = { Id: 'web-1', Image: 'test/web', Ports: [], VolumeConfig: { Volumes: [], BindMounts: [] }, SystemdSlice: 'gear.slice', Created: '' };
  const ctx: UnitContext = { dockerBin: '/usr/bin/docker', runtimeService: 'docker.service', envFile: '/e', definitionFile: '/d', stopTimeout: 10, version: '1', selfCommand: ['/gear'], stateDir: '/var/lib/gear' };
  const unit = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container)(def, ctx);
  assert.match(unit, /^StartLimitIntervalSec=0$/m);
  assert.match(unit, /^ExecStartPre=\/bin\/sh -c "n=0; .*backing off/m);
  assert.match(unit, /^ExecStopPost=-\/bin\/sh -c "if \[ \\"\$\$SERVICE_RESULT\\" = success \]/m);
});

test.run();
