import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, curl, eventually, hostIp, remoteAgents, run, sh, startAgent } from './harness.js';

// The agent as a read-only registry (/v2/): the stock Docker client of
// host B pulls from host A's agent (TLS, the token through docker login),
// and A's answers are compared with Debian's docker-registry (the
// reference distribution registry) run in A with the same image pushed.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const agents = remoteAgents([A, B]);
const ipA = hostIp(A);
const REG = `${ipA}:43273`;
const TOKEN = agents.token;
const AGENT = `https://${REG}`;
const REF = 'http://127.0.0.1:5000';
// curl in a host to A's agent: its certificate, the token as a Basic password (as docker login stores it).
const tls = ['--cacert', '/root/gear-cert.pem'];
const basic = [...tls, '-u', `gear:${TOKEN}`];

async function build(name: string, from: string, runs: string[]): Promise<void> {
  const dir = `/root/build-${name.replace(/[^a-z0-9]/g, '-')}`;
  const dockerfile = [`FROM ${from}`, ...runs.map((r) => `RUN ${r}`)].join('\n');
  await sh(A, `rm -rf ${dir} && mkdir -p ${dir} && printf '%s\\n' '${dockerfile}' > ${dir}/Dockerfile && docker build -q -t ${name} ${dir} >/dev/null`);
}

const sha256 = async (host: string, script: string) => `sha256:${(await sh(host, `${script} | sha256sum`)).split(' ')[0]}`;

test.before(async () => {
  await sh(B, `docker images --format '{{.Repository}}:{{.Tag}}' | grep '^${REG}/' | xargs -r docker rmi -f >/dev/null; docker logout ${REG} >/dev/null 2>&1; true`);
  await agents.start();
  // B trusts A's agent as a user would: its certificate for this registry in Docker's certs.d (no daemon restart).
  await sh(B, `mkdir -p /etc/docker/certs.d/${REG} && cp /root/gear-cert.pem /etc/docker/certs.d/${REG}/ca.crt`);
  await build('reg/base:1', 'test/web', ['head -c 500000 /dev/urandom > /base-noise', 'echo base > /base.txt']);
  await build('reg/app:1', 'reg/base:1', ['echo one > /app.txt', 'mkdir -p /www/app && echo app-one > /www/app/index.html']);
  await build('reg/app:2', 'reg/base:1', ['echo two > /app.txt']);
});

test.after(async () => {
  await sh(B, `docker logout ${REG} >/dev/null 2>&1; rm -rf /etc/docker/certs.d/${REG}; true`);
  await sh(A, 'systemctl stop ref-registry 2>/dev/null; rm -rf /var/lib/ref-registry; true');
  await agents.stop();
});

