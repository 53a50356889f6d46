import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, gear, sh, stateListing } from './harness.js';

/** Every refused command: exit 1, exactly one error line on stderr, and the host unchanged. (Progress lines such as "pulling IMAGE" may precede it.) */
async function refused(args: string[], pattern: RegExp): Promise<void> {
  const before = await stateListing(H);
  const r = await gear(H, args);
  assert.is(r.code, 1, `${JSON.stringify(args)} should fail: ${r.stdout}`);
  assert.is(r.stderr.split('\n').filter((l) => l.startsWith('gear:')).length, 1, `one error line: ${r.stderr}`);
  assert.ok(r.stderr.endsWith('\n') && r.stderr.split('\n').at(-2)!.startsWith('gear:'), `the error comes last: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.is(await stateListing(H), before, `${JSON.stringify(args)} changed the host`);
}

test('nasty container names are refused', async () => {
  await refused(['install', 'test/web', '../x'], /not (a )?valid/);
  await refused(['install', 'test/web', 'a b'], /not (a )?valid/);
  await refused(['install', 'test/web', 'a\nExecStartPre=/bin/sh'], /not (a )?valid/);
  await refused(['install', 'test/web', '%n'], /not (a )?valid/);
  await refused(['install', 'test/web', 'x'.repeat(300)], /the limit is 64/);
  await refused(['install', 'test/web', ''], /must not be empty/);
  await refused(['start', '../../etc/passwd'], /not (a )?valid/);
  // One bad name among good ones: nothing is installed at all.
  await refused(['install', 'test/web', 'good-1', 'bad name'], /not (a )?valid/);
});

test('bad images, ports, env and volumes are refused', async () => {
  await refused(['install', 'Bad Image', 'x1'], /not a valid image/);
  await refused(['install', 'test/web;rm', 'x1'], /not a valid image/);
  await refused(['install', 'test/web', 'x1', '-p', '8080:99999'], /not a port number/);
  await refused(['install', 'test/web', 'x1', '-e', 'A=x\ny'], /line break/);
  await refused(['install', 'test/web', 'x1', '-e', '1BAD=x'], /not (a )?valid/);
  await refused(['install', 'test/web', 'x1', '-v', 'relative:/data'], /absolute path/);
  await refused(['install', 'test/web', 'x1', '-v', '/srv/../etc:/data'], /normalised/);
  await refused(['install', 'test/web', 'x1', '--slice', '../evil'], /not a valid systemd slice/);
  await refused(['install', 'test/web', 'x1', '--env-file', '/nonexistent.env'], /cannot read env file/);
});

test('an image that is not present (and cannot be pulled) is refused; nothing is written', async () => {
  await refused(['install', 'nosuch/image', 'x2', '-p', '8080:0'], /image nosuch\/image is not on this host and cannot be pulled/);
});

test('a bad re-install of an existing name is refused; the first stays intact', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'dup-1', '-p', '8080:0'])).code, 0);
  const def = await sh(H, 'cat /var/lib/gear/containers/dup-1.json');
  await refused(['install', 'nosuch/image', 'dup-1'], /image nosuch\/image is not on this host and cannot be pulled/);
  await refused(['install', 'test/web', 'dup-1', '-v', '/a:/b:rx'], /must look like HOST_PATH:CONTAINER_PATH/);
  assert.is(await sh(H, 'cat /var/lib/gear/containers/dup-1.json'), def);
  assert.is((await gear(H, ['delete', 'dup-1'])).code, 0);
});

test('commands on containers that do not exist say so; stop and delete succeed (as in the seed), saying there was nothing to do', async () => {
  for (const cmd of ['start', 'restart', 'status']) await refused([cmd, 'ghost'], /container ghost is not installed/);
  // env takes container names and env ids alike.
  await refused(['env', 'ghost'], /environment ghost does not exist/);
  const before = await stateListing(H);
  for (const cmd of ['stop', 'delete']) {
    const r = await gear(H, [cmd, 'ghost']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `ghost is not installed, nothing to ${cmd}\n`);
  }
  assert.is(await stateListing(H), before, 'nothing changed');
  assert.is((await sh(H, 'ls /etc/systemd/system | grep -c ^ctr- || true')).trim(), '0');
});

test.run();
