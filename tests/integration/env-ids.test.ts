import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TEST_HOST as H, curl, eventually, gear, putFile, run, sh, startAgent, stopAgent, journalMatching } from './harness.js';

// Shared environments by id (--env-id), environments fetched by the agent
// from a URL (--env-url), and the seed's env-file rules (--env-format geard),
// on a real host: each container's environment is read from inside it.

/** The environment of a container's main process, as Docker set it. */
async function containerEnv(name: string): Promise<Map<string, string>> {
  const out = await sh(H, `docker exec ctr-${name} env`);
  return new Map(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
const envOf = async (name: string, key: string) => (await containerEnv(name)).get(key);

/** The seed's own env file (shared/geard-fixtures/simple.env), byte for byte. */
const SIMPLE_ENV = 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\nIGNORED\n';

// Served from the host's loopback by a small HTTP server of the test's own (a transient unit).
const SRV_PORT = 18090;
const SECRET = 'fetched-s3cret-Zq81';
const SERVER = `
const http = require('node:http');
const files = { '/app.env': 'FROM_URL=${SECRET}\\nSHARED_TOO=yes\\n', '/simple.env': ${JSON.stringify(SIMPLE_ENV)} };
http.createServer((req, res) => {
  const body = files[req.url];
  if (body === undefined) { res.writeHead(404).end('SECRET_404_PAGE'); return; }
  res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
}).listen(${SRV_PORT}, '127.0.0.1');
`;
const AGENT = { GEAR_AGENT: 'unix:///run/gear/gear.sock' };

test('two containers with one --env-id both see its variables; gear env ID and gear env NAME show it', async () => {
  let r = await gear(H, ['install', 'test/web', 'sh-1', '--env-id', 'shared-env', '-e', 'GREETING=hello', '--start']);
  assert.is(r.code, 0, r.stderr);
  r = await gear(H, ['install', 'test/web', 'sh-2', '--env-id', 'shared-env', '--start']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await envOf('sh-1', 'GREETING'), 'hello');
  assert.is(await envOf('sh-2', 'GREETING'), 'hello', 'the second install did not empty it');
  assert.is((await sh(H, "stat -c '%a %U' /var/lib/gear/env/shared-env.env")).trim(), '600 root');
  assert.is((await sh(H, 'ls /var/lib/gear/env/ | grep "^sh-"; true')).trim(), '', 'no env file of their own');
  for (const id of ['shared-env', 'sh-1', 'sh-2']) {
    r = await gear(H, ['env', id]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'GREETING=hello\n', id);
  }
});

test('set-env on the id, then a restart: both containers see the change', async () => {
  let r = await gear(H, ['set-env', 'shared-env', 'GREETING=changed', 'EXTRA=1']);
  assert.is(r.code, 0, r.stderr);
  r = await gear(H, ['restart', 'sh-1', 'sh-2']);
  assert.is(r.code, 0, r.stderr);
  for (const name of ['sh-1', 'sh-2']) {
    const env = await containerEnv(name);
    assert.is(env.get('GREETING'), 'changed', name);
    assert.is(env.get('EXTRA'), '1', name);
  }
});

test('deleting one sharer keeps the environment and the other container working', async () => {
  let r = await gear(H, ['delete', 'sh-1']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'test -f /var/lib/gear/env/shared-env.env && echo kept')).trim(), 'kept');
  r = await gear(H, ['restart', 'sh-2']);
  assert.is(r.code, 0, r.stderr);
  assert.is(await envOf('sh-2', 'GREETING'), 'changed');
  // The last reader gone, the shared environment stays until `gear clean`, which reports it.
  assert.is((await gear(H, ['delete', 'sh-2'])).code, 0);
  assert.is((await sh(H, 'ls /var/lib/gear/env/ | grep "^sh"')).trim(), 'shared-env.env');
  r = await gear(H, ['clean']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed \/var\/lib\/gear\/env\/shared-env.env/);
  assert.is((await sh(H, 'ls /var/lib/gear/env/ | grep "^sh"; true')).trim(), '');
});

