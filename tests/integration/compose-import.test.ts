import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, eventually, hostIp, httpGet, remoteAgents, run, sh } from './harness.js';

// `gear import` of a Compose file (web + db + cache, an env_file, a
// health check, a volume, replicas), its output deployed over two hosts as
// it is: the web answers on its published port with the Compose file's
// environment, reaches the db through its link, the db's volume and health
// check are there. Unknown keys are warned about on stderr, not lost.
// depends_on with service_healthy: the web starts only once the db is
// healthy (its check passes only some seconds after its first run), on
// the db's host (its unit's After=) and on the other host (deploy waits
// through the db host's agent): the db's journal line "is healthy" and
// the web containers' StartedAt say so. The descriptor holds environment
// values: `-o` writes it 0600, and a stdout file others can read is refused.

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const hostOf = (ip: string) => (ip === ipA ? A : B);
const agents = remoteAgents([A, B], 'compose-token-0123456789abcdef');
const { cli, dir } = agents;

const compose = `
name: cshop
services:
  web:
    image: test/web
    ports:
      - "8080"
    environment:
      GREETING: hello from compose
      DB_ADDR: db
    env_file: web.env
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
    deploy:
      replicas: 2
    restart: unless-stopped
  db:
    image: test/web
    expose: ["8080"]
    environment:
      - ROLE=db
      - PASSWORD=\${DB_PASSWORD:?set it}
    volumes:
      - dbdata:/data
    healthcheck:
      # Healthy only 6 s after its first check: a web started before then would show.
      test: ["CMD-SHELL", "test -f /tmp/born || date +%s > /tmp/born; test $$(( $$(date +%s) - $$(cat /tmp/born) )) -ge 6 && wget -qO- http://127.0.0.1:8080/ >/dev/null"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 2m
  cache:
    image: test/web
    expose: ["8080"]
    mem_limit: 64m
volumes:
  dbdata: {}
`;

interface Resolved {
  Instances: { Id: string; From: string; On: string; Ports: { Internal: number; External: number; Target?: { Host: string; Port: number } }[]; Links?: { FromHost: string; FromPort: number; ToHost: string; ToPort: number }[] }[];
}

test.before(() => agents.start());
test.after(() => agents.stop());

/** `gear import ARGS` run by a shell in the test's directory (for its redirects), with DB_PASSWORD set. */
const shell = (script: string) => spawnSync('/bin/sh', ['-c', script], { cwd: dir, env: { ...process.env, GEAR, DB_PASSWORD: 'pw-123' }, encoding: 'utf8' });
const modeOf = (f: string) => (statSync(join(dir, f)).mode & 0o777).toString(8);

test('import: a descriptor on stdout, a warning per key without equivalent on stderr; depends_on is a start order; a bad file is one line and no output', async () => {
  writeFileSync(join(dir, 'compose.yml'), compose);
  writeFileSync(join(dir, 'web.env'), 'SECRET_KEY="from env file"\n');
  const r = await cli(['import', 'compose.yml'], { DB_PASSWORD: 'pw-123' });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim().split('\n'), ['gear: import: warning: compose.yml: services.web.restart: no equivalent in a gear deployment, ignored']);
  const d = JSON.parse(r.stdout) as { Containers: { Name: string; Count: number; Environment?: { Name: string; Value: string }[]; Links?: unknown[]; After?: unknown[] }[]; IdPrefix: string };
  assert.is(d.IdPrefix, 'cshop-');
  assert.equal(d.Containers.map((c) => `${c.Name}x${c.Count}`), ['webx2', 'dbx1', 'cachex1']);
  assert.equal(d.Containers[0]!.Links, [{ To: 'db' }, { To: 'cache' }]);
  assert.equal(d.Containers[0]!.After, [{ To: 'db', Wait: 'healthy' }, { To: 'cache', Wait: 'started' }]);

  const bad = await cli(['import', 'compose.yml']);
  assert.is(bad.code, 1);
  assert.is(bad.stdout, '');
  assert.is(bad.stderr, 'gear: compose.yml: services.db.environment[1]: DB_PASSWORD is required: set it (set it in the environment or in .env)\n');
  const udp = await cli(['import', 'udp.yml']);
  assert.match(udp.stderr, /^gear: cannot read Compose file udp\.yml: ENOENT\n$/);
  writeFileSync(join(dir, 'cycle.yml'), 'services:\n  a: {image: test/web, depends_on: [b]}\n  b: {image: test/web, depends_on: {a: {condition: service_started}}}\n');
  const cycle = await cli(['import', 'cycle.yml']);
  assert.is(cycle.code, 1);
  assert.is(cycle.stderr, 'gear: cycle.yml: services.a.depends_on: a -> b -> a: these services wait for each other, so none could start\n');
  // A hand-written descriptor with a cycle: deploy refuses it in one line before it asks any host.
  writeFileSync(join(dir, 'cycle.json'), JSON.stringify({ Containers: [{ Name: 'a', Image: 'test/web', After: ['b'] }, { Name: 'b', Image: 'test/web', After: [{ To: 'a' }] }] }));
  const deployCycle = await cli(['deploy', 'cycle.json', ipA, ipB]);
  assert.is(deployCycle.code, 1);
  assert.is(deployCycle.stdout, '');
  assert.is(deployCycle.stderr, 'gear: cycle.json: containers[0].after: a -> b -> a: these containers wait for each other, so none could start\n');
  assert.not.match(await sh(A, 'docker ps -a --format "{{.Names}}"'), /ctr-a-1|ctr-b-1/);
});

