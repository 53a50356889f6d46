import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, gear, sh } from './harness.js';

/** The environment of the container's main process, as Docker set it (busybox env, one NAME=VALUE a line). */
async function containerEnv(name: string): Promise<Map<string, string>> {
  const out = await sh(H, `docker exec ctr-${name} env`);
  return new Map(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

// Values a shell, systemd or a naive env-file parser would mangle.
const NASTY = `say "hi" it's $HOME 100% \\back\\slash  two  spaces`;

test('install with -e, --env-file and -v: the container sees exactly those values and mounts', async () => {
  await sh(H, "mkdir -p /srv/data && echo from-host > /srv/data/file.txt");
  await sh(H, `printf '%s\\n' '# app settings' 'FROM_FILE=file value' 'OVERRIDE=file' > /root/app.env`);
  const r = await gear(H, [
    'install', 'test/web', 'web-2', '--start',
    '-e', 'GREETING=hi', '-e', `NASTY=${NASTY}`, '-e', 'OVERRIDE=flag',
    '--env-file', '/root/app.env', '-v', '/srv/data:/data:ro', '-p', '8080:0',
  ]);
  assert.is(r.code, 0, r.stderr);
  const printenv = (name: string) => containerEnv('web-2').then((env) => env.get(name));
  assert.is(await printenv('GREETING'), 'hi');
  assert.is(await printenv('NASTY'), NASTY);
  assert.is(await printenv('FROM_FILE'), 'file value');
  assert.is(await printenv('OVERRIDE'), 'flag', 'flags win over the env file');
  assert.is((await sh(H, 'docker exec ctr-web-2 cat /data/file.txt')).trim(), 'from-host');
  const write = await sh(H, 'docker exec ctr-web-2 sh -c "echo x > /data/new" 2>&1; echo "exit $?"');
  assert.match(write, /Read-only file system/);
});

test('the env file is mode 0600, and `gear env` prints it back exactly', async () => {
  assert.is((await sh(H, "stat -c '%a %U' /var/lib/gear/env/web-2.env")).trim(), '600 root');
  const r = await gear(H, ['env', 'web-2']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`NASTY=${NASTY}\n`), r.stdout);
  const json = JSON.parse((await gear(H, ['env', 'web-2', '--json'])).stdout);
  assert.ok(json.Variables.some((v: { Name: string; Value: string }) => v.Name === 'NASTY' && v.Value === NASTY));
});

test('set-env merges; --reset replaces; a restart applies it', async () => {
  assert.is((await gear(H, ['set-env', 'web-2', 'A=B'])).code, 0);
  let env = (await gear(H, ['env', 'web-2'])).stdout;
  assert.match(env, /^A=B$/m);
  assert.match(env, /^GREETING=hi$/m);
  assert.is((await gear(H, ['set-env', 'web-2', '--reset', 'C=D'])).code, 0);
  env = (await gear(H, ['env', 'web-2'])).stdout;
  assert.is(env, 'C=D\n');
  assert.is((await gear(H, ['restart', 'web-2'])).code, 0);
  const env2 = await containerEnv('web-2');
  assert.is(env2.get('C'), 'D');
  assert.is(env2.get('A'), undefined);
});

test('set-env refuses bad assignments and changes nothing', async () => {
  const before = (await gear(H, ['env', 'web-2'])).stdout;
  for (const bad of ['1A=x', 'A B=x', 'NOEQUALS', `A=line\nbreak`]) {
    const r = await gear(H, ['set-env', 'web-2', bad]);
    assert.is(r.code, 1, bad);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.is((await gear(H, ['env', 'web-2'])).stdout, before);
  assert.is((await gear(H, ['delete', 'web-2'])).code, 0);
});

test.run();
