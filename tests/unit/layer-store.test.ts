import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostFs } from '../../src/host/fs.js';
import { archiveFromStore, verifyForLoad } from '../../src/host/image-stream.js';
import { LayerStore } from '../../src/host/layer-store.js';
import { chainIds } from '../../src/model/image-archive.js';
import { TarSplitError, layerPath, parseTarSplitLine } from '../../src/model/tar-split.js';
import { encodeHeader, padded } from '../../src/model/tar-header.js';

// Docker's layer store read directly (host/layer-store.ts): a store laid
// out as Docker 20.10's overlay2 keeps it, in a temp dir.

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

test('tar-split names: paths below the layer; .. and NUL refused', () => {
  const p = (s: string) => layerPath(Buffer.from(s)).toString();
  assert.is(p('etc/passwd'), 'etc/passwd');
  assert.is(p('./usr//bin/./sh'), 'usr/bin/sh');
  assert.is(p('/abs/olute'), 'abs/olute');
  assert.is(p('a..b/..c'), 'a..b/..c');
  for (const bad of ['../etc/passwd', 'usr/../../x', 'a/..', '', '/', './', 'a\0b']) assert.throws(() => layerPath(Buffer.from(bad)), (e: unknown) => e instanceof TarSplitError, bad);
});

test('tar-split lines: segments as bytes, files by path and size, raw names; anything else refused', () => {
  assert.equal(parseTarSplitLine('{"type":2,"payload":"aGVsbG8=","position":0}'), { kind: 'bytes', bytes: Buffer.from('hello') });
  assert.equal(parseTarSplitLine('{"type":1,"name":"./a/b","size":5,"payload":"x","position":1}'), { kind: 'file', path: Buffer.from('a/b'), size: 5 });
  assert.equal(parseTarSplitLine('{"type":1,"name":"dir/","size":0,"position":2}'), { kind: 'bytes', bytes: Buffer.alloc(0) });
  const raw = Buffer.from([0x66, 0xff, 0x2f, 0x67]); // "f\xff/g": not UTF-8
  assert.equal(parseTarSplitLine(JSON.stringify({ type: 1, name_raw: raw.toString('base64'), size: 1 })), { kind: 'file', path: raw, size: 1 });
  assert.is(parseTarSplitLine('  '), undefined);
  for (const bad of ['{', '{"type":3}', '{"type":2}', '{"type":1,"size":-1,"name":"a"}', '{"type":1,"size":1.5,"name":"a"}', '{"type":1,"size":4}', '{"type":1,"size":4,"name":"../x"}'])
    assert.throws(() => parseTarSplitLine(bad), (e: unknown) => e instanceof TarSplitError, bad);
});

type File = { name: string; content?: string; type?: 'directory' | 'symlink'; linkname?: string };

/** A layer as Docker keeps it: its tar (what its diff id hashes), the tar-split record, and the files. */
function layerOf(files: File[]) {
  const tar: Buffer[] = [];
  const record: object[] = [];
  let pending: Buffer[] = [];
  const segment = () => {
    if (pending.length) record.push({ type: 2, payload: Buffer.concat(pending).toString('base64') });
    pending = [];
  };
  for (const f of files) {
    const body = Buffer.from(f.content ?? '');
    const head = encodeHeader({ name: f.name, type: f.type ?? 'file', size: body.length, linkname: f.linkname, mode: 0o644, mtime: 1 });
    tar.push(head, body, Buffer.alloc(padded(body.length) - body.length));
    pending.push(head);
    segment();
    record.push({ type: 1, name: f.name, size: body.length });
    pending.push(Buffer.alloc(padded(body.length) - body.length));
  }
  pending.push(Buffer.alloc(1024));
  segment();
  const bytes = Buffer.concat(tar.concat(Buffer.alloc(1024)));
  return { bytes, diffId: `sha256:${sha(bytes)}`, record: gzipSync(record.map((r) => JSON.stringify(r)).join('\n')), files };
}

/** A Docker root in a temp dir holding an image of these layers; the store on it. */
async function storeWith(layers: ReturnType<typeof layerOf>[]) {
  const root = mkdtempSync(join(tmpdir(), 'gear-layer-store-'));
  const docker = join(root, 'var/lib/docker');
  const chains = chainIds(layers.map((l) => l.diffId));
  layers.forEach((l, i) => {
    const cache = sha(`cache ${i}`);
    const db = join(docker, 'image/overlay2/layerdb/sha256', chains[i]!.slice(7));
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, 'cache-id'), cache);
    writeFileSync(join(db, 'tar-split.json.gz'), l.record);
    const diff = join(docker, 'overlay2', cache, 'diff');
    mkdirSync(diff, { recursive: true });
    for (const f of l.files) {
      if (f.type === 'directory') mkdirSync(join(diff, f.name), { recursive: true });
      else if (f.type === 'symlink') symlinkSync(f.linkname!, join(diff, f.name));
      else writeFileSync(join(diff, f.name), f.content ?? '');
    }
  });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const id = `sha256:${sha(config)}`;
  mkdirSync(join(docker, 'image/overlay2/imagedb/content/sha256'), { recursive: true });
  writeFileSync(join(docker, 'image/overlay2/imagedb/content/sha256', id.slice(7)), config);
  const store = await LayerStore.open(new HostFs(root), { driver: 'overlay2', rootDir: '/var/lib/docker' });
  return { root, docker, store: store!, chains, config, id, diffIds: layers.map((l) => l.diffId) };
}

