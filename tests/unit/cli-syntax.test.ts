/**
 * The seed system's (geard's) command-line syntax, run through gear's real
 * program (every command, commander, the operations' parse) against
 * recording backends: each geard form must send exactly the request gear's
 * own syntax sends, and each bad form must be refused with one line on
 * stderr, exit 1, and no request at all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/cli/backend.js';
import { runCli } from '../fixtures/run-cli.js';
import type { Operation, RawRequest } from '../../src/operations/index.js';
import { VERSION } from '../../src/version.js';

interface Sent {
  /** The backend's label: "" for this host, HOST[:PORT] for an agent. */
  on: string;
  op: string;
  raw: RawRequest;
}

/** What an operation answers in these tests (just enough for the commands' output). */
function answer(op: string, raw: RawRequest): unknown {
  switch (op) {
    case 'install':
      return { Ports: [], State: undefined };
    case 'list-units':
      return { Containers: [{ Id: 'web-1', ActiveState: 'active', SubState: 'running', LoadState: 'loaded' }, { Id: 'db-1', ActiveState: 'inactive', SubState: 'dead', LoadState: 'loaded' }] };
    case 'clean':
      if (raw.query.repair === '1') {
        const dry = raw.query['dry-run'] === '1';
        return {
          Removed: [],
          NotRemoved: [],
          Kept: [],
          Findings: [
            { Problem: 'unit file /etc/systemd/system/ctr-old.service has no definition (no installed container)', Fix: 'stop the unit and remove the file', Fixed: !dry },
            ...(dry ? [] : [{ Problem: 'definition /var/lib/gear/containers/bad.json cannot be read (x)', Fix: 'none that is safe', Fixed: false, Error: 'no safe fix' }]),
          ],
          ...(dry ? { DryRun: true } : {}),
        };
      }
      return { Removed: ['/etc/systemd/system/ctr-old.service'], NotRemoved: [], Kept: [] };
    case 'link':
      return { Links: ((raw.body as { Links: { Id: string }[] }).Links ?? []).map((l) => ({ Id: l.Id, NetworkLinks: [], Applied: 'stored' })) };
    case 'stop':
      return { Id: `ctr-${raw.params.id}.service`, ActiveState: raw.query.wait === '0' ? 'deactivating' : 'inactive', SubState: 'dead' };
    default:
      return { Id: `ctr-${raw.params.id}.service`, ActiveState: 'active', SubState: 'running' };
  }
}

/** Run `gear ARGS` on recording backends: the requests sent (each parsed by its operation first, as the real backends do), output and exit code. */
async function gear(args: string[]): Promise<{ code: number; sent: Sent[]; stdout: string; stderr: string }> {
  const sent: Sent[] = [];
  const recorder = (label: string): Backend => ({
    label,
    async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
      op.parse(raw);
      sent.push({ on: label, op: op.name, raw });
      return answer(op.name, raw) as Res;
    },
    lines: () => (async function* () {})(),
    imagePeer: () => {
      throw new Error('this test moves no images');
    },
    close() {},
  });
  return { sent, ...(await runCli(args, recorder)) };
}

/** Both command lines succeed and send the same requests (sorted: targets run in parallel). */
async function same(seed: string[], own: string[]): Promise<Sent[]> {
  const a = await gear(seed);
  const b = await gear(own);
  assert.is(a.code, 0, `${seed.join(' ')}: ${a.stderr}`);
  assert.is(b.code, 0, `${own.join(' ')}: ${b.stderr}`);
  const key = (s: Sent[]) => s.map((x) => JSON.stringify(x)).sort();
  assert.equal(key(a.sent), key(b.sent), `${seed.join(' ')}  vs  ${own.join(' ')}`);
  assert.ok(a.sent.length > 0);
  return a.sent;
}

