import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, eventually, hostIp, journalMatching, httpGet, remoteAgents, run, sh, type Result } from './harness.js';

// gear deploy spreads the images a deployment needs over its hosts: a host
// that lacks one gets it from another host's agent (only missing layers,
// checked before it is loaded), and the registry is asked at most once per
// image. The test hosts reach no registry: any pull fails, so a deploy that
// succeeds on hosts lacking the image proves that nobody pulled it.
// Driven from the machine, as an operator would (token, TLS).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const C = process.env.GEAR_TEST_HOST_C ?? 'gear-c';
const hosts = [A, B, C];
const [ipA, ipB, ipC] = hosts.map(hostIp) as [string, string, string];
const hostOf = (ip: string) => hosts[[ipA, ipB, ipC].indexOf(ip)]!;
const agents = remoteAgents(hosts, 'spread-token-0123456789abcdef');
const { cli, dir } = agents;

interface Resolved {
  Instances: { Id: string; On: string; Ports: { Internal: number; External: number }[] }[];
}

/** Build NAME in host A: FROM base, one RUN per command (each a layer). */
async function build(name: string, from: string, runs: string[]): Promise<void> {
  const d = `/root/build-${name.replace(/[^a-z0-9]/g, '-')}`;
  const dockerfile = [`FROM ${from}`, ...runs.map((r) => `RUN ${r}`)].join('\n');
  // A build takes long on a loaded machine: more time than sh's.
  const r = await run(A, ['sh', '-c', `rm -rf ${d} && mkdir -p ${d} && printf '%s\\n' '${dockerfile}' > ${d}/Dockerfile && docker build -q -t ${name} ${d} >/dev/null`], { timeoutMs: 600_000 });
  assert.is(r.code, 0, `docker build ${name}: ${r.stderr}`);
}

const imageId = async (host: string, image: string) => (await sh(host, `docker image inspect ${image} --format '{{.Id}}' 2>/dev/null; true`)).trim();

function deployment(file: string, name: string, image: string, count = 3): string {
  writeFileSync(join(dir, file), JSON.stringify({ containers: [{ name, image, count, publicports: [{ internal: 8080, external: 0 }] }] }));
  return file;
}

function resolved(r: Result): Resolved {
  const m = /wrote (\S+)/.exec(r.stdout + r.stderr);
  assert.ok(m, `no resolved file named in: ${r.stdout}${r.stderr}`);
  return JSON.parse(readFileSync(join(dir, m[1]!), 'utf8')) as Resolved;
}

/** Each instance answers on its host with the page its image's own layer holds. */
async function serves(d: Resolved, page: string, body: string): Promise<void> {
  for (const i of d.Instances) {
    // Started means its unit runs `docker run`, not that the server listens yet: asked until it answers.
    const res = await eventually(() => httpGet(`http://${i.On}:${i.Ports[0]!.External}/${page}/`), 60_000);
    assert.is(res && res.body.trim(), body, `${i.Id} on ${i.On}`);
  }
}

/** The line of a host that received the image: layers sent, bytes of layers, bytes moved, and from where. */
function received(stderr: string, ip: string, image: string): { from: string; sent: number; layerBytes: number; moved: number } {
  const m = new RegExp(`^${ip.replace(/\./g, '\\.')}: ${image} \\(sha256:[0-9a-f]{64}\\) loaded from (\\S+): (\\d+) of \\d+ layers sent \\((\\d+) bytes of layers\\), \\d+ already there; (\\d+) bytes transferred`, 'm').exec(stderr);
  assert.ok(m, `no transfer line for ${ip} in:\n${stderr}`);
  return { from: m[1]!, sent: Number(m[2]), layerBytes: Number(m[3]), moved: Number(m[4]) };
}

/** Every instance these tests deploy. */
const IDS = ['spone-1', 'spone-2', 'spone-3', 'sptwo-1', 'sptwo-2', 'sptwo-3', 'spthree-1', 'spthree-2'];

test.before(async () => {
  // No host has these images (a re-run on the same hosts too: its containers go first, then the images and their layers).
  for (const h of hosts) {
    await run(h, [GEAR, 'delete', ...IDS]);
    await sh(h, "docker images --format '{{.Repository}}:{{.Tag}}' | grep '^spread/' | xargs -r docker rmi -f >/dev/null; true");
  }
  await agents.start();
  // one: test/web and a layer of its own; two: one and a layer more; three: test/web and a small layer.
  await Promise.all([
    build('spread/one:1', 'test/web', ['head -c 500000 /dev/urandom > /noise && mkdir -p /www/one && echo one > /www/one/index.html']),
    build('spread/three:1', 'test/web', ['echo three > /three.txt']),
  ]);
  await build('spread/two:1', 'spread/one:1', ['head -c 300000 /dev/urandom > /noise2 && mkdir -p /www/two && echo two > /www/two/index.html']);
});

test.after(async () => {
  // The files after this one find the hosts as they were.
  for (const h of hosts) await run(h, [GEAR, 'delete', ...IDS]);
  await agents.stop();
});

