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
function count(result: string): string {
  const r = spawnSync('sh', ['-c', local(backoffCountScript('web-1'))], { env: { ...process.env, SERVICE_RESULT: result }, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}
const file = join(dir, 'web-1');
const now = () => Math.floor(Date.now() / 1000);

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
    // At least the announced wait from now (whatever fraction of this second has passed), at most a second more.
    assert.ok(until! - now() >= waits.at(-1)! && until! - now() <= waits.at(-1)! + 1, `until ${until! - now()} s from now, wait ${waits.at(-1)} s`);
  }
  assert.equal(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
  assert.is(count('success'), '');
  assert.not.ok(existsSync(file));
  assert.match(count('signal'), /failure 1 in a row \(signal\): the next start waits 1 s/);
});

test('a run that lasted the longest delay or more was a good one: its failure is the first again', () => {
  writeFileSync(file, `5 0 ${now() - 61}\n`);
  assert.match(count('exit-code'), /failure 1 in a row/);
  writeFileSync(file, `5 0 ${now() - 5}\n`);
  assert.match(count('exit-code'), /failure 6 in a row/);
  writeFileSync(file, 'garbage here\n');
  assert.match(count('exit-code'), /failure 1 in a row/);
});

test('the start script waits until the time set, says so, and notes the start', () => {
  // 4 s ahead: on a loaded machine the shell may start a second or two after this line (a 2 s lead once
  // left it nothing to wait for); the line says what was left when it started.
  const before = now();
  writeFileSync(file, `3 ${before + 4} 0\n`);
  const r = spawnSync('sh', ['-c', local(backoffWaitScript('web-1'))], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^gear: backing off after 3 failures in a row: next try in [1-4] s$/m);
  const [n, until, started] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
  assert.is(n, 3);
  assert.is(until, 0);
  // The start is noted once the wait is over, not before.
  assert.ok(started! >= before + 4, `started ${started} after the wait until ${before + 4}`);
  // Nothing to wait for: no line, and a first start records failures 0.
  writeFileSync(file, '');
  const quiet = spawnSync('sh', ['-c', local(backoffWaitScript('web-1'))], { encoding: 'utf8' });
  assert.is(quiet.stdout, '');
  assert.match(readFileSync(file, 'utf8'), /^0 0 \d+\n$/);
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
