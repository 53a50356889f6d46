import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import inject from 'light-my-request';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { buildServer } from '../../src/api/server.js';
import { fakeHost } from '../fixtures/fake-host.js';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowedNames, refusal, tagRequest, type ListenerPolicy } from '../../src/api/guard.js';
import { describeSave } from '../../src/host/registry-source.js';
import { MEDIA, RegistryError, isV2Path, manifestForm, manifestOf, parseV2Path, registryToken, type ImageDescription } from '../../src/model/registry.js';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D = `sha256:${'a'.repeat(64)}`;

const codeOf = (path: string) => {
  try {
    parseV2Path(path);
    return 'ok';
  } catch (err) {
    return `${(err as RegistryError).status} ${(err as RegistryError).code}`;
  }
};

test('v2 paths: base, manifests by tag and digest, blobs, tags/list', () => {
  assert.equal(parseV2Path('/v2/'), { kind: 'base' });
  assert.equal(parseV2Path('/v2'), { kind: 'base' });
  assert.equal(parseV2Path('/v2/test/web/manifests/latest'), { kind: 'manifest', name: 'test/web', ref: { tag: 'latest' } });
  assert.equal(parseV2Path(`/v2/a.b/c_d/e--f/manifests/${D}`), { kind: 'manifest', name: 'a.b/c_d/e--f', ref: { digest: D } });
  assert.equal(parseV2Path(`/v2/web/blobs/${D}`), { kind: 'blob', name: 'web', digest: D });
  assert.equal(parseV2Path('/v2/test/web/tags/list'), { kind: 'tags', name: 'test/web' });
  // A repository may be called "manifests" or "blobs".
  assert.equal(parseV2Path('/v2/blobs/manifests/1'), { kind: 'manifest', name: 'blobs', ref: { tag: '1' } });
});

test('v2 paths: names with path tricks, bad tags and digests are 4xx before anything is looked up', () => {
  for (const p of ['/v2/../etc/manifests/x', '/v2/a/../b/manifests/x', '/v2/a/./b/manifests/x', '/v2//a/manifests/x', '/v2/a//b/manifests/x', '/v2/%2e%2e/manifests/x', '/v2/a%2fb/manifests/x', '/v2/A/manifests/x', '/v2/-a/manifests/x', '/v2/a-/manifests/x', '/v2/a___b/manifests/x', `/v2/${'a'.repeat(256)}/manifests/x`, '/v2/a b/manifests/x', '/v2/a\u0000/manifests/x'])
    assert.is(codeOf(p), '400 NAME_INVALID', p);
  for (const p of ['/v2/a/manifests/..', '/v2/a/manifests/.x', `/v2/a/manifests/${'x'.repeat(129)}`, '/v2/a/manifests/%2e']) assert.is(codeOf(p), '400 TAG_INVALID', p);
  for (const p of ['/v2/a/manifests/sha256:zz', `/v2/a/manifests/sha512:${'a'.repeat(128)}`, `/v2/a/blobs/${D.toUpperCase()}`, '/v2/a/blobs/latest', `/v2/a/blobs/${D}0`]) assert.is(codeOf(p), '400 DIGEST_INVALID', p);
  for (const p of ['/v2/a', '/v2/a/manifests/', '/v2/a/blobs/sha256:../../x', '/v2/_catalog', '/v2/a/blobs/uploads/']) assert.is(codeOf(p), '404 UNSUPPORTED', p);
  assert.ok(isV2Path('/v2/'));
  assert.ok(isV2Path('/v2'));
  assert.ok(isV2Path('/v2?x'));
  assert.not.ok(isV2Path('/v2x/'));
  assert.not.ok(isV2Path('/containers'));
});

const image = (): ImageDescription => {
  const config = Buffer.from('{"rootfs":{"type":"layers","diff_ids":["' + D + '"]}}');
  return { id: sha(config), config, layers: [{ diffId: D, size: 2048 }, { diffId: `sha256:${'b'.repeat(64)}`, size: 10240 }] };
};

