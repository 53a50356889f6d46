import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, hostIp, httpGet, remoteAgents, run, sh } from './harness.js';

// `gear import` of a Compose file (web + db + cache, an env_file, a
// health check, a volume, replicas), its output deployed over two hosts as
// it is: the web answers on its published port with the Compose file's
// environment, reaches the db through its link, the db's volume and health
// check are there. Unknown keys are warned about on stderr, not lost.

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
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 3
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

test('import: a descriptor on stdout, a warning per key without equivalent on stderr; a bad file is one line and no output', async () => {
  writeFileSync(join(dir, 'compose.yml'), compose);
  writeFileSync(join(dir, 'web.env'), 'SECRET_KEY="from env file"\n');
  const r = await cli(['import', 'compose.yml'], { DB_PASSWORD: 'pw-123' });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim().split('\n'), [
    'gear: import: warning: compose.yml: services.web.restart: no equivalent in a gear deployment, ignored',
    "gear: import: warning: compose.yml: services.web.depends_on.db.condition: service_healthy: a deployment's instances start in any order (a start waits for its own health check only), not carried over",
  ]);
  const d = JSON.parse(r.stdout) as { Containers: { Name: string; Count: number; Environment?: { Name: string; Value: string }[]; Links?: unknown[] }[]; IdPrefix: string };
  assert.is(d.IdPrefix, 'cshop-');
  assert.equal(d.Containers.map((c) => `${c.Name}x${c.Count}`), ['webx2', 'dbx1', 'cachex1']);
  assert.equal(d.Containers[0]!.Links, [{ To: 'db' }, { To: 'cache' }]);
  writeFileSync(join(dir, 'app.json'), r.stdout, { mode: 0o600 });

  const bad = await cli(['import', 'compose.yml']);
  assert.is(bad.code, 1);
  assert.is(bad.stdout, '');
  assert.is(bad.stderr, 'gear: compose.yml: services.db.environment[1]: DB_PASSWORD is required: set it (set it in the environment or in .env)\n');
  const udp = await cli(['import', 'udp.yml']);
  assert.match(udp.stderr, /^gear: cannot read Compose file udp\.yml: ENOENT\n$/);
});

test('the imported descriptor deploys as it is: the web answers with the Compose environment, reaches db through its link; db has its volume and health check', async () => {
  assert.ok(statSync(join(dir, 'app.json')).isFile());
  const r = await cli(['deploy', 'app.json', ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  const file = /wrote (\S+)/.exec(r.stdout)![1]!;
  const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Resolved;
  assert.equal(d.Instances.map((i) => i.Id).sort(), ['cshop-cache-1', 'cshop-db-1', 'cshop-web-1', 'cshop-web-2']);
  const db = d.Instances.find((i) => i.From === 'db')!;
  for (const web of d.Instances.filter((i) => i.From === 'web')) {
    const answer = await httpGet(`http://${web.On}:${web.Ports[0]!.External}/cgi-bin/env`);
    assert.is(answer?.status, 200);
    assert.match(answer!.body, /^GREETING=hello from compose$/m);
    assert.match(answer!.body, /^SECRET_KEY=from env file$/m);
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

test.run();