test('--env-url: the agent fetches it from the host loopback; the value reaches the container, never the journal', async () => {
  await sh(H, 'mkdir -p /root/envsrv');
  await putFile(H, '/root/envsrv/server.cjs', SERVER);
  await sh(H, `systemctl stop envsrv 2>/dev/null; systemctl reset-failed envsrv 2>/dev/null; systemd-run --unit=envsrv --collect ${REPO}/node_modules/.bin/node /root/envsrv/server.cjs >/dev/null`);
  const up = await eventually(async () => (await run(H, ['curl', '-sf', `http://127.0.0.1:${SRV_PORT}/app.env`])).code === 0, 60_000, 100);
  assert.ok(up, 'the env server answers');
  await startAgent(H);
  try {
    const cursor = (await sh(H, 'journalctl --show-cursor -n 0 --no-pager | sed -n "s/^-- cursor: //p"')).trim();
    let r = await gear(H, ['install', 'test/web', 'url-1', '--env-id', 'from-url', '--env-url', `http://127.0.0.1:${SRV_PORT}/app.env`, '--start'], { env: AGENT });
    assert.is(r.code, 0, r.stderr);
    r = await gear(H, ['install', 'test/web', 'url-2', '--env-id', 'from-url', '--start'], { env: AGENT });
    assert.is(r.code, 0, r.stderr);
    assert.is(await envOf('url-1', 'FROM_URL'), SECRET);
    assert.is(await envOf('url-2', 'FROM_URL'), SECRET);
    assert.is(await envOf('url-2', 'SHARED_TOO'), 'yes');
    // Read once the agent's line of the second install is in (journald may lag behind the agent): the
    // check that the value is not there then covers both installs.
    const journal = await journalMatching(H, `--after-cursor='${cursor}' -o verbose`, /PUT \/container\/url-2/);
    assert.ok(journal.includes('PUT /container/url-1'), 'the journal read covers the install');
    assert.not.ok(journal.includes(SECRET), 'the fetched value is not in the journal');
    assert.not.ok((await sh(H, 'ps -eo args')).includes(SECRET), 'nor in any process arguments');

    // A URL that fails: a clear error naming it, and nothing changed.
    const before = await sh(H, 'cat /var/lib/gear/env/from-url.env; ls /var/lib/gear/containers');
    for (const url of [`http://127.0.0.1:${SRV_PORT}/missing`, 'http://127.0.0.1:1/app.env', 'file:///etc/shadow']) {
      r = await gear(H, ['install', 'test/web', 'url-3', '--env-id', 'from-url', '--env-url', url], { env: AGENT });
      assert.is(r.code, 1, url);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /cannot fetch the environment from http:\/\/127\.0\.0\.1|must be an http:\/\/ or https:\/\/ URL/, url);
      assert.not.match(r.stderr, /SECRET_404_PAGE/);
      r = await gear(H, ['set-env', 'from-url', '--reset', '--env-url', url], { env: AGENT });
      assert.is(r.code, 1, url);
    }
    assert.match((await gear(H, ['install', 'test/web', 'url-3', '--env-url', `http://127.0.0.1:${SRV_PORT}/missing`], { env: AGENT })).stderr, /it answered 404/);
    assert.is(await sh(H, 'cat /var/lib/gear/env/from-url.env; ls /var/lib/gear/containers'), before);
    assert.is((await sh(H, 'test -e /etc/systemd/system/ctr-url-3.service && echo unit; true')).trim(), '');

    // The seed's client sends a random 22-character env id with every install that has variables.
    const seedId = '-Xk3_9aQpL2mN7vB4cD8eF';
    const body = { Image: 'test/web', Started: true, Ports: [], Environment: { Variables: [{ Name: 'SEED', Value: 'yes' }], Source: '', Id: seedId } };
    const put = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body), 'http://agent/container/seed-1']);
    assert.ok(put.status >= 200 && put.status < 300, `${put.status} ${put.body}`);
    assert.is(await envOf('seed-1', 'SEED'), 'yes');
    assert.is((await sh(H, `cat /var/lib/gear/env/${seedId}.env`)), 'SEED=yes\n');
    assert.is((await gear(H, ['env', 'seed-1'])).stdout, 'SEED=yes\n', 'reached through the container that reads it');
    assert.is((await gear(H, ['delete', 'seed-1'])).code, 0);

    // PUT with a Source fetches again.
    r = await gear(H, ['set-env', 'url-2', '--reset', '--env-url', `http://127.0.0.1:${SRV_PORT}/simple.env`], { env: AGENT });
    assert.is(r.code, 0, r.stderr);
    assert.is((await gear(H, ['env', 'from-url'])).stdout, 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\n');
  } finally {
    await stopAgent(H);
    await sh(H, 'systemctl stop envsrv 2>/dev/null; true');
  }
  assert.is((await gear(H, ['delete', 'url-1', 'url-2'])).code, 0);
});

test("simple.env with --env-format geard gives the seed's variables; gear's strict rules refuse it, changing nothing", async () => {
  await putFile(H, '/root/simple.env', SIMPLE_ENV);
  let r = await gear(H, ['install', 'test/web', 'simple', '--env-file', '/root/simple.env']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /line 4: "IGNORED" must look like NAME=VALUE/);
  assert.is((await sh(H, 'test -e /var/lib/gear/containers/simple.json && echo installed; true')).trim(), '');
  r = await gear(H, ['install', 'test/web', 'simple', '--env-file', '/root/simple.env', '--env-format', 'geard', '--start']);
  assert.is(r.code, 0, r.stderr);
  const env = await containerEnv('simple');
  assert.is(env.get('TEST'), 'value');
  assert.is(env.get('OTHER'), '1');
  assert.is(env.get('QUOTED'), '\\"foo\\"');
  assert.is(env.get('IGNORED'), undefined);
  // set-env: strict by default too; geard on request.
  assert.is((await gear(H, ['set-env', 'simple', '--env-file', '/root/simple.env'])).code, 1);
  r = await gear(H, ['set-env', 'simple', '--reset', '--env-file', '/root/simple.env', '--env-format', 'geard', 'LAST=arg']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await gear(H, ['env', 'simple'])).stdout, 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\nLAST=arg\n');
  assert.is((await gear(H, ['delete', 'simple'])).code, 0);
  assert.is((await sh(H, 'test -e /var/lib/gear/env/simple.env && echo left; true')).trim(), '', 'its own environment went with it');
});

test.run();
