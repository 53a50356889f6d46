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

test.run();