test('import output holds secrets: -o FILE is 0600 and replaces FILE whole; a stdout file others can read, a symlink, a directory are refused and nothing is written', () => {
  // The shell makes the redirect's file 0644 before gear runs: refused, one line, the file left empty.
  const redirected = shell('umask 022; "$GEAR" import compose.yml > shell.json');
  assert.is(redirected.status, 1);
  assert.is(redirected.stderr, 'gear: the descriptor holds environment values (often secrets), and stdout is a file others can read (mode 0644): nothing written; use -o FILE (written 0600)\n');
  assert.is(readFileSync(join(dir, 'shell.json'), 'utf8'), '');
  // A redirect into a file only its owner reads, and a pipe: printed.
  assert.is(shell('umask 077; "$GEAR" import compose.yml > private.json').status, 0);
  assert.match(readFileSync(join(dir, 'private.json'), 'utf8'), /"SECRET_KEY"/);
  const piped = shell('"$GEAR" import compose.yml | wc -l');
  assert.ok(Number(piped.stdout) > 20, piped.stderr);

  // -o over an existing file others could read: replaced by a 0600 file; another name of the old file keeps the old text.
  writeFileSync(join(dir, 'app.json'), 'old\n', { mode: 0o644 });
  linkSync(join(dir, 'app.json'), join(dir, 'old-name.json'));
  const out = shell('umask 022; "$GEAR" import compose.yml -o app.json');
  assert.is(out.status, 0, out.stderr);
  assert.is(out.stdout, '');
  assert.match(out.stderr, /^gear: import: wrote app\.json \(0600\)$/m);
  assert.is(modeOf('app.json'), '600');
  assert.match(readFileSync(join(dir, 'app.json'), 'utf8'), /"PASSWORD", "Value": "pw-123"/);
  assert.is(readFileSync(join(dir, 'old-name.json'), 'utf8'), 'old\n');

  // A symlink at -o (to a file others can read): refused; the link and its target untouched.
  writeFileSync(join(dir, 'target.json'), 'target\n', { mode: 0o644 });
  symlinkSync('target.json', join(dir, 'link.json'));
  const link = shell('"$GEAR" import compose.yml -o link.json');
  assert.is(link.status, 1);
  assert.is(link.stderr.trim().split('\n').pop(), 'gear: -o link.json is a symbolic link: gear writes a file of its own there, not through a link (remove it, or name the file it leads to)');
  assert.ok(lstatSync(join(dir, 'link.json')).isSymbolicLink());
  assert.is(readFileSync(join(dir, 'target.json'), 'utf8'), 'target\n');
  // A directory, a missing directory, the Compose file itself.
  mkdirSync(join(dir, 'out.d'));
  assert.is(shell('"$GEAR" import compose.yml -o out.d').stderr.trim().split('\n').pop(), 'gear: -o out.d is a directory: name a file');
  assert.is(shell('"$GEAR" import compose.yml -o no/such.json').stderr.trim().split('\n').pop(), 'gear: -o no/such.json: cannot write in no: ENOENT');
  assert.is(shell('"$GEAR" import compose.yml -o compose.yml').stderr.trim().split('\n').pop(), 'gear: -o compose.yml is the Compose file itself: name another file');
  assert.match(readFileSync(join(dir, 'compose.yml'), 'utf8'), /^\nname: cshop/);
  // No temp file left behind by any of them.
  assert.equal(shell('ls -a | grep "\\.tmp$" || true').stdout, '');
});