test('manifest: deterministic bytes, its digest is their sha256, the config and layers as described', () => {
  const a = manifestOf(image(), 'schema2');
  const b = manifestOf(image(), 'schema2');
  assert.ok(a.body.equals(b.body));
  assert.is(a.digest, sha(a.body));
  assert.is(a.mediaType, MEDIA.schema2);
  const m = JSON.parse(a.body.toString());
  assert.equal(Object.keys(m), ['schemaVersion', 'mediaType', 'config', 'layers']);
  assert.equal(m.config, { mediaType: MEDIA.schema2Config, size: image().config.length, digest: image().id });
  assert.equal(m.layers, [
    { mediaType: MEDIA.schema2Layer, size: 2048, digest: D },
    { mediaType: MEDIA.schema2Layer, size: 10240, digest: `sha256:${'b'.repeat(64)}` },
  ]);
  // The OCI form: the same content, other types, another digest.
  const oci = manifestOf(image(), 'oci');
  assert.is(oci.mediaType, MEDIA.oci);
  assert.is.not(oci.digest, a.digest);
  assert.equal(JSON.parse(oci.body.toString()).layers[0], { mediaType: MEDIA.ociLayer, size: 2048, digest: D });
  // Another layer size is another manifest.
  const other = image();
  other.layers[1]!.size++;
  assert.is.not(manifestOf(other, 'schema2').digest, a.digest);
});

test('manifest form from Accept', () => {
  assert.is(manifestForm(undefined), 'schema2');
  assert.is(manifestForm('*/*'), 'schema2');
  assert.is(manifestForm(`${MEDIA.oci}, ${MEDIA.schema2}`), 'schema2');
  assert.is(manifestForm([MEDIA.oci, 'application/vnd.oci.image.index.v1+json']), 'oci');
  assert.is(manifestForm(`${MEDIA.oci};q=0.5`), 'oci');
});

test('the token of an Authorization header on /v2/: bearer, or Basic password', () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  assert.is(registryToken('Bearer tok-tok-tok'), 'tok-tok-tok');
  assert.is(registryToken(basic('gear:tok:with:colons')), 'tok:with:colons');
  assert.is(registryToken(basic(':tok')), 'tok');
  assert.is(registryToken(basic('tok')), undefined, 'no colon: no password');
  assert.is(registryToken('basic ' + Buffer.from('u:p').toString('base64')), 'p');
  for (const bad of [undefined, '', 'Basic', 'Basic !!!', 'Digest x', 'Bearer a b', 'Basic a=b=c']) assert.is(registryToken(bad), undefined, String(bad));
});

const TOKEN = 'secret-secret-secret';
const tcp: ListenerPolicy = { kind: 'tcp', token: TOKEN, scheme: 'https' };
const names = allowedNames([]);
const guard = (url: string, authorization: string | undefined, policy: ListenerPolicy = tcp) => {
  const r = { method: 'GET', url, headers: { host: '10.0.0.1:43273', ...(authorization ? { authorization } : {}) } } as unknown as IncomingMessage;
  tagRequest(r, policy);
  return refusal(r, names);
};

test('guard: /v2/ takes the token as a Basic password or a bearer; 401 names Basic and the registry API; other routes keep the bearer only', () => {
  const basic = (p: string) => `Basic ${Buffer.from(`gear:${p}`).toString('base64')}`;
  assert.is(guard('/v2/', basic(TOKEN)), undefined);
  assert.is(guard('/v2/a/manifests/1', `Bearer ${TOKEN}`), undefined);
  const no = guard('/v2/', undefined)!;
  assert.is(no.status, 401);
  assert.equal(no.headers, { 'www-authenticate': 'Basic realm="gear"', 'docker-distribution-api-version': 'registry/2.0' });
  assert.is(guard('/v2/', basic('secret-secret-secreT'))?.status, 401);
  assert.is(guard('/v2/', basic(''))?.status, 401);
  assert.is(guard('/containers', basic(TOKEN))?.status, 401);
  assert.is(guard('/v2x/', basic(TOKEN))?.status, 401);
  assert.is(guard('/containers', `Bearer ${TOKEN}`), undefined);
  assert.is(guard('/v2/', undefined, { kind: 'unix' }), undefined);
  // The other checks hold on /v2/ too.
  const r = { method: 'GET', url: '/v2/', headers: { host: 'evil.example', authorization: basic(TOKEN) } } as unknown as IncomingMessage;
  tagRequest(r, tcp);
  assert.is(refusal(r, names)?.status, 403);
});