test('three hosts, only A has the image: B and C receive it from agents (bytes per host on stderr), nobody pulls, all three run it', async () => {
  const id = await imageId(A, 'spread/one:1');
  assert.is(await imageId(B, 'spread/one:1'), '');
  const r = await cli(['deploy', deployment('one.json', 'spone', 'spread/one:1'), ipA, ipB, ipC]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^${ipA}: spread/one:1 is there already: nothing transferred$`, 'm'));
  assert.not.match(r.stderr, /pull/i, 'no registry asked');
  const toB = received(r.stderr, ipB, 'spread/one:1');
  const toC = received(r.stderr, ipC, 'spread/one:1');
  // test/web's layer is on every host: the image's own layer crosses, and the noise with it.
  for (const t of [toB, toC]) {
    assert.is(t.sent, 1);
    assert.ok(t.layerBytes > 500_000 && t.moved > t.layerBytes, JSON.stringify(t));
  }
  // A tree, not one sender to all: one of them got it from A, the other from the one that received it first.
  assert.equal([toB.from, toC.from].sort(), [ipA, toB.from === ipA ? ipB : ipC].sort(), r.stderr);
  // Progress names the host: what it lacks before the bytes move.
  for (const ip of [ipB, ipC]) assert.match(r.stderr, new RegExp(`^${ip.replace(/\./g, '\\.')}: spread/one:1 \\(${id}\\): 2 layers, 1 to send$`, 'm'));
  for (const h of [B, C]) assert.is(await imageId(h, 'spread/one:1'), id);
  const d = resolved(r);
  assert.equal(d.Instances.map((i) => i.On).sort(), [ipA, ipB, ipC].sort());
  await serves(d, 'one', 'one');
});

test('two hosts have the image already: only the third receives it, from one of them; -q prints no image lines', async () => {
  const push = await cli(['push-image', '-q', '--from', ipA, 'spread/two:1', ipB]);
  assert.is(push.code, 0, push.stderr);
  const r = await cli(['deploy', deployment('two.json', 'sptwo', 'spread/two:1'), ipA, ipB, ipC]);
  assert.is(r.code, 0, r.stderr);
  for (const ip of [ipA, ipB]) assert.match(r.stderr, new RegExp(`^${ip}: spread/two:1 is there already: nothing transferred$`, 'm'));
  const toC = received(r.stderr, ipC, 'spread/two:1');
  assert.ok([ipA, ipB].includes(toC.from), toC.from);
  // C has test/web and spread/one:1's layer (the first test): only two's own layer crosses.
  assert.is(toC.sent, 1);
  assert.ok(toC.layerBytes > 300_000, String(toC.layerBytes));
  assert.is(r.stderr.match(/ loaded from /g)?.length, 1, 'one transfer');
  await serves(resolved(r), 'two', 'two');
  // Redeployed quietly: the images are everywhere, nothing moves and nothing is said about them.
  const again = await cli(['deploy', '-q', 'two.json', ipA, ipB, ipC]);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stderr, '');
});

test('an image no host has: only one host is asked to pull it (the registry is asked once), each host fails with one line, nothing installed', async () => {
  const since = (await sh(A, 'date +%s')).trim();
  const r = await cli(['deploy', deployment('none.json', 'spnone', 'spread/none:1'), ipA, ipB, ipC]);
  assert.is(r.code, 1);
  assert.match(r.stderr, new RegExp(`^${ipA}: pulling spread/none:1 from its registry \\(no named host has it\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^gear: deploy: not done: install spnone-1 on ${ipA}: image spread/none:1 did not reach ${ipA}: pulling it failed: .*; nothing that needs it installed there$`, 'm'));
  for (const [ip, n] of [[ipB, 2], [ipC, 3]] as const)
    assert.match(r.stderr, new RegExp(`^gear: deploy: not done: install spnone-${n} on ${ip}: image spread/none:1 did not reach ${ip}: no named host has it, and pulling it on ${ipA} failed: .*; nothing that needs it installed there$`, 'm'));
  // Only A's agent pulled (its journal has the pull; B's and C's have none).
  // A's request line may reach its journal after the CLI has its answer: waited for; B's and C's then read as they are.
  await journalMatching(A, `-u gear-agent --since @${since}`, /images\/pull/);
  const pulls = await Promise.all(hosts.map((h) => sh(h, `journalctl -u gear-agent --since @${since} --no-pager | grep -c 'images/pull' ; true`)));
  assert.equal(pulls.map((n) => Number(n.trim()) > 0), [true, false, false], pulls.join(','));
  for (const h of hosts) assert.is((await sh(h, 'ls /etc/systemd/system | grep -c "^ctr-spnone" ; true')).trim(), '0', `nothing installed on ${h}`);
});

test('--no-spread: each host pulls what it lacks itself, as before (here: B cannot, A installs)', async () => {
  const r = await cli(['deploy', '--no-spread', deployment('three.json', 'spthree', 'spread/three:1', 2), ipA, ipB]);
  assert.is(r.code, 1);
  assert.not.match(r.stderr, /loaded from|there already/);
  assert.match(r.stdout, new RegExp(`^installed spthree-1 on ${ipA}`, 'm'));
  assert.match(r.stderr, new RegExp(`^gear: deploy: not done: install spthree-2 on ${ipB}: .*cannot be pulled`, 'm'));
});

test.run();
