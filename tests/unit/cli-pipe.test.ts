import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// The built CLI (npm test builds dist/ before the unit suite) behind a pipe
// whose reader has gone, as after `gear ... | head -1` has its line.
const gear = new URL('../../bin/gear', import.meta.url).pathname;
const bundle = new URL('../../dist/gear.js', import.meta.url).pathname;

test('a reader that has left ends gear quietly, with the status of SIGPIPE', () => {
  assert.ok(existsSync(bundle), 'dist/gear.js is built (npm run build)');
  // A pipe (a FIFO) whose only reader is closed before gear starts: its first write fails, every time.
  const dir = mkdtempSync(join(tmpdir(), 'gear-pipe-'));
  try {
    const script = `mkfifo "${dir}/p" && exec 3<>"${dir}/p" 4>"${dir}/p" && exec 3<&- && exec "${gear}" --help >&4`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    assert.is(r.stderr, '', 'no stack trace');
    assert.is(r.status, 141);
  } finally {
    rmSync(dir, { recursive: true });
  }
  // A reader that stays gets everything, and gear exits 0.
  const whole = spawnSync('bash', ['-c', `set -o pipefail; "${gear}" --help | cat`], { encoding: 'utf8' });
  assert.is(whole.status, 0, whole.stderr);
  assert.match(whole.stdout, /^Usage: gear /);
});

test('a command left waiting on nothing ends with status 70 and says so, not 0 and silence; a finished one keeps its status', () => {
  const guard = new URL('../../src/cli/exit-status.ts', import.meta.url).pathname;
  const node = (body: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { exitWith } from '${guard}'; ${body}`], { encoding: 'utf8' });
  const stuck = node('exitWith(new Promise(() => {}));');
  assert.is(stuck.status, 70, stuck.stderr);
  assert.match(stuck.stderr, /^gear: internal error: the command stopped before it finished/m); // after any warning of node's
  const done = node('exitWith(new Promise((resolve) => setTimeout(() => resolve(3), 10)));');
  assert.is(done.status, 3, done.stderr);
  assert.not.match(done.stderr, /internal error/);
});

test.run();