// (inject resolves dot segments itself, as a browser would; the raw paths are sent by curl --path-as-is in tests/integration/registry.test.ts.)
test('over TCP, Basic on a /v2/ path with dot segments or encodings reaches no other route; 401s are in the registry form', async () => {
  const h = fakeHost();
  const app = await buildServer({ host: h.host, jobs: new JobQueue(4, 4), requests: new RequestLog(h.host.fs, '/var/lib/gear/requests') });
  const dispatch = (req: IncomingMessage, res: ServerResponse) => {
    tagRequest(req, tcp);
    app.routing(req, res);
  };
  const basic = `Basic ${Buffer.from(`gear:${TOKEN}`).toString('base64')}`;
  const call = (url: string, authorization?: string) => inject(dispatch, { method: 'GET', url, headers: { host: '10.0.0.1:43273', ...(authorization ? { authorization } : {}) } });
  for (const url of ['/v2/../containers', '/v2/%2e%2e/containers', '/v2/..%2fcontainers', '/v2/x/../../containers']) {
    const r = await call(url, basic);
    assert.ok(r.statusCode === 401 || r.statusCode === 404, `${url}: ${r.statusCode} ${r.body}`);
  }
  const denied = await call('/v2/');
  assert.is(denied.statusCode, 401);
  assert.is(denied.headers['www-authenticate'], 'Basic realm="gear"');
  assert.is(denied.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.equal(JSON.parse(denied.body).errors[0].code, 'UNAUTHORIZED');
  assert.is((await call('/v2/', basic)).statusCode, 200);
  assert.is((await call('/containers', basic)).statusCode, 401);
  const write = await inject(dispatch, { method: 'PUT', url: '/v2/a/manifests/1', headers: { host: '10.0.0.1:43273', authorization: basic } });
  assert.is(write.statusCode, 405);
  assert.is(JSON.parse(write.body).errors[0].code, 'UNSUPPORTED');
});

/** A docker save of Docker 20.10's layout: layer dirs, the config, manifest.json; the second layer a link to the first (same diff id). */
async function saveArchive(): Promise<{ stream: Readable; id: string; sizes: number[] }> {
  const l1 = Buffer.alloc(3072, 1);
  const l2 = Buffer.alloc(1536, 2);
  const d1 = sha(l1);
  const d2 = sha(l2);
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [d1, d2, d1] } }));
  const id = sha(config);
  const [a, b, c] = ['1', '2', '3'].map((x) => x.repeat(64));
  const p = pack();
  for (const [dir, body] of [[a, l1], [b, l2]] as const) {
    p.entry({ name: `${dir}/`, type: 'directory' });
    p.entry({ name: `${dir}/json`, size: 2 }, '{}');
    p.entry({ name: `${dir}/layer.tar`, size: body.length }, body);
  }
  p.entry({ name: `${c}/`, type: 'directory' });
  p.entry({ name: `${c}/layer.tar`, type: 'symlink', linkname: `../${a}/layer.tar` });
  p.entry({ name: `${id.slice(7)}.json`, size: config.length }, config);
  const manifest = JSON.stringify([{ Config: `${id.slice(7)}.json`, RepoTags: ['x:1'], Layers: [a, b, c].map((d) => `${d}/layer.tar`) }]);
  p.entry({ name: 'manifest.json', size: manifest.length }, manifest);
  p.finalize();
  return { stream: Readable.from(p as AsyncIterable<Buffer>), id, sizes: [l1.length, l2.length, l1.length] };
}

test('describing a docker save: config, each layer size by diff id (a linked layer.tar has the first one\'s), same manifest every time', async () => {
  const one = await saveArchive();
  const d = await describeSave(one.stream, one.id);
  assert.is(d.id, one.id);
  assert.equal(d.layers.map((l) => l.size), one.sizes);
  assert.is(d.dirs.length, 3);
  const two = await saveArchive();
  assert.is(manifestOf(await describeSave(two.stream, two.id), 'schema2').digest, manifestOf(d, 'schema2').digest);
  // Another image id than the archive's: refused.
  const three = await saveArchive();
  await describeSave(three.stream, D).then(
    () => assert.unreachable(),
    (err: Error) => assert.match(err.message, /no config with that digest/),
  );
});

test.run();
