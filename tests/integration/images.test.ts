import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as A, allocatedPort, eventually, gear, hostIp, httpGet, journalMatching, putFile, remoteAgents, run, sh, startAgent, type Result } from './harness.js';

// Image transfer between two hosts' agents (token, TLS), the CLI inside a
// host (this host's images) and on the machine (agents only). Images are
// built in host A from the local test/web with RUN layers (no network).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const C = process.env.GEAR_TEST_HOST_C ?? 'gear-c';
const agents = remoteAgents([A, B, C]);
const ipA = hostIp(A);
const ipB = hostIp(B);
const ipC = hostIp(C);
// The CLI in a host reaches the other's agent with the token and CA remoteAgents put there.
const inHost = { GEAR_TOKEN_FILE: '/root/gear.token', GEAR_CA: '/root/gear-cert.pem' };

/** Build NAME in host A: FROM base, one RUN per command (each a layer). */
async function build(name: string, from: string, runs: string[]): Promise<void> {
  const dir = `/root/build-${name.replace(/[^a-z0-9]/g, '-')}`;
  const dockerfile = [`FROM ${from}`, ...runs.map((r) => `RUN ${r}`)].join('\n');
  await sh(A, `rm -rf ${dir} && mkdir -p ${dir} && printf '%s\\n' '${dockerfile}' > ${dir}/Dockerfile && docker build -q -t ${name} ${dir} >/dev/null`);
}

const diffIds = async (host: string, image: string): Promise<string[]> => JSON.parse(await sh(host, `docker image inspect ${image} --format '{{json .RootFS.Layers}}'`));

/** What Docker holds in a host: images (all, with intermediate ones), layers, and temp dirs of loads. */
const dockerState = (host: string) =>
  sh(host, "docker image ls -a -q --no-trunc | sort; echo --; ls /var/lib/docker/image/overlay2/layerdb/sha256 | sort; echo --; ls -A /var/lib/docker/tmp 2>/dev/null; true");

test.before(async () => {
  // B starts without any of these images (a re-run on the same hosts too).
  for (const h of [B, C]) await sh(h, "docker images --format '{{.Repository}}:{{.Tag}}' | grep '^imgs/' | xargs -r docker rmi -f >/dev/null; docker image prune -f >/dev/null");
  await agents.start();
  // A shared base with a 1 MB layer; two apps on it, a layer or two of their own.
  await build('imgs/base:1', 'test/web', ['head -c 1000000 /dev/urandom > /base-noise', 'echo base > /base.txt']);
  await build('imgs/app:1', 'imgs/base:1', ['echo one > /app.txt', 'mkdir -p /www/app && echo app-one > /www/app/index.html']);
  await build('imgs/app:2', 'imgs/base:1', ['echo two > /app.txt']);
  await build('imgs/app:3', 'imgs/base:1', ['echo three > /app.txt']);
  await build('imgs/app:4', 'imgs/base:1', ['echo four > /app.txt']);
});

test.after(async () => {
  await agents.stop();
});

test('push a multi-layer image from this host to two agents at once, and run it there', async () => {
  const layers = await diffIds(A, 'imgs/app:1');
  assert.is(layers.length, 5, 'test/web + 2 base layers + 2 app layers');
  const r = await gear(A, ['push-image', 'imgs/app:1', ipB, ipC], { env: inHost });
  assert.is(r.code, 0, r.stderr);
  const id = (await sh(A, "docker image inspect imgs/app:1 --format '{{.Id}}'")).trim();
  // test/web's layer was already on each: 4 of 5 sent, to each; progress names the host.
  for (const ip of [ipB, ipC]) {
    assert.match(r.stdout, new RegExp(`^${ip}: imgs/app:1 \\(${id}\\) loaded: 4 of 5 layers sent \\(\\d+ bytes of layers\\), 1 already there;`, 'm'));
    assert.match(r.stderr, new RegExp(`^${ip}: layer 1/5 ${layers[0]!.slice(0, 19)} already there, not sent`, 'm'));
    assert.match(r.stderr, new RegExp(`^${ip}: layer 2/5 ${layers[1]!.slice(0, 19)} sent`, 'm'));
  }
  assert.is((await sh(C, "docker image inspect imgs/app:1 --format '{{.Id}}'")).trim(), id, 'C has the same image id');
  assert.is((await sh(B, "docker image inspect imgs/app:1 --format '{{.Id}}'")).trim(), id, 'B has the same image id');
  // It runs on B, as a gear container.
  const installed = await gear(B, ['install', 'imgs/app:1', 'app-1', '--start', '-p', '8080:0']);
  assert.is(installed.code, 0, installed.stderr);
  assert.not.match(installed.stderr, /pulling/, 'nothing was pulled');
  const res = await eventually(() => httpGet(`http://${ipB}:${allocatedPort(installed.stdout)}/app/`));
  assert.is(res && res.body.trim(), 'app-one');
  assert.is((await gear(B, ['delete', 'app-1'])).code, 0);
});