/** Microseconds since the epoch of Docker's RFC 3339 time with nanoseconds ("2026-12-03T09:40:01.123456789Z"). */
function micros(rfc: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(rfc.trim());
  if (!m) throw new Error(`not a Docker time: ${rfc}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}

/** When the unit's health gate saw the container healthy: its "gear: ctr-ID is healthy" journal lines, in µs. */
async function healthyAt(host: string, id: string): Promise<bigint[]> {
  const out = await sh(host, `journalctl -u ctr-${id}.service -o json --no-pager`);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { MESSAGE?: unknown; __REALTIME_TIMESTAMP: string })
    .filter((e) => e.MESSAGE === `gear: ctr-${id} is healthy`)
    .map((e) => BigInt(e.__REALTIME_TIMESTAMP));
}

const startedAt = async (host: string, id: string) => micros(await sh(host, `docker inspect -f '{{.State.StartedAt}}' ctr-${id}`));

test('the imported descriptor deploys as it is: the web answers with the Compose environment, reaches db through its link; db has its volume and health check', async () => {
  assert.ok(statSync(join(dir, 'app.json')).isFile());
  const plan0 = await cli(['deploy', '--plan', 'app.json', ipA, ipB]);
  assert.is(plan0.code, 0, plan0.stderr);
  assert.match(plan0.stdout, /^start order: 1\. db, cache {2}2\. web \(after db healthy, cache started\)$/m);
  assert.match(plan0.stdout, new RegExp(`^  cshop-web-1 on ${ipA.replace(/\./g, '\\.')}: its unit starts after cshop-db-1 \\(systemd, `, 'm'));
  assert.match(plan0.stdout, new RegExp(`^  cshop-web-2 on ${ipB.replace(/\./g, '\\.')}: started once cshop-db-1 on ${ipA.replace(/\./g, '\\.')} is healthy`, 'm'));
  const r = await cli(['deploy', 'app.json', ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  const file = /wrote (\S+)/.exec(r.stdout)![1]!;
  const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Resolved;
  assert.equal(d.Instances.map((i) => i.Id).sort(), ['cshop-cache-1', 'cshop-db-1', 'cshop-web-1', 'cshop-web-2']);
  // Round-robin: web-1 beside the db (its unit orders it), web-2 on the other host (deploy waits for it).
  assert.equal(Object.fromEntries(d.Instances.map((i) => [i.Id, i.On])), { 'cshop-web-1': ipA, 'cshop-web-2': ipB, 'cshop-db-1': ipA, 'cshop-cache-1': ipB });
  const [healthy] = await healthyAt(A, 'cshop-db-1');
  assert.ok(healthy, 'the db became healthy once');
  const dbStart = await startedAt(A, 'cshop-db-1');
  // The check passes 6 s after the db's first one at the earliest: the order is not an accident of timing.
  assert.ok(healthy! - dbStart >= 5_000_000n, `db healthy ${healthy! - dbStart} µs after its start`);
  for (const [host, id] of [[A, 'cshop-web-1'], [B, 'cshop-web-2']] as const) {
    const web = await startedAt(host, id);
    assert.ok(web > healthy!, `${id} started ${web} after the db was healthy at ${healthy}`);
  }
  assert.match(await sh(A, 'systemctl show -p After -p Wants ctr-cshop-web-1.service'), /ctr-cshop-db-1\.service/);
  const db = d.Instances.find((i) => i.From === 'db')!;
  for (const web of d.Instances.filter((i) => i.From === 'web')) {
    // Started is not serving yet (the web has no health check, and it is the last one started now).
    const answer = await eventually(() => httpGet(`http://${web.On}:${web.Ports[0]!.External}/cgi-bin/env`));
    assert.is(answer && answer.status, 200, `${web.Id}: ${await sh(hostOf(web.On), `systemctl status --no-pager ctr-${web.Id}.service || true`)}`);
    assert.match(answer ? answer.body : '', /^GREETING=hello from compose$/m);
    assert.match(answer ? answer.body : '', /^SECRET_KEY=from env file$/m);
    // db through the link the import made from depends_on.
    const link = web.Links!.find((l) => l.FromHost === db.Ports[0]!.Target!.Host && l.FromPort === db.Ports[0]!.Target!.Port)!;
    assert.ok(link, `${web.Id} has a link to db`);
    const viaLink = await run(hostOf(web.On), ['docker', 'exec', `ctr-${web.Id}`, 'wget', '-qO-', `http://${link.FromHost}:${link.FromPort}/cgi-bin/env`]);
    assert.is(viaLink.code, 0, viaLink.stderr);
    assert.match(viaLink.stdout, /^ROLE=db$/m);
  }
  const dbHost = hostOf(db.On);
  assert.match(await sh(dbHost, `docker inspect -f '{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}' ctr-${db.Id}`), /volume \/data/);
  assert.match(await sh(dbHost, `docker inspect -f '{{.State.Health.Status}}' ctr-${db.Id}`), /healthy/);
  const cache = d.Instances.find((i) => i.From === 'cache')!;
  assert.match(await sh(hostOf(cache.On), `docker inspect -f '{{.HostConfig.Memory}}' ctr-${cache.Id}`), /^67108864/);
  // The plan of the same file again: nothing to do.
  const plan = await cli(['deploy', '--plan', 'app.json', ipA, ipB]);
  assert.match(plan.stdout, /^plan: 0 to install, 0 to change \(0 restarted\), 4 unchanged, 0 to remove$/m);
});

test("on the db's host its unit alone keeps the order: web-1 started by itself starts the db first and only once it is healthy", async () => {
  for (const id of ['cshop-web-1', 'cshop-db-1']) assert.is((await cli(['stop', `${ipA}/${id}`])).code, 0);
  const before = (await healthyAt(A, 'cshop-db-1')).length;
  const start = await cli(['start', `${ipA}/cshop-web-1`]);
  assert.is(start.code, 0, start.stderr);
  assert.is(await sh(A, 'systemctl is-active ctr-cshop-db-1.service'), 'active\n');
  const after = await healthyAt(A, 'cshop-db-1');
  assert.is(after.length, before + 1, 'the db was started again and became healthy');
  const web = await startedAt(A, 'cshop-web-1');
  assert.ok(web > after[after.length - 1]!, `web-1 started at ${web}, the db was healthy at ${after[after.length - 1]}`);
});

test.run();