test('docker pull with the stock client of another host, after docker login with the token; the image runs there', async () => {
  const anonymous = await run(B, ['docker', 'pull', `${REG}/reg/app:1`]);
  assert.is.not(anonymous.code, 0);
  assert.match(anonymous.stderr, /no basic auth credentials|unauthorized/);
  const wrong = await run(B, ['docker', 'login', REG, '-u', 'gear', '--password-stdin'], { input: 'not-the-token-0123456789\n' });
  assert.is.not(wrong.code, 0, 'a wrong token is refused at login');
  const login = await run(B, ['docker', 'login', REG, '-u', 'gear', '--password-stdin'], { input: `${TOKEN}\n` });
  assert.is(login.code, 0, login.stderr);
  const since = Number((await sh(A, 'date +%s')).trim()) - 1;
  const pulled = await run(B, ['docker', 'pull', `${REG}/reg/app:1`]);
  assert.is(pulled.code, 0, pulled.stderr);
  // The agent (root) described the image and served its blobs from Docker's layer store: no docker save in A.
  const saves = await sh(A, `docker events --since ${since} --until $(($(date +%s) + 1)) --filter type=image --filter event=save --format '{{.Action}}'`);
  assert.is(saves.trim(), '', 'no docker save in A');
  // The same image: same id (config digest), and the digest Docker records is the agent's manifest digest.
  const id = (await sh(A, "docker image inspect reg/app:1 --format '{{.Id}}'")).trim();
  assert.is((await sh(B, `docker image inspect ${REG}/reg/app:1 --format '{{.Id}}'`)).trim(), id);
  const head = await curl(B, [...basic, '-I', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', `${AGENT}/v2/reg/app/manifests/1`]);
  assert.match(pulled.stdout, new RegExp(`Digest: ${head.headers['docker-content-digest']}`));
  assert.is((await sh(B, `docker run --rm ${REG}/reg/app:1 cat /app.txt /base.txt /www/app/index.html`)).trim(), 'one\nbase\napp-one');
  // A second image on the same base: the layers Docker pulled from the agent before are not fetched again.
  const second = await run(B, ['docker', 'pull', `${REG}/reg/app:2`]);
  assert.is(second.code, 0, second.stderr);
  assert.is((second.stdout.match(/Already exists/g) ?? []).length, 3, second.stdout);
  assert.is((await sh(B, `docker run --rm ${REG}/reg/app:2 cat /app.txt`)).trim(), 'two');
});

test('an image with a layer twice (docker save writes the second as a link to the first): its manifest lists both, and it pulls', async () => {
  await sh(A, 'rm -rf /root/build-dup && mkdir -p /root/build-dup && cd /root/build-dup && echo same > f && touch -d 2020-01-01 f && printf "FROM test/web\\nCOPY f /f\\nCOPY f /f\\n" > Dockerfile && docker build -q -t reg/dup:1 . >/dev/null');
  const layers = JSON.parse(await sh(A, "docker image inspect reg/dup:1 --format '{{json .RootFS.Layers}}'")) as string[];
  assert.is(layers.length, 3);
  assert.is(layers[1], layers[2], 'the same layer twice');
  assert.match(await sh(A, 'docker save reg/dup:1 | tar tv'), /^l.* [0-9a-f]{64}\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar$/m);
  const m = JSON.parse((await curl(B, [...basic, `${AGENT}/v2/reg/dup/manifests/1`])).body) as { layers: { digest: string; size: number }[] };
  assert.equal(m.layers.map((l) => l.digest), layers);
  assert.is(m.layers[1]!.size, m.layers[2]!.size);
  const pulled = await run(B, ['docker', 'pull', `${REG}/reg/dup:1`]);
  assert.is(pulled.code, 0, pulled.stderr);
  assert.is((await sh(B, `docker run --rm ${REG}/reg/dup:1 cat /f`)).trim(), 'same');
});

test('the blobs are the bytes the manifest promises: layers uncompressed, digest = diff id; HEAD has the GET length', async () => {
  const m = await curl(B, [...basic, `${AGENT}/v2/reg/app/manifests/1`]);
  assert.is(m.status, 200);
  const manifest = JSON.parse(m.body) as { config: { digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
  assert.equal(manifest.layers.map((l) => l.digest), JSON.parse(await sh(A, "docker image inspect reg/app:1 --format '{{json .RootFS.Layers}}'")));
  for (const layer of manifest.layers) {
    assert.is(layer.mediaType, 'application/vnd.docker.image.rootfs.diff.tar');
    const url = `${AGENT}/v2/reg/app/blobs/${layer.digest}`;
    const h = await curl(B, [...basic, '-I', url]);
    assert.is(h.status, 200);
    assert.is(h.headers['content-length'], String(layer.size));
    assert.is(h.headers['docker-content-digest'], layer.digest);
    assert.is(await sha256(B, `curl -sf ${basic.join(' ')} ${url}`), layer.digest);
  }
  assert.is(await sha256(B, `curl -sf ${basic.join(' ')} ${AGENT}/v2/reg/app/blobs/${manifest.config.digest}`), manifest.config.digest);
  // By digest: the same bytes.
  const byDigest = await curl(B, [...basic, `${AGENT}/v2/reg/app/manifests/${m.headers['docker-content-digest']}`]);
  assert.is(byDigest.status, 200);
  assert.is(byDigest.body, m.body);
});

test('authentication on /v2/: 401 with a Basic challenge; the token as a Basic password or a bearer; other routes keep the bearer only', async () => {
  const none = await curl(B, [...tls, `${AGENT}/v2/`]);
  assert.is(none.status, 401);
  assert.is(none.headers['www-authenticate'], 'Basic realm="gear"');
  assert.is(none.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.is(JSON.parse(none.body).errors[0].code, 'UNAUTHORIZED');
  assert.is((await curl(B, [...tls, '-u', 'gear:wrong-token-0123456789abcdef', `${AGENT}/v2/`])).status, 401);
  assert.is((await curl(B, [...tls, '-u', TOKEN, `${AGENT}/v2/`])).status, 401, 'no password: no token');
  assert.is((await curl(B, [...basic, `${AGENT}/v2/`])).status, 200);
  assert.is((await curl(B, [...tls, '-H', `Authorization: Bearer ${TOKEN}`, `${AGENT}/v2/`])).status, 200);
  assert.is((await curl(B, [...tls, '-u', `anyone:${TOKEN}`, `${AGENT}/v2/reg/app/tags/list`])).status, 200);
  // The Basic form opens /v2/ only.
  assert.is((await curl(B, [...basic, `${AGENT}/containers`])).status, 401);
  assert.is((await curl(B, [...tls, '-H', `Authorization: Bearer ${TOKEN}`, `${AGENT}/containers`])).status, 200);
  // The unix socket needs no token, as for every route.
  assert.is((await curl(A, ['--unix-socket', '/run/gear/gear.sock', 'http://agent/v2/reg/app/tags/list'])).status, 200);
});

test('bad input: path tricks, bad names and digests, unknown images, writes: 4xx with the registry error codes', async () => {
  const get = async (path: string, method = 'GET') => {
    const r = await curl(B, [...basic, '--path-as-is', '-X', method, `${AGENT}${path}`]);
    return { status: r.status, code: r.body ? (JSON.parse(r.body) as { errors: { code: string }[] }).errors[0]!.code : '' };
  };
  const zero = `sha256:${'0'.repeat(64)}`;
  const cases: [string, number, string][] = [
    ['/v2/../etc/passwd/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/reg/../../etc/manifests/latest', 400, 'NAME_INVALID'],
    // Basic opens /v2/ only: a dot segment does not lead it to another route.
    ['/v2/../containers', 404, 'UNSUPPORTED'],
    ['/v2/%2e%2e/containers', 404, 'UNSUPPORTED'],
    ['/v2/reg/%2e%2e/app/manifests/1', 400, 'NAME_INVALID'],
    ['/v2//etc/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/Reg/App/manifests/1', 400, 'NAME_INVALID'],
    ['/v2/reg/app/manifests/..', 400, 'TAG_INVALID'],
    ['/v2/reg/app/manifests/sha256:zz', 400, 'DIGEST_INVALID'],
    ['/v2/reg/app/blobs/sha256:../../etc/passwd', 404, 'UNSUPPORTED'],
    ['/v2/reg/app/blobs/sha256:zz', 400, 'DIGEST_INVALID'],
    [`/v2/reg/app/blobs/md5:${'0'.repeat(32)}`, 400, 'DIGEST_INVALID'],
    ['/v2/reg/app/manifests/nope', 404, 'MANIFEST_UNKNOWN'],
    ['/v2/reg/nope/manifests/1', 404, 'MANIFEST_UNKNOWN'],
    [`/v2/reg/app/manifests/${zero}`, 404, 'MANIFEST_UNKNOWN'],
    [`/v2/reg/app/blobs/${zero}`, 404, 'BLOB_UNKNOWN'],
    ['/v2/reg/nope/tags/list', 404, 'NAME_UNKNOWN'],
  ];
  for (const [path, status, code] of cases) assert.equal(await get(path), { status, code }, path);
  // A blob of another repository is not served under this one.
  const baseConfig = (await sh(A, "docker image inspect test/web --format '{{.Id}}'")).trim();
  assert.equal(await get(`/v2/reg/app/blobs/${baseConfig}`), { status: 404, code: 'BLOB_UNKNOWN' });
  // Read-only: a push is refused.
  assert.equal(await get('/v2/reg/app/blobs/uploads/', 'POST'), { status: 405, code: 'UNSUPPORTED' });
  assert.equal(await get('/v2/reg/app/manifests/1', 'DELETE'), { status: 405, code: 'UNSUPPORTED' });
});

test('conformance: the same image pushed to Debian docker-registry in host A answers the pull side alike', async () => {
  await sh(A, `cat > /root/registry.yml <<'EOF'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/ref-registry
http:
  addr: 127.0.0.1:5000
EOF
systemctl stop ref-registry 2>/dev/null; rm -rf /var/lib/ref-registry; systemd-run --unit=ref-registry --collect -p Restart=no /usr/bin/docker-registry serve /root/registry.yml >/dev/null`);
  const ready = async () => (await curl(A, [`${REF}/v2/`])).status === 200;
  // As long as the registry takes to start (seconds at high load; ten tries of a tenth were too few).
  assert.ok(await eventually(ready, 120_000, 200), 'the reference registry answers');
  for (const tag of ['1', '2']) await sh(A, `docker tag reg/app:${tag} localhost:5000/reg/app:${tag} && docker push -q localhost:5000/reg/app:${tag} >/dev/null && docker rmi localhost:5000/reg/app:${tag} >/dev/null`);

  const ask = (base: string, args: string[], path: string) => curl(A, [...(base === AGENT ? basic : []), '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', ...args, `${base}${path}`]);
  const both = async (args: string[], path: string | ((base: string) => string)) => {
    const [ours, ref] = await Promise.all([AGENT, REF].map((base) => ask(base, args, typeof path === 'string' ? path : path(base))));
    return { ours: ours!, ref: ref! };
  };
  const HEADERS = ['content-type', 'docker-content-digest', 'docker-distribution-api-version', 'etag'];
  const alike = (what: string, r: { ours: Awaited<ReturnType<typeof curl>>; ref: Awaited<ReturnType<typeof curl>> }) => {
    assert.is(r.ours.status, r.ref.status, `${what}: status`);
    for (const h of HEADERS) assert.is(h in r.ours.headers, h in r.ref.headers, `${what}: header ${h} present in one answer only`);
    assert.is(r.ours.headers['content-type'], r.ref.headers['content-type'], `${what}: content-type`);
    assert.is(r.ours.headers['docker-distribution-api-version'], r.ref.headers['docker-distribution-api-version'], `${what}: api version`);
    if (r.ref.status >= 400 && r.ref.body) assert.is(JSON.parse(r.ours.body).errors[0].code, JSON.parse(r.ref.body).errors[0].code, `${what}: error code`);
  };

  alike('GET /v2/', await both([], '/v2/'));
  const get = await both([], '/v2/reg/app/manifests/1');
  alike('GET manifest by tag', get);
  const head = await both(['-I'], '/v2/reg/app/manifests/1');
  alike('HEAD manifest by tag', head);
  type Manifest = { schemaVersion: number; mediaType: string; config: { mediaType: string; size: number; digest: string }; layers: { digest: string; size: number }[] };
  const ours = JSON.parse(get.ours.body) as Manifest;
  const ref = JSON.parse(get.ref.body) as Manifest;
  for (const side of ['ours', 'ref'] as const) {
    const r = get[side];
    // The digest is the sha256 of the body; HEAD answers with the GET's digest and length.
    assert.is(await sha256(A, `printf '%s' '${r.body}'`), r.headers['docker-content-digest'], side);
    assert.is(r.headers['content-length'], String(Buffer.byteLength(r.body)), side);
    assert.is(head[side].headers['docker-content-digest'], r.headers['docker-content-digest'], side);
    assert.is(head[side].headers['content-length'], r.headers['content-length'], side);
    assert.is(head[side].body, '', side);
  }
  // Same structure and the same config; the reference keeps Docker's gzip-compressed layers, gear the uncompressed ones: each reference layer, gunzipped, is gear's.
  assert.is(ours.schemaVersion, ref.schemaVersion);
  assert.is(ours.mediaType, ref.mediaType);
  assert.equal(ours.config, ref.config);
  assert.is(ours.layers.length, ref.layers.length);
  for (const [i, layer] of ref.layers.entries()) {
    const bytes = (await sh(A, `curl -sf ${REF}/v2/reg/app/blobs/${layer.digest} | gunzip | wc -c`)).trim();
    assert.is(await sha256(A, `curl -sf ${REF}/v2/reg/app/blobs/${layer.digest} | gunzip`), ours.layers[i]!.digest, `layer ${i + 1}`);
    assert.is(Number(bytes), ours.layers[i]!.size, `layer ${i + 1} size`);
  }

  alike('GET manifest by digest', await both([], (base) => `/v2/reg/app/manifests/${(base === AGENT ? get.ours : get.ref).headers['docker-content-digest']}`));
  const config = await both([], `/v2/reg/app/blobs/${ours.config.digest}`);
  alike('GET config blob', config);
  assert.is(config.ours.body, config.ref.body, 'the same config bytes');
  alike('HEAD config blob', await both(['-I'], `/v2/reg/app/blobs/${ours.config.digest}`));
  alike('HEAD layer blob', await both(['-I'], (base) => `/v2/reg/app/blobs/${(base === AGENT ? ours : ref).layers[0]!.digest}`));
  const tags = await both([], '/v2/reg/app/tags/list');
  alike('GET tags/list', tags);
  // The same tags; gear lists them in lexical order, as the OCI spec asks (the reference lists them as its storage does).
  const tagsOf = (body: string) => ({ ...JSON.parse(body), tags: (JSON.parse(body) as { tags: string[] }).tags.sort() });
  assert.equal(tagsOf(tags.ours.body), tagsOf(tags.ref.body));
  assert.equal(JSON.parse(tags.ours.body).tags, ['1', '2']);
  const zero = `sha256:${'0'.repeat(64)}`;
  for (const path of ['/v2/reg/app/manifests/nope', '/v2/reg/nope/manifests/1', `/v2/reg/app/blobs/${zero}`, '/v2/reg/app/blobs/sha256:zz', '/v2/reg/nope/tags/list'])
    alike(`GET ${path}`, await both([], path));
});

test('an agent that reads images through docker save (GEAR_IMAGE_EXPORT=docker-save) serves the same manifest, and B pulls and runs the image', async () => {
  await build('reg/saved:1', 'reg/base:1', ['echo saved > /saved.txt', 'echo twice > /saved2.txt']);
  const manifestDigest = async () => (await curl(B, [...basic, '-I', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', `${AGENT}/v2/reg/saved/manifests/1`])).headers['docker-content-digest'];
  const fromStore = await manifestDigest();
  assert.match(fromStore ?? '', /^sha256:[0-9a-f]{64}$/);
  await startAgent(A, agents.agentArgs, { GEAR_IMAGE_EXPORT: 'docker-save' });
  try {
    const since = Number((await sh(A, 'date +%s')).trim()) - 1;
    assert.is(await manifestDigest(), fromStore, 'the same manifest, described from docker save');
    const pulled = await run(B, ['docker', 'pull', `${REG}/reg/saved:1`]);
    assert.is(pulled.code, 0, pulled.stderr);
    assert.is((await sh(B, `docker run --rm ${REG}/reg/saved:1 cat /saved.txt /saved2.txt`)).trim(), 'saved\ntwice');
    const saves = await sh(A, `docker events --since ${since} --until $(($(date +%s) + 1)) --filter type=image --filter event=save --format '{{.Action}}'`);
    assert.ok(saves.trim().split('\n').length >= 2, `docker save described the image and gave its blobs: ${saves}`);
  } finally {
    await startAgent(A, agents.agentArgs);
  }
});

test.run();