test('a second image on the same base: only its own layer crosses', async () => {
  const layers = await diffIds(A, 'imgs/app:2');
  const baseBytes = Number((await sh(A, 'docker save imgs/base:1 | wc -c')).trim());
  const r = await gear(A, ['push-image', 'imgs/app:2', ipB], { env: inHost });
  assert.is(r.code, 0, r.stderr);
  const m = new RegExp(`^${ipB}: imgs/app:2 \\(sha256:[0-9a-f]{64}\\) loaded: 1 of 4 layers sent \\((\\d+) bytes of layers\\), 3 already there; (\\d+) bytes transferred`, 'm').exec(r.stdout);
  assert.ok(m, r.stdout);
  // The receiver counted only the top layer's bytes; the whole archive on the wire is far less than the base layer alone.
  assert.ok(Number(m![1]) < 10_000, `layer bytes ${m![1]}`);
  assert.ok(Number(m![2]) < 100_000 && Number(m![2]) < baseBytes / 10, `bytes on the wire ${m![2]} (base archive ${baseBytes})`);
  for (const i of [0, 1, 2]) assert.match(r.stderr, new RegExp(`layer ${i + 1}/4 ${layers[i]!.slice(0, 19)} already there, not sent`));
  assert.match(r.stderr, new RegExp(`layer 4/4 ${layers[3]!.slice(0, 19)} sent`));
  assert.is((await sh(B, 'docker run --rm imgs/app:2 cat /app.txt /base.txt')).trim(), 'two\nbase');
});

test('pull-image: this host fetches from an agent; -q prints no progress', async () => {
  const r = await gear(B, ['pull-image', '-q', `${ipA}/imgs/app:3`], { env: inHost });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.match(r.stdout, new RegExp(`^${ipA}: imgs/app:3 \\(sha256:[0-9a-f]{64}\\) loaded: 1 of 4 layers sent`, 'm'));
  assert.is((await sh(B, 'docker run --rm imgs/app:3 cat /app.txt')).trim(), 'three');
});