/** Refused: exit 1, one line on stderr matching `message`, nothing sent. */
async function refused(args: string[], message: RegExp): Promise<void> {
  const r = await gear(args);
  assert.is(r.code, 1, `${JSON.stringify(args)} exit ${r.code}: ${r.stderr}`);
  assert.equal(r.sent, [], `${JSON.stringify(args)} sent requests`);
  assert.is(r.stderr.split('\n').filter(Boolean).length, 1, `${JSON.stringify(args)}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /^gear: /);
}

const bodyOf = (s: Sent[]) => s[0]!.raw.body as Record<string, unknown>;

test('install: NAME=VALUE after the image is -e NAME=VALUE; among several names, anywhere; flags anywhere', async () => {
  const sent = await same(['install', 'img', 'web-1', '-p', '8080:0', '--start', 'A=B'], ['install', 'img', 'web-1', '--ports', '8080:0', '--start', '-e', 'A=B']);
  assert.equal(bodyOf(sent).Environment, { Variables: [{ Name: 'A', Value: 'B' }] });
  assert.equal(bodyOf(sent).Ports, [{ Internal: 8080, External: 0 }]);
  assert.is(bodyOf(sent).Started, true);
  const two = await same(['install', 'img', 'A=B', 'web-1', 'C=x=y', 'web-2'], ['install', 'img', 'web-1', 'web-2', '-e', 'A=B', '-e', 'C=x=y']);
  assert.equal(two.map((s) => s.raw.params.id).sort(), ['web-1', 'web-2']);
  assert.equal(bodyOf(two).Environment, { Variables: [{ Name: 'A', Value: 'B' }, { Name: 'C', Value: 'x=y' }] });
  // A value may be empty; an argument is an assignment as soon as it holds "=".
  await same(['install', 'img', 'web-1', 'EMPTY='], ['install', 'img', 'web-1', '-e', 'EMPTY=']);
});

test('-p, -n, -v take comma lists; repeating adds to the list; -X=VALUE and the long names --net-links/--volumes too', async () => {
  const ports = await same(['install', 'img', 'web-1', '-p', '8080:0,9090:4001'], ['install', 'img', 'web-1', '-p', '8080:0', '-p', '9090:4001']);
  assert.equal(bodyOf(ports).Ports, [{ Internal: 8080, External: 0 }, { Internal: 9090, External: 4001 }]);
  await same(['install', 'img', 'web-1', '-p', '8080:0,9090:4001', '-p', '7070:0'], ['install', 'img', 'web-1', '-p', '8080:0', '-p', '9090:4001', '-p', '7070:0']);
  await same(['install', 'img', 'web-1', '-p=8080:0'], ['install', 'img', 'web-1', '-p', '8080:0']);

  const links = await same(
    ['install', 'img', 'web-1', '-n', '127.0.0.2:8081:10.0.0.3:4001,8082:db.example:5432'],
    ['install', 'img', 'web-1', '--link', '127.0.0.2:8081:10.0.0.3:4001', '--link', '127.0.0.1:8082:db.example:5432'],
  );
  assert.equal(bodyOf(links).NetworkLinks, [
    { FromHost: '127.0.0.2', FromPort: 8081, ToHost: '10.0.0.3', ToPort: 4001 },
    { FromHost: '127.0.0.1', FromPort: 8082, ToHost: 'db.example', ToPort: 5432 },
  ]);
  // geard's README: `gear link -n=127.0.0.2:8081:9.8.23.14:8080` (its pflag kept the "=").
  await same(['install', 'img', 'web-1', '-n=127.0.0.2:8081:9.8.23.14:8080'], ['install', 'img', 'web-1', '-n', '127.0.0.2:8081:9.8.23.14:8080']);
  await same(['install', 'img', 'web-1', '--net-links=8081:10.0.0.3:80,8082:10.0.0.3:81'], ['install', 'img', 'web-1', '-n', '8081:10.0.0.3:80', '-n', '8082:10.0.0.3:81']);

  const volumes = await same(['install', 'img', 'web-1', '-v', '/data,/srv/a:/a:ro,/srv/b:/b:rw'], ['install', 'img', 'web-1', '-v', '/data', '-v', '/srv/a:/a:ro', '-v', '/srv/b:/b']);
  assert.equal(bodyOf(volumes).VolumeConfig, {
    Volumes: ['/data'],
    BindMounts: [
      { HostPath: '/srv/a', ContainerPath: '/a', ReadOnly: true },
      { HostPath: '/srv/b', ContainerPath: '/b', ReadOnly: false },
    ],
  });
  await same(['install', 'img', 'web-1', '--volumes', '/data,/srv/a:/a:ro'], ['install', 'img', 'web-1', '-v', '/data', '-v', '/srv/a:/a:ro']);
});

test('link: -n comma lists, -n=VALUE and --net-links send what repeated -n send', async () => {
  const sent = await same(['link', '-n=127.0.0.2:8081:10.0.0.3:80,8082:localhost:4000', 'web-1'], ['link', '-n', '127.0.0.2:8081:10.0.0.3:80', '-n', '127.0.0.1:8082:localhost:4000', 'web-1']);
  assert.is(sent[0]!.op, 'link');
  assert.is((sent[0]!.raw.body as { Links: { NetworkLinks: unknown[] }[] }).Links[0]!.NetworkLinks.length, 2);
  await same(['link', '--net-links', '8081:10.0.0.3:80', 'web-1'], ['link', '--link', '8081:10.0.0.3:80', 'web-1']);
});

test('targets: local/NAME is this host, like NAME; ctr://HOST:PORT/NAME is HOST:PORT/NAME; `local` as a host is this host', async () => {
  const here = await same(['start', 'local/web-1', 'ctr://local/web-2'], ['start', 'web-1', 'web-2']);
  assert.equal(here.map((s) => s.on), ['', '']);
  const there = await same(['restart', 'ctr://10.0.0.2:43273/web-1'], ['restart', '10.0.0.2:43273/web-1']);
  assert.is(there[0]!.on, '10.0.0.2:43273');
  // local with a port is a host of that name, not this one.
  assert.is((await gear(['start', 'local:43273/web-1'])).sent[0]!.on, 'local:43273');
  await same(['list-units', 'local'], ['list-units']);
  await same(['clean', 'local'], ['clean']);
});

test("--slice NAME is NAME.slice, and geard's classes (container-small...) gear's default; boolean flags take =true/=false; --isolate=false is nothing", async () => {
  const sent = await same(['install', 'img', 'web-1', '--slice', 'gear-apps'], ['install', 'img', 'web-1', '--slice', 'gear-apps.slice']);
  assert.is(bodyOf(sent).SystemdSlice, 'gear-apps.slice');
  for (const geard of ['container', 'container-small', 'container-large']) {
    const dflt = await same(['install', 'img', 'web-1', '--slice', geard], ['install', 'img', 'web-1']);
    assert.is(bodyOf(dflt).SystemdSlice, undefined);
  }
  await same(['install', 'img', 'web-1', '--start=true'], ['install', 'img', 'web-1', '--start']);
  await same(['install', 'img', 'web-1', '--start=false', '--isolate=false', '--socket-activated=false'], ['install', 'img', 'web-1']);
  await same(['list-units', '--all=true'], ['list-units', '-a']);
});

test('stop -n / --no-wait asks for ?wait=0 and says the containers are stopping; plain stop waits', async () => {
  const noWait = await gear(['stop', '-n', 'web-1']);
  assert.is(noWait.code, 0, noWait.stderr);
  assert.equal(noWait.sent.map((s) => [s.op, s.raw.query]), [['stop', { wait: '0' }]]);
  assert.is(noWait.stdout, 'web-1 stopping (deactivating/dead)\n');
  await same(['stop', '--no-wait', 'web-1'], ['stop', '-n', 'web-1']);
  const waits = await gear(['stop', 'web-1']);
  assert.equal(waits.sent.map((s) => s.raw.query), [{}]);
  assert.is(waits.stdout, 'web-1 stopped (inactive/dead)\n');
});

test('list-units -q: one target per line, HOST:PORT/NAME on agents (the default port filled in), NAME here', async () => {
  const here = await gear(['list-units', '-q']);
  assert.is(here.code, 0, here.stderr);
  assert.is(here.stdout, 'db-1\nweb-1\n');
  const there = await gear(['list-units', '-q', '-a', '10.0.0.2', '10.0.0.3:5000']);
  assert.is(there.stdout, '10.0.0.2:43273/db-1\n10.0.0.2:43273/web-1\n10.0.0.3:5000/db-1\n10.0.0.3:5000/web-1\n');
  assert.equal(there.sent.map((s) => s.raw.query), [{ all: '1' }, { all: '1' }]);
  // Each printed line is a target other commands take.
  const start = await gear(['start', ...there.stdout.trim().split('\n')]);
  assert.is(start.code, 0, start.stderr);
  assert.equal(start.sent.map((s) => `${s.on}/${s.raw.params.id}`).sort(), there.stdout.trim().split('\n'));
});

test('clean --dry-run asks for ?dry-run=1 and prints "would remove"', async () => {
  const dry = await gear(['clean', '--dry-run']);
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(dry.sent.map((s) => [s.op, s.raw.query]), [['clean', { 'dry-run': '1' }]]);
  assert.is(dry.stdout, 'would remove /etc/systemd/system/ctr-old.service\n');
  assert.is((await gear(['clean'])).stdout, 'removed /etc/systemd/system/ctr-old.service\n');
});

test('clean --repair asks for ?repair=1: one line per finding ("would fix" / "fixed"); one not fixed is on stderr with exit 1; --json prints the answer', async () => {
  const dry = await gear(['clean', '--repair', '--dry-run']);
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(dry.sent.map((s) => [s.op, s.raw.query]), [['clean', { 'dry-run': '1', repair: '1' }]]);
  assert.is(dry.stdout, 'would fix: unit file /etc/systemd/system/ctr-old.service has no definition (no installed container): stop the unit and remove the file\n');
  const fix = await gear(['clean', '--repair']);
  assert.is(fix.code, 1);
  assert.equal(fix.sent.map((s) => s.raw.query), [{ repair: '1' }]);
  assert.is(fix.stdout, 'fixed: unit file /etc/systemd/system/ctr-old.service has no definition (no installed container): stop the unit and remove the file\n');
  assert.is(fix.stderr, 'gear: not fixed: definition /var/lib/gear/containers/bad.json cannot be read (x): none that is safe: no safe fix\n');
  const json = await gear(['clean', '--repair', '--dry-run', '--json']);
  assert.is(json.code, 0, json.stderr);
  const answer = JSON.parse(json.stdout);
  assert.is(answer.DryRun, true);
  assert.is(answer.Findings.length, 1);
  assert.is(answer.Findings[0].Fixed, false);
});

test('install --callback URL sends Callback to an agent; on this host (no agent) or with a bad URL it is refused with one line and no request', async () => {
  const r = await gear(['install', 'test/web', '10.0.0.2/web-1', '--callback', 'https://ci.example/hook?x=1']);
  assert.is(r.code, 0, r.stderr);
  assert.is((r.sent[0]!.raw.body as { Callback?: string }).Callback, 'https://ci.example/hook?x=1');
  const local = await gear(['install', 'test/web', 'web-1', '--callback', 'https://ci.example/hook']);
  assert.is(local.code, 1);
  assert.equal(local.sent, []);
  assert.match(local.stderr, /--callback needs an agent/);
  const bad = await gear(['install', 'test/web', '10.0.0.2/web-1', '--callback', 'file:///etc/passwd']);
  assert.is(bad.code, 1);
  assert.equal(bad.sent, []);
  assert.is(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /--callback must be an http or https URL/);
});

test('gear version prints what gear --version prints', async () => {
  const r = await gear(['version']);
  assert.is(r.code, 0);
  assert.is(r.stdout, `${VERSION}\n`);
});

test('bad seed forms are refused with one line, exit 1, and nothing sent', async () => {
  const install = (...args: string[]) => ['install', 'img', 'web-1', ...args];
  await refused(install('-p', '8080:0,'), /-p "8080:0," has an empty item/);
  await refused(install('-p', ','), /-p "," has an empty item/);
  await refused(install('-p', '8080:0,,9090:0'), /empty item/);
  await refused(install('-p='), /-p needs a value/);
  await refused(install('-p', '8080:x'), /external port "x" is not a port number/);
  await refused(install('-v', 'a:b:rx'), /volume "a:b:rx" must look like HOST_PATH:CONTAINER_PATH\[:ro\|rw\]/);
  await refused(install('-v', '/data,relative'), /volume path "relative" must be an absolute path/);
  await refused(install('-n', '1:2:3:4:5'), /link "1:2:3:4:5" must look like \[FROM_IP:\]FROM_PORT:TO_HOST:TO_PORT/);
  await refused(install('-n', '8081:10.0.0.3:'), /TO_PORT "" is not a port number/);
  await refused(install('-n', ':8081:10.0.0.3:80'), /FROM_IP is empty/);
  await refused(install('-n', '8081:10.0.0.3:80,'), /empty item/);
  await refused(install('A B=x'), /environment variable name "A B" is not valid/);
  await refused(install('A\nB=x'), /environment variable name "A\\nB" is not valid/);
  await refused(install('A=line\nbreak'), /environment variable A contains a line break/);
  await refused(install('=VALUE'), /"=VALUE" must look like NAME=VALUE/);
  await refused(install('--isolate=yes'), /^gear: --isolate takes true or false, not "yes"\n$/);
  await refused(install('--start=1'), /^gear: --start takes true or false, not "1"\n$/);
    await refused(install('--idle-after', '3s'), /--idle-after needs --socket-activated/);
  await refused(install('--socket-activated'), /--socket-activated needs a published port \(-p\); none is given/);
  await refused(install('--socket-activated', '-p', '8080:0', '--idle-after', 'soon'), /--idle-after "soon" is not a duration/);
  await refused(['install', 'A=B', 'web-1'], /the first argument is the image, and "A=B" is not one/);
  await refused(['install', 'img', 'A=B'], /name at least one container to install/);
  await refused(['install', 'img', 'web-1', '--slice', 'bad slice'], /slice "bad slice.slice" is not a valid systemd slice name/);
  await refused(['link', '-n', '', 'web-1'], /-n needs a value/);
  await refused(['stop', '-n', 'a b'], /container name "a b" is not valid/);
});

test.run();