/** The error `p` rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, `resolved, expected a rejection matching ${pattern}`);
  assert.match(err!.message, pattern);
}

async function bytesOf(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return Buffer.concat(out);
}

test('a layer is rebuilt byte for byte from its record and its files (its diff id holds); the config only when it hashes to the id', async () => {
  const big = 'x'.repeat(600_000); // more than one read piece
  const l = layerOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/big', content: big }, { name: 'etc/link', type: 'symlink', linkname: 'big' }, { name: 'empty' }, { name: 'etc/small', content: 'small\n' }]);
  const s = await storeWith([l]);
  try {
    const layer = (await s.store.layer(s.chains[0]!))!;
    assert.is(layer.size, l.bytes.length);
    const got = await bytesOf(layer.read());
    assert.ok(got.equals(l.bytes));
    assert.is(`sha256:${sha(got)}`, l.diffId);
    assert.ok((await s.store.config(s.id))!.equals(s.config));
    writeFileSync(join(s.docker, 'image/overlay2/imagedb/content/sha256', s.id.slice(7)), '{"changed":1}');
    assert.is(await s.store.config(s.id), undefined, 'a config that does not hash to its id is not taken');
    assert.is(await s.store.layer(`sha256:${'0'.repeat(64)}`), undefined, 'a layer not in the store');
    assert.is(await LayerStore.open(new HostFs(s.root), { driver: 'btrfs', rootDir: '/var/lib/docker' }), undefined, 'another driver');
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('a store that changed under its record: a file of another size, or one whose path leads out of its layer, fails the read', async () => {
  const l = layerOf([{ name: 'a', content: 'abc' }, { name: 'sub/', type: 'directory' }, { name: 'sub/b', content: 'defg' }]);
  const s = await storeWith([l]);
  try {
    const diff = join(s.docker, 'overlay2', sha('cache 0'), 'diff');
    writeFileSync(join(diff, 'a'), 'abcd');
    await rejection(bytesOf((await s.store.layer(s.chains[0]!))!.read()), /layer store: a is not the 3-byte file its layer's record names/);
    writeFileSync(join(diff, 'a'), 'abc');
    rmSync(join(diff, 'sub'), { recursive: true });
    writeFileSync(join(s.root, 'b'), 'defg');
    symlinkSync(s.root, join(diff, 'sub')); // sub/b is now the root's own file
    await rejection(bytesOf((await s.store.layer(s.chains[0]!))!.read()), /layer store: sub\/b lies outside its layer/);
    writeFileSync(join(s.docker, 'image/overlay2/layerdb/sha256', s.chains[0]!.slice(7), 'tar-split.json.gz'), 'not gzip');
    assert.is(await s.store.layer(s.chains[0]!), undefined, 'a record that cannot be read: docker save instead');
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('archive from the store: only the layers the receiver lacks, a repeated layer once and then as a link; the receiver checks and takes it', async () => {
  const base = layerOf([{ name: 'base', content: 'base' }]);
  const mid = layerOf([{ name: 'mid', content: 'mid' }]);
  const top = layerOf([{ name: 'top', content: 'top' }]);
  const s = await storeWith([base, mid, base, top]);
  const send = async (have: Set<string>) => {
    const events: string[] = [];
    const layers = await Promise.all(s.chains.map((c) => s.store.layer(c)));
    const { archive, report } = archiveFromStore({ diffIds: s.diffIds, config: s.config, layers }, have, (e) => events.push(`${e.index}:${e.sent}`));
    const received = verifyForLoad(archive, { tag: 'multi:1', id: s.id, have });
    const loaded: Buffer[] = [];
    for await (const b of received.archive) loaded.push(b as Buffer);
    return { sent: await report, checked: await received.report, events, text: Buffer.concat(loaded).toString('latin1') };
  };
  const link = `../${s.chains[0]!.slice(7)}/layer.tar`;
  try {
    const all = await send(new Set());
    assert.equal(all.checked.layers.map((l) => l.received), [true, true, true, true]);
    assert.equal(all.sent, { layers: 4, sent: 3, skipped: 0, bytes: base.bytes.length + mid.bytes.length + top.bytes.length });
    assert.is(all.checked.bytes, all.sent.bytes, 'the second base is a link: its bytes came once');
    assert.ok(all.text.includes(link), 'the second base links to the first');
    assert.equal(all.events, ['0:true', '1:true', '3:true']);
    const some = await send(new Set([s.chains[0]!]));
    assert.equal(some.checked.layers.map((l) => l.received), [false, true, true, true]);
    assert.equal(some.sent, { layers: 4, sent: 3, skipped: 1, bytes: base.bytes.length + mid.bytes.length + top.bytes.length });
    assert.not.ok(some.text.includes(link), 'the base travels at its first place the receiver lacks');
    assert.equal(some.events, ['0:false', '1:true', '2:true', '3:true']);
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('archive from the store: a layer the store cannot give fails the archive and its report', async () => {
  const s = await storeWith([layerOf([{ name: 'a', content: 'abc' }])]);
  try {
    const { archive, report } = archiveFromStore({ diffIds: s.diffIds, config: s.config, layers: [undefined] }, new Set());
    await rejection(Readable.from(archive).toArray(), /layer 1 .* is not in the layer store/);
    await rejection(report, /not in the layer store/);
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});

test.run();