test('push-image --from: from one agent to another, through this machine', async () => {
  const r = await agents.cli(['push-image', '--from', ipA, 'imgs/app:4', ipB]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${ipB}: imgs/app:4 \\(sha256:[0-9a-f]{64}\\) loaded: 1 of 4 layers sent`, 'm'));
  assert.is((await sh(B, 'docker run --rm imgs/app:4 cat /app.txt')).trim(), 'four');
});

test('bad input: names with path tricks, digests, images not there; nothing changes on the receiver', async () => {
  const before = await dockerState(B);
  for (const bad of ['../etc/passwd', '/abs', 'imgs/../x', 'UPPER:1', `imgs/app@sha256:${'a'.repeat(64)}`]) {
    const r = await gear(A, ['push-image', bad, ipB], { env: inHost });
    assert.is(r.code, 1, bad);
    assert.match(r.stderr, /^gear: image .*(not a valid image reference|not by digest)/, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const missing = await gear(A, ['push-image', 'imgs/absent:1', ipB], { env: inHost });
  assert.is(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`^gear: ${ipB}: image imgs/absent:1 is not on this host`, 'm'));
  const pullMissing = await gear(B, ['pull-image', `${ipA}/imgs/absent:1`], { env: inHost });
  assert.is(pullMissing.code, 1);
  assert.match(pullMissing.stderr, new RegExp(`^gear: ${ipA}: image imgs/absent:1 is not on this host`, 'm'));
  const noHost = await gear(B, ['pull-image', 'imgs-app-1'], { env: inHost });
  assert.is(noHost.code, 1);
  assert.match(noHost.stderr, /name the agent and the image, HOST\[:PORT\]\/NAME\[:TAG\]/);
  assert.is(await dockerState(B), before);
});

// --- gear images, and gear install --from ---

/** The row of TAG in `gear images` output: its cells, split on runs of two spaces or more. */
const rowOf = (stdout: string, tag: string) => stdout.split('\n').find((l) => l.startsWith(`${tag} `))?.trim().split(/\s{2,}/);

/** Whether a container is installed on a host (gear's own listing, installed but not loaded too). */
const installedOn = async (host: string, name: string) => (await gear(host, ['list-units', '-a', '-q'])).stdout.split('\n').includes(name);

test('gear images A B: an image only A has, side by side; --json; one host alone has no host columns', async () => {
  await build('imgs/peer:1', 'imgs/base:1', ['mkdir -p /www/peer && echo from-a > /www/peer/index.html']);
  const id = (await sh(A, "docker image inspect imgs/peer:1 --format '{{.Id}}'")).trim();
  const r = await agents.cli(['images', ipA, ipB]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n')[0]!.trim().split(/\s{2,}/), ['IMAGE', 'ID', 'SIZE', 'CREATED', ipA, ipB]);
  const row = rowOf(r.stdout, 'imgs/peer:1');
  assert.ok(row, r.stdout);
  assert.is(row![1], id.slice(7, 19));
  assert.match(row![2]!, /^\d+\.\d (kB|MB)$/);
  assert.match(row![3]!, /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  assert.equal(row!.slice(4), ['yes', '-']);
  assert.equal(rowOf(r.stdout, 'imgs/app:1')!.slice(4), ['yes', 'yes'], 'pushed to B before: on both, same id');
  const json = await agents.cli(['images', '--json', ipA, ipB]);
  assert.is(json.code, 0, json.stderr);
  const hosts = (JSON.parse(json.stdout) as { Hosts: { Host: string; Images: { Id: string; RepoTags: string[] }[] }[] }).Hosts;
  assert.equal(hosts.map((h) => h.Host), [ipA, ipB]);
  assert.ok(hosts[0]!.Images.some((i) => i.Id === id && i.RepoTags.includes('imgs/peer:1')));
  assert.not.ok(hosts[1]!.Images.some((i) => i.Id === id));
  // In a host, without arguments: this host's images, no host column.
  const here = await gear(A, ['images']);
  assert.is(here.code, 0, here.stderr);
  assert.equal(here.stdout.split('\n')[0]!.trim().split(/\s{2,}/), ['IMAGE', 'ID', 'SIZE', 'CREATED']);
  assert.is(rowOf(here.stdout, 'imgs/peer:1')![1], id.slice(7, 19));
});

test('gear install --from A onto B, which lacks the image: transferred, then installed and running; gear images B shows it', async () => {
  const before = await sh(B, "docker image inspect imgs/peer:1 >/dev/null 2>&1 && echo there || echo absent");
  assert.is(before.trim(), 'absent');
  const r = await agents.cli(['install', 'imgs/peer:1', `${ipB}/web-peer`, '--from', ipA, '--start', '-p', '8080:0']);
  assert.is(r.code, 0, r.stderr);
  // What crossed, said on stdout before the install's line; progress on stderr; nothing pulled.
  assert.match(r.stdout, new RegExp(`^${ipB}: imgs/peer:1 \\(sha256:[0-9a-f]{64}\\) loaded from ${ipA}: 1 of 4 layers sent \\(\\d+ bytes of layers\\), 3 already there; \\d+ bytes transferred`, 'm'));
  assert.match(r.stdout, new RegExp(`^${ipB}/web-peer installed and started \\(8080 -> \\d+\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^${ipB}: imgs/peer:1 \\(sha256:[0-9a-f]{64}\\): 4 layers, 1 to send$`, 'm'));
  assert.not.match(r.stderr, /pulling/i);
  const res = await eventually(() => httpGet(`http://${ipB}:${allocatedPort(r.stdout)}/peer/`));
  assert.is(res && res.body.trim(), 'from-a');
  const listed = await agents.cli(['images', ipB]);
  assert.is(listed.code, 0, listed.stderr);
  assert.equal(rowOf(listed.stdout, 'imgs/peer:1')!.slice(4), ['yes']);
});

test('a second install --from onto a host that has the image transfers nothing (the CLI on B, from A)', async () => {
  const r = await gear(B, ['install', 'imgs/peer:1', 'web-peer-2', '--from', ipA], { env: inHost });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'imgs/peer:1 is there already: nothing transferred\nweb-peer-2 installed\n');
  assert.is(r.stderr, '', 'no transfer progress');
  for (const name of ['web-peer', 'web-peer-2']) assert.is((await gear(B, ['delete', name])).code, 0);
});

test('install --from a bad peer, or a peer without the image: one line, exit 1, nothing installed or loaded on B', async () => {
  await build('imgs/peer:2', 'imgs/base:1', ['echo two > /peer.txt']);
  const before = await dockerState(B);
  const cases: [string[], RegExp][] = [
    [['imgs/absent:1', `${ipB}/web-bad`, '--from', ipA], new RegExp(`^gear: ${ipB}/web-bad: image imgs/absent:1 is not on ${ipA} \\(--from\\) either: nothing installed$`)],
    [['imgs/peer:2', `${ipB}/web-bad`, '--from', `${ipA}:1`], new RegExp(`^gear: ${ipB}/web-bad: image imgs/peer:2 not transferred from ${ipA}:1: .+; nothing installed$`)],
    [['imgs/peer:1', `${ipB}/web-bad`, '--from', 'bad host'], /^gear: host "bad host" must look like HOST\[:PORT\]/],
    [['imgs/peer@sha256:' + 'a'.repeat(64), `${ipB}/web-bad`, '--from', ipA], /^gear: image .*not by digest/],
  ];
  for (const [args, message] of cases) {
    const r = await agents.cli(['install', ...args]);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr.trim(), message, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.is(r.stdout, '');
  }
  assert.not.ok(await installedOn(B, 'web-bad'), 'nothing installed');
  assert.is(await dockerState(B), before, 'nothing loaded');
});

test('the agent takes an archive body on /images/load only, typed application/x-tar, with the token', async () => {
  const auth = ['-H', 'Authorization: Bearer test-token-0123456789abcdef', '--cacert', '/root/gear-cert.pem'];
  const url = `https://${ipB}:43273`;
  const curl = async (args: string[]) => (await run(A, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout;
  const id = `sha256:${'a'.repeat(64)}`;
  assert.is(await curl([...auth, '-X', 'POST', '-H', 'Content-Type: text/plain', '--data-binary', 'x', `${url}/images/load?image=x:1&id=${id}`]), '415');
  assert.is(await curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', 'x', `${url}/images/layers`]), '415');
  assert.is(await curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', 'x', `${url}/containers/links`]), '415');
  assert.is(await curl(['--cacert', '/root/gear-cert.pem', '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', 'x', `${url}/images/load?image=x:1&id=${id}`]), '401');
  assert.is(await curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', 'x', `${url}/images/load?image=../x&id=${id}`]), '400');
  // Not a tar: refused, nothing loaded.
  const before = await dockerState(B);
  const r = await run(A, ['curl', '-s', ...auth, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', 'not a tar at all', `${url}/images/load?image=x:1&id=${id}`]);
  assert.match(r.stdout, /"Message":"/);
  assert.is(await dockerState(B), before);
});

// --- A byte flipped on the wire, and a sender killed midway: plaintext agents (a proxy can see the bytes) ---

const PATTERN = 'gear-image-test-pattern';
const plainArgs = ['--listen', '0.0.0.0:43273', '--token-file', '/root/gear.token', '--insecure-plaintext'];

/**
 * A TCP proxy on the machine to B's agent. `flip`: the first byte of the
 * first PATTERN the client sends is changed. `pace`: each chunk from the
 * client waits a tick before the next is read (a slow link). Counts bytes.
 */
function proxy(opts: { flip?: boolean; pace?: number }): Promise<{ server: Server; port: number; sent: () => number; flipped: () => boolean }> {
  let sent = 0;
  let flipped = false;
  const server = createServer((client: Socket) => {
    const upstream = connect(43273, ipB);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (opts.flip && !flipped) {
        const at = chunk.indexOf(PATTERN);
        if (at >= 0) {
          chunk[at] = chunk[at]! ^ 0x20;
          flipped = true;
        }
      }
      sent += chunk.length;
      upstream.write(chunk);
      if (opts.pace) {
        client.pause();
        setTimeout(() => client.resume(), opts.pace);
      }
    });
    client.on('end', () => upstream.end());
  });
  return new Promise((resolve) => server.listen(0, '10.250.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, sent: () => sent, flipped: () => flipped })));
}

/** The CLI on the machine, plaintext with the token; the child too, to kill it. */
function plainCli(args: string[]): { done: Promise<Result>; kill: () => void } {
  const child = spawn(GEAR, ['--insecure-plaintext', ...args], { env: { ...process.env, GEAR_TOKEN_FILE: `${agents.dir}/token`, GEAR_CA: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))), kill: () => child.kill('SIGKILL') };
}

test('an image with a layer twice (sent once, the second place a link): pushed and run; then through docker save to a host with its first place only', async () => {
  const dir = '/root/build-imgs-dup';
  const dockerfile = (copies: number) => ['FROM imgs/base:1', ...Array(copies).fill('COPY f /f')].join('\\n');
  await sh(A, `rm -rf ${dir} && mkdir -p ${dir} && cd ${dir} && echo same > f && touch -d 2020-01-01 f && printf '${dockerfile(1)}\\n' > Dockerfile.one && printf '${dockerfile(2)}\\n' > Dockerfile && docker build -q -f Dockerfile.one -t imgs/dup-one:1 . >/dev/null && docker build -q -t imgs/dup:1 . >/dev/null`);
  const layers = await diffIds(A, 'imgs/dup:1');
  const n = layers.length;
  assert.is(layers[n - 1], layers[n - 2], 'the same layer twice');
  assert.equal(await diffIds(A, 'imgs/dup-one:1'), layers.slice(0, n - 1), 'dup-one is dup without its last layer');
  assert.match(await sh(A, 'docker save imgs/dup:1 | tar tv'), /^l.* [0-9a-f]{64}\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar$/m);
  const id = (await sh(A, "docker image inspect imgs/dup:1 --format '{{.Id}}'")).trim();
  // B has the base (the first test): both places of the repeated layer lack; its bytes travel once.
  const r = await gear(A, ['push-image', 'imgs/dup:1', ipB], { env: inHost });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${ipB}: imgs/dup:1 \\(${id}\\) loaded: 2 of ${n} layers sent`, 'm'));
  assert.is((await sh(B, "docker image inspect imgs/dup:1 --format '{{.Id}}'")).trim(), id);
  assert.is((await sh(B, 'docker run --rm imgs/dup:1 cat /f /base.txt')).trim(), 'same\nbase');
  // C gets dup-one first: it then has the first place's chain, not the second's. Through docker save (the
  // fallback), docker load reads the second place through the link: the first place's layer.tar is sent
  // again for it (the layer store sends the bytes at the second place itself: tests/unit/layer-store).
  const one = await gear(A, ['push-image', 'imgs/dup-one:1', ipC], { env: inHost });
  assert.is(one.code, 0, one.stderr);
  const again = await gear(A, ['push-image', 'imgs/dup:1', ipC], { env: { ...inHost, GEAR_IMAGE_EXPORT: 'docker-save' } });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^${ipC}: imgs/dup:1 \\(${id}\\) loaded: 2 of ${n} layers sent`, 'm'));
  assert.is((await sh(C, "docker image inspect imgs/dup:1 --format '{{.Id}}'")).trim(), id);
  assert.is((await sh(C, 'docker run --rm imgs/dup:1 cat /f')).trim(), 'same');
  // Pushed once more to B, which has it all: nothing travels, the link neither.
  const none = await gear(A, ['push-image', 'imgs/dup:1', ipB], { env: inHost });
  assert.is(none.code, 0, none.stderr);
  assert.match(none.stdout, new RegExp(`^${ipB}: imgs/dup:1 \\(${id}\\) loaded: 0 of ${n} layers sent`, 'm'));
});

/** How many `docker save`s host h's Docker did since `since` (unix seconds): Docker's own events. */
const savesSince = async (h: string, since: number) =>
  // --until is exclusive to the second: one second on, so that an event of this second counts.
  (await sh(h, `docker events --since ${since} --until $(($(date +%s) + 1)) --filter type=image --filter event=save --format '{{.Action}}'`)).split('\n').filter((l) => l.trim()).length;

test('the sender reads Docker\'s layer store, not docker save; GEAR_IMAGE_EXPORT=docker-save sends the same image through docker save', async () => {
  await build('imgs/store:1', 'imgs/base:1', ['mkdir -p "/odd dir" && echo spaced > "/odd dir/a file.txt"', 'echo store > /store.txt && ln -s store.txt /store.link']);
  await build('imgs/store:2', 'imgs/base:1', ['echo again > /store.txt']);
  const since = Number((await sh(A, 'date +%s')).trim()) - 1;
  const fast = await gear(A, ['push-image', '-q', 'imgs/store:1', ipB], { env: inHost });
  assert.is(fast.code, 0, fast.stderr);
  assert.is(await savesSince(A, since), 0, 'no docker save on the sender');
  assert.is((await sh(B, 'docker run --rm imgs/store:1 sh -c \'cat "/odd dir/a file.txt" /store.link\'')).trim(), 'spaced\nstore');
  const id = (await sh(A, "docker image inspect imgs/store:1 --format '{{.Id}}'")).trim();
  assert.is((await sh(B, "docker image inspect imgs/store:1 --format '{{.Id}}'")).trim(), id);
  const saved = await gear(A, ['push-image', '-q', 'imgs/store:2', ipB], { env: { ...inHost, GEAR_IMAGE_EXPORT: 'docker-save' } });
  assert.is(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, /loaded: 1 of 4 layers sent/);
  assert.is(await savesSince(A, since), 1, 'one docker save, for the forced one');
  assert.is((await sh(B, 'docker run --rm imgs/store:2 cat /store.txt')).trim(), 'again');
  const bad = await gear(A, ['push-image', 'imgs/store:2', ipC], { env: { ...inHost, GEAR_IMAGE_EXPORT: 'fast' } });
  assert.is(bad.code, 1, bad.stdout);
  assert.match(bad.stderr, /GEAR_IMAGE_EXPORT must be auto or docker-save/);
});

test('a layer changed in Docker\'s store on the sender: refused (by the sender when its size changed, by the receiver when its bytes did), nothing loaded', async () => {
  await build('imgs/changed:1', 'test/web', ['echo original-content > /changed.txt']);
  const top = (await diffIds(A, 'imgs/changed:1')).length;
  // The top layer's directory in A's overlay2 store: its chain id's cache-id.
  const chain = (await sh(A, "docker image inspect imgs/changed:1 --format '{{.GraphDriver.Data.UpperDir}}'")).trim();
  assert.match(chain, /^\/var\/lib\/docker\/overlay2\/[0-9a-f]{64}\/diff$/);
  const agentPid = () => sh(B, 'systemctl show -p MainPID --value gear-agent');
  const pid = await agentPid();
  try {
    const before = await dockerState(B);
    await sh(A, `echo ORIGINAL-CONTENT > ${chain}/changed.txt`); // the same size, other bytes
    const r = await gear(A, ['push-image', '-q', 'imgs/changed:1', ipB], { env: inHost });
    assert.is(r.code, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`image archive: layer ${top} has digest sha256:[0-9a-f]{64}, the config says sha256:[0-9a-f]{64}`));
    await sh(A, `echo longer-than-before > ${chain}/changed.txt`);
    const r2 = await gear(A, ['push-image', '-q', 'imgs/changed:1', ipB], { env: inHost });
    assert.is(r2.code, 1, `${r2.stdout}${r2.stderr}`);
    assert.match(r2.stderr, /layer store: changed.txt is not the 17-byte file its layer's record names/);
    // The upload was cut right after its first headers, before the receiver's load had begun: the agent lives on.
    assert.is(await agentPid(), pid, 'the same agent');
    assert.match(await journalMatching(B, '-u gear-agent', /imgs\/changed:1 .*not loaded: .*cut before its end/), /not loaded/);
    assert.is(await eventually(async () => (await dockerState(B)) === before || undefined, 120_000), true, 'nothing loaded, nothing left behind');
  } finally {
    await sh(A, `echo original-content > ${chain}/changed.txt; docker rmi imgs/changed:1 >/dev/null`);
  }
});

test('a disk that fills up on the receiver during the load: the error named, nothing loaded, nothing left behind; with room, the retry loads it', async () => {
  await build('imgs/full:1', 'test/web', ['head -c 6000000 /dev/urandom > /full', 'echo full > /full.txt']);
  // docker load unpacks the archive into Docker's tmp dir first: 2 MB of room there.
  await sh(B, 'mount -t tmpfs -o size=2m gear-test-full /var/lib/docker/tmp');
  try {
    const before = await dockerState(B);
    const r = await gear(A, ['push-image', '-q', 'imgs/full:1', ipB], { env: inHost });
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`^gear: ${ipB}: docker load: .*no space left on device$`, 'm'));
    assert.is(await eventually(async () => (await dockerState(B)) === before || undefined, 120_000), true, 'nothing loaded, nothing left behind');
  } finally {
    await sh(B, 'umount /var/lib/docker/tmp');
  }
  const retry = await gear(A, ['push-image', '-q', 'imgs/full:1', ipB], { env: inHost });
  assert.is(retry.code, 0, retry.stderr);
  assert.is((await sh(B, 'docker run --rm imgs/full:1 cat /full.txt')).trim(), 'full');
});

test('a byte flipped in flight: refused with the layer named, nothing loaded; the retry without the proxy loads it', async () => {
  // The command spells the pattern in two parts: the config's history (sent too) must not hold it whole.
  await build('imgs/pattern:1', 'test/web', ['p=gear-image-test; busybox yes $p-pattern | head -c 300000 > /pattern', 'echo top > /top.txt']);
  for (const h of [A, B]) await startAgent(h, plainArgs);
  const p = await proxy({ flip: true });
  try {
    const before = await dockerState(B);
    const r = await plainCli(['push-image', '--from', ipA, 'imgs/pattern:1', `10.250.0.1:${p.port}`]).done;
    assert.ok(p.flipped(), 'the proxy flipped a byte');
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, /image archive: layer 2 has digest sha256:[0-9a-f]{64}, the config says sha256:[0-9a-f]{64}/);
    // Docker removes its temp dir of the failed load as it returns: wait for that.
    assert.is(await eventually(async () => (await dockerState(B)) === before || undefined, 120_000), true, 'nothing loaded, nothing left behind');
    const retry = await plainCli(['push-image', '--from', ipA, 'imgs/pattern:1', ipB]).done;
    assert.is(retry.code, 0, retry.stderr);
    assert.is((await sh(B, 'docker run --rm imgs/pattern:1 cat /top.txt')).trim(), 'top');
  } finally {
    p.server.close();
  }
});

test('the sender killed midway: nothing loaded; the retry succeeds, on a link slower than the request timeout', async () => {
  await build('imgs/big:1', 'test/web', ['head -c 8000000 /dev/urandom > /big', 'echo big > /big.txt']);
  await startAgent(A, plainArgs);
  // An upload is held to --request-timeout without a byte, not as a whole: the slow retry below lasts longer.
  await startAgent(B, [...plainArgs, '--request-timeout', '3']);
  const p = await proxy({ pace: 50 });
  try {
    const before = await dockerState(B);
    const push = plainCli(['push-image', '--from', ipA, 'imgs/big:1', `10.250.0.1:${p.port}`]);
    // Midway: once a megabyte of the 8 MB layer has gone through the proxy.
    assert.ok(await eventually(async () => p.sent() > 1_000_000, 60_000, 50), 'the transfer started');
    push.kill();
    const r = await push.done;
    assert.is.not(r.code, 0);
    assert.ok(p.sent() < 8_000_000, 'killed before the end');
    // The agent sees the cut body and gives up its load (it says so); Docker's state is as before, once Docker removed its temp dir.
    assert.ok(await eventually(async () => /imgs\/big:1 .*not loaded: .*cut before its end/.test(await sh(B, 'journalctl -u gear-agent --no-pager')), 120_000), 'the agent gave up the load');
    assert.is(await eventually(async () => (await dockerState(B)) === before || undefined, 120_000), true, 'nothing half-loaded');
    const retry = await plainCli(['push-image', '--from', ipA, 'imgs/big:1', `10.250.0.1:${p.port}`]).done;
    assert.is(retry.code, 0, retry.stderr);
    const took = Number(/loaded: 2 of 3 layers sent .* transferred in ([0-9.]+) s/.exec(retry.stdout)?.[1]);
    assert.ok(took > 3, `the upload took ${took} s, longer than the request timeout: ${retry.stdout}`);
    assert.is((await sh(B, 'docker run --rm imgs/big:1 cat /big.txt')).trim(), 'big');
  } finally {
    p.server.close();
  }
});

test.run();
