import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { filterForReceiver, verifyForLoad } from '../../src/host/image-stream.js';
import { GearError } from '../../src/model/errors.js';
import { refusedWith as rejects } from '../fixtures/refused.js';
import { chainIds, chainOfLayerJson, classifyEntry, transferImage } from '../../src/model/image-archive.js';
import { transfer, type ImagePeer } from '../../src/operations/images.js';

const hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');


// --- Real Docker 20.10 output (docker save of a 4-layer image built in a test host) ---
const REAL_DIFF_IDS = [
  'sha256:d7957e440faed7502e761d44b46f9cd6bb91b74350ece4ff347345b0005e031f',
  'sha256:400f76ddb325389f8fa4aa12a05031d2fcf341805ececf53ad0d2fb9a68e0e60',
  'sha256:27f71b00b69ac0fc1bfee0190f2c1ee2c8f81354d4c68a24bda718a16fd82a20',
  'sha256:20c5dee8ad3877504d510e5344d94133dc4d7a0a0382fd0efa028bf5dd45f38d',
];
const CONTAINER_CONFIG = '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';
const REAL_LOWER = {
  dir: '1010147540509d254dc69da696ac30cfc6d463126aeba04e64edd0c0841a16a1',
  json: `{"id":"1010147540509d254dc69da696ac30cfc6d463126aeba04e64edd0c0841a16a1","created":"1970-01-01T00:00:00Z","container_config":${CONTAINER_CONFIG},"os":"linux"}`,
};
const REAL_SECOND = {
  dir: 'fa7d760000c7e31f4d41956793d17c7d36a7b87bbb3ddf189be9e0355169d780',
  json: `{"id":"fa7d760000c7e31f4d41956793d17c7d36a7b87bbb3ddf189be9e0355169d780","parent":"1010147540509d254dc69da696ac30cfc6d463126aeba04e64edd0c0841a16a1","created":"1970-01-01T00:00:00Z","container_config":${CONTAINER_CONFIG},"os":"linux"}`,
};

test('chain IDs: the first is the diff id, each next the sha256 of "parent diff"', () => {
  const chains = chainIds(REAL_DIFF_IDS);
  assert.is(chains[0], REAL_DIFF_IDS[0]);
  assert.is(chains[1], `sha256:${hex(`${REAL_DIFF_IDS[0]} ${REAL_DIFF_IDS[1]}`)}`);
  assert.is(chains[2], `sha256:${hex(`${chains[1]} ${REAL_DIFF_IDS[2]}`)}`);
});

test("a layer directory's json tells its chain ID (Docker 20.10's own output)", () => {
  const chains = chainIds(REAL_DIFF_IDS);
  assert.is(chainOfLayerJson(REAL_LOWER.dir, REAL_LOWER.json, chains), chains[0]);
  assert.is(chainOfLayerJson(REAL_SECOND.dir, REAL_SECOND.json, chains), chains[1]);
  // Another directory name, other chains or a broken json: not told (the layer is then sent).
  assert.is(chainOfLayerJson('0'.repeat(64), REAL_LOWER.json, chains), undefined);
  assert.is(chainOfLayerJson(REAL_LOWER.dir, REAL_LOWER.json, chainIds([REAL_DIFF_IDS[1]!])), undefined);
  assert.is(chainOfLayerJson(REAL_LOWER.dir, '{not json', chains), undefined);
});

test('archive entries: only the names of an image archive, as files or layer directories', () => {
  const d = 'a'.repeat(64);
  assert.equal(classifyEntry('manifest.json', 'file'), { kind: 'manifest' });
  assert.equal(classifyEntry(`${d}.json`, 'file'), { kind: 'config', hex: d });
  assert.equal(classifyEntry(`${d}/`, 'directory'), { kind: 'layer-dir', dir: d });
  assert.equal(classifyEntry(`${d}/layer.tar`, 'file'), { kind: 'layer-file', dir: d, file: 'layer.tar' });
  for (const name of ['../x', '/etc/passwd', `${d}/../../x`, `./manifest.json`, `${d}/layer.tar/../x`, `/${d}/layer.tar`, 'x', `${d.toUpperCase()}.json`, `${d}/other`])
    rejects(() => classifyEntry(name, 'file'), /image archive: entry .* is not/);
  rejects(() => classifyEntry(`${d}/layer.tar`, 'symlink'), /is a symlink/);
  rejects(() => classifyEntry(`${d}/layer.tar`, 'link'), /is a link/);
  rejects(() => classifyEntry('../x/', 'directory'), /is not a layer directory/);
});

test('transfer image names: a tag is added, digests and path tricks refused', () => {
  assert.is(transferImage('multi'), 'multi:latest');
  assert.is(transferImage('multi:1'), 'multi:1');
  assert.is(transferImage('localhost:5000/gear/app'), 'localhost:5000/gear/app:latest');
  assert.is(transferImage('localhost:5000/gear/app:2'), 'localhost:5000/gear/app:2');
  rejects(() => transferImage(`app@sha256:${'a'.repeat(64)}`), /not by digest/);
  for (const bad of ['../x', '/abs', 'a/../b', 'UPPER', 'a b', '', 'x;rm'] as const) rejects(() => transferImage(bad), /image/);
});

// --- Synthetic archives, made as Docker 20.10 makes them ---

interface Synthetic {
  layers: Buffer[];
  diffIds: string[];
  dirs: string[];
  config: string;
  id: string;
}

/** v1 ids as moby's CreateID computes them (lower layers: no os; the top one: os too). */
function synthetic(contents: string[]): Synthetic {
  const layers = contents.map((c) => Buffer.from(c.repeat(1000)));
  const diffIds = layers.map((l) => `sha256:${hex(l)}`);
  const chains = chainIds(diffIds);
  const dirs: string[] = [];
  chains.forEach((chain, i) => {
    const parent = dirs[i - 1];
    const fields: Record<string, unknown> = { container_config: JSON.parse(CONTAINER_CONFIG), created: '1970-01-01T00:00:00Z', layer_id: chain };
    if (parent) fields.parent = `sha256:${parent}`;
    if (i === chains.length - 1) fields.os = 'linux';
    dirs.push(hex(`{${Object.keys(fields).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(fields[k])}`).join(',')}}`));
  });
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/start'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
  return { layers, diffIds, dirs, config, id: `sha256:${hex(config)}` };
}

type Entry = { name: string; body?: Buffer | string; type?: 'file' | 'directory' | 'symlink'; linkname?: string };

/** Entries in docker save's order: layer directories (sorted), config, manifest.json, repositories. */
function dockerOrder(s: Synthetic, opts: { skip?: number[]; layerBody?: (i: number) => Buffer } = {}): Entry[] {
  // A layer already written (same diff id) is written again as a link to the first: docker save's way.
  const firstOf = (i: number) => s.diffIds.indexOf(s.diffIds[i]!);
  const entries: Entry[] = [];
  const order = s.dirs.map((d, i) => [d, i] as const).sort((a, b) => a[0].localeCompare(b[0]));
  for (const [dir, i] of order) {
    entries.push({ name: `${dir}/`, type: 'directory' });
    entries.push({ name: `${dir}/VERSION`, body: '1.0' });
    const json: Record<string, unknown> = { id: dir };
    if (i > 0) json.parent = s.dirs[i - 1];
    Object.assign(json, { created: '1970-01-01T00:00:00Z', container_config: JSON.parse(CONTAINER_CONFIG), os: 'linux' });
    entries.push({ name: `${dir}/json`, body: JSON.stringify(json) });
    if (opts.skip?.includes(i)) continue;
    if (firstOf(i) !== i) entries.push({ name: `${dir}/layer.tar`, type: 'symlink', linkname: `../${s.dirs[firstOf(i)]}/layer.tar` });
    else entries.push({ name: `${dir}/layer.tar`, body: opts.layerBody?.(i) ?? s.layers[i]! });
  }
  entries.push({ name: `${s.id.slice(7)}.json`, body: s.config });
  entries.push({ name: 'manifest.json', body: manifestOf(s) });
  entries.push({ name: 'repositories', body: '{"multi":{"1":"x"}}' });
  return entries;
}

const manifestOf = (s: Synthetic, tags = ['evil:latest']) => JSON.stringify([{ Config: `${s.id.slice(7)}.json`, RepoTags: tags, Layers: s.dirs.map((d) => `${d}/layer.tar`) }]);

function tarOf(entries: Entry[]): Readable {
  const p = pack();
  for (const e of entries) {
    if (e.type === 'directory') p.entry({ name: e.name, type: 'directory' });
    else if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '/etc/passwd' });
    else p.entry({ name: e.name }, typeof e.body === 'string' ? Buffer.from(e.body) : e.body!);
  }
  p.finalize();
  return Readable.from(p as AsyncIterable<Buffer>);
}

/** The entries of an archive stream, with their bodies; throws what the stream failed with. */
async function entriesOf(archive: Readable): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  archive.on('error', (err) => ex.destroy(err));
  archive.pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.set(entry.header.name, Buffer.concat(chunks));
  }
  return out;
}

/** Runs the receiving end over `entries`: its report, or the error, and what reached "docker load". */
async function receive(entries: Entry[], expect: { tag?: string; id?: string; have?: string[] } = {}) {
  const { archive, report } = verifyForLoad(tarOf(entries), { tag: expect.tag ?? 'multi:1', id: expect.id, have: new Set(expect.have ?? []) });
  const loaded = entriesOf(archive);
  const [r, l] = await Promise.allSettled([report, loaded]);
  return { report: r.status === 'fulfilled' ? r.value : undefined, error: r.status === 'rejected' ? (r.reason as Error) : undefined, loaded: l.status === 'fulfilled' ? l.value : undefined, loadError: l.status === 'rejected' ? l.reason : undefined };
}

test('sender: layer.tar of the layers the receiver has are left out, the rest passes unchanged', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  const chains = chainIds(s.diffIds);
  const events: { index?: number; sent: boolean }[] = [];
  const { archive, report } = filterForReceiver(tarOf(dockerOrder(s)), s.diffIds, new Set([chains[0]!, chains[1]!]), (e) => events.push({ index: e.index, sent: e.sent }));
  const out = await entriesOf(archive);
  const r = await report;
  assert.equal(r, { layers: 3, sent: 1, skipped: 2, bytes: s.layers[2]!.length });
  assert.not.ok(out.has(`${s.dirs[0]}/layer.tar`));
  assert.not.ok(out.has(`${s.dirs[1]}/layer.tar`));
  assert.equal(out.get(`${s.dirs[2]}/layer.tar`), s.layers[2]);
  assert.ok(out.has(`${s.dirs[0]}/json`) && out.has('manifest.json') && out.has(`${s.id.slice(7)}.json`));
  assert.equal(events.sort((a, b) => a.index! - b.index!), [{ index: 0, sent: false }, { index: 1, sent: false }, { index: 2, sent: true }]);
});

test('sender: a layer it cannot tell (no json before it) is sent', async () => {
  const s = synthetic(['base', 'top']);
  const entries = dockerOrder(s).filter((e) => !e.name.endsWith('/json'));
  const { archive, report } = filterForReceiver(tarOf(entries), s.diffIds, new Set(chainIds(s.diffIds)));
  const out = await entriesOf(archive);
  assert.is((await report).sent, 2);
  assert.ok(out.has(`${s.dirs[0]}/layer.tar`));
});

test('receiver: a full archive is checked and passed on with its own manifest (the tag asked for, not the peer\'s)', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  const r = await receive(dockerOrder(s), { id: s.id });
  assert.is(r.error, undefined);
  assert.is(r.report!.id, s.id);
  assert.equal(r.report!.layers.map((l) => l.received), [true, true, true]);
  assert.is(r.report!.bytes, s.layers.reduce((a, l) => a + l.length, 0));
  const manifest = JSON.parse(r.loaded!.get('manifest.json')!.toString());
  assert.equal(manifest, [{ Config: `${s.id.slice(7)}.json`, RepoTags: ['multi:1'], Layers: s.dirs.map((d) => `${d}/layer.tar`) }]);
  assert.not.ok(r.loaded!.has('repositories'));
  for (let i = 0; i < 3; i++) assert.equal(r.loaded!.get(`${s.dirs[i]}/layer.tar`), s.layers[i]);
});

test('sender to receiver: only the missing layers travel, and the receiver takes the archive', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  const have = chainIds(s.diffIds).slice(0, 2);
  const { archive, report } = filterForReceiver(tarOf(dockerOrder(s)), s.diffIds, new Set(have));
  const received = verifyForLoad(archive, { tag: 'multi:1', id: s.id, have: new Set(have) });
  const loaded = await entriesOf(received.archive);
  assert.equal((await received.report).layers.map((l) => l.received), [false, false, true]);
  assert.is((await report).skipped, 2);
  assert.ok(loaded.has('manifest.json'));
});

test('receiver: an archive arriving in small odd chunks (as TLS records) is checked and passed on byte for byte', async () => {
  // Layers of several hundred KiB, so that chunks end inside entries and across their boundaries.
  const PIECE_BYTES = 256 * 1024;
  const s = synthetic([randomBytes(Math.ceil(PIECE_BYTES / 1000) + 7).toString('hex'), 'mid', randomBytes(Math.ceil((2 * PIECE_BYTES) / 1000)).toString('hex')]); // each repeated 1000 times
  const parts: Buffer[] = [];
  for await (const c of tarOf(dockerOrder(s))) parts.push(c as Buffer);
  const whole = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let at = 0; at < whole.length; at += 16_381) chunks.push(whole.subarray(at, at + 16_381)); // TLS-record-like, never aligned to 512
  const { archive, report } = verifyForLoad(Readable.from(chunks), { tag: 'multi:1', id: s.id, have: new Set() });
  const loaded = await entriesOf(archive);
  assert.equal((await report).layers.map((l) => l.received), [true, true, true]);
  for (let i = 0; i < 3; i++) assert.equal(loaded.get(`${s.dirs[i]}/layer.tar`), s.layers[i]);
});

/** A refused archive: the error names the fault, and "docker load" saw no manifest and no end of archive. */
async function refused(entries: Entry[], pattern: RegExp, expect: Parameters<typeof receive>[1] = {}) {
  const r = await receive(entries, expect);
  assert.ok(r.error, 'refused');
  assert.instance(r.error, GearError);
  assert.match(r.error!.message, pattern);
  assert.is(r.loaded, undefined, 'the stream to docker load fails, it never ends cleanly');
}

test('lying peer: a layer whose bytes are not its diff id', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  await refused(dockerOrder(s, { layerBody: (i) => (i === 1 ? Buffer.from('mid'.repeat(999) + 'miX') : s.layers[i]!) }), /layer 2 has digest sha256:[0-9a-f]{64}, the config says/, { id: s.id });
});

test('lying peer: a config whose content is not its name, or not the image asked for', async () => {
  const s = synthetic(['base', 'top']);
  const entries = dockerOrder(s).map((e) => (e.name.endsWith('.json') && !e.name.includes('/') && e.name !== 'manifest.json' ? { ...e, body: `${s.config} ` } : e));
  await refused(entries, /config's content .* does not match its name/);
  const other = synthetic(['base', 'other']);
  await refused(dockerOrder(s), /the image is sha256:[0-9a-f]{64}, not the sha256:[0-9a-f]{64} asked for/, { id: other.id });
});

test('lying peer: the manifest names a layer that is not sent and not here', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  await refused(dockerOrder(s, { skip: [1] }), /layer 2 \(sha256:[0-9a-f]{64}\) is missing and is not on this host/, { id: s.id });
  // Left out and here: taken.
  const r = await receive(dockerOrder(s, { skip: [0, 1] }), { id: s.id, have: chainIds(s.diffIds).slice(0, 2) });
  assert.is(r.error, undefined);
});

test('lying peer: path tricks, links, extra and repeated entries', async () => {
  const s = synthetic(['base', 'top']);
  const base = dockerOrder(s);
  const withEntry = (e: Entry) => [e, ...base];
  await refused(withEntry({ name: '../x', body: 'x' }), /entry "\.\.\/x" is not part of an image archive/);
  await refused(withEntry({ name: '/etc/cron.d/x', body: 'x' }), /entry "\/etc\/cron.d\/x" is not part of an image archive/);
  await refused(withEntry({ name: `${s.dirs[0]}/../../x`, body: 'x' }), /is not part of an image archive/);
  await refused(withEntry({ name: `${s.dirs[0]}/layer.tar`, type: 'symlink' }), /is a symlink/);
  await refused([...base.slice(0, 4), base[3]!, ...base.slice(4)], /comes twice/);
  const stray = 'f'.repeat(64);
  await refused([{ name: `${stray}/`, type: 'directory' }, { name: `${stray}/layer.tar`, body: 'x' }, ...base], /layer f{64} is not named by manifest.json/);
});

/** The entries of an archive with their headers' type and linkname. */
async function headersOf(archive: Readable): Promise<Map<string, { type?: string | null; linkname?: string | null; mode?: number }>> {
  const out = new Map<string, { type?: string | null; linkname?: string | null; mode?: number }>();
  const ex = extract();
  archive.on('error', (err) => ex.destroy(err));
  archive.pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    for await (const _ of entry);
    out.set(entry.header.name, { type: entry.header.type, linkname: entry.header.linkname, mode: entry.header.mode });
  }
  return out;
}

test('archive entries: the one link taken is <dir>/layer.tar -> ../<other dir>/layer.tar', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  assert.equal(classifyEntry(`${b}/layer.tar`, 'symlink', `../${a}/layer.tar`), { kind: 'layer-link', dir: b, target: a });
  for (const [name, link] of [
    [`${b}/layer.tar`, `../../${a}/layer.tar`],
    [`${b}/layer.tar`, `/${a}/layer.tar`],
    [`${b}/layer.tar`, `/etc/passwd`],
    [`${b}/layer.tar`, `../${a}/json`],
    [`${b}/layer.tar`, `../${a}.json`],
    [`${b}/layer.tar`, `../${a}/./layer.tar`],
    [`${b}/layer.tar`, `../${b}/layer.tar`],
    [`${b}/layer.tar`, `${a}/layer.tar`],
    [`${b}/json`, `../${a}/json`],
    ['manifest.json', `${a}.json`],
  ])
    rejects(() => classifyEntry(name!, 'symlink', link), /is a symlink: only/);
  rejects(() => classifyEntry(`${b}/layer.tar`, 'link', `${a}/layer.tar`), /is a link/);
});

test('a layer twice (docker save links the second to the first): received, checked, passed on as a clean link', async () => {
  const s = synthetic(['base', 'dup', 'dup']);
  assert.is(s.diffIds[1], s.diffIds[2]);
  const entries = dockerOrder(s);
  assert.ok(entries.some((e) => e.type === 'symlink'));
  const r = await receive(entries, { id: s.id });
  assert.is(r.error, undefined);
  assert.equal(r.report!.layers.map((l) => l.received), [true, true, true]);
  assert.is(r.report!.bytes, s.layers[0]!.length + s.layers[1]!.length, 'the bytes once');
  // The same again, to read the headers docker load gets.
  const { archive, report } = verifyForLoad(tarOf(entries), { tag: 'multi:1', id: s.id, have: new Set() });
  const headers = await headersOf(archive);
  await report;
  assert.equal(headers.get(`${s.dirs[2]}/layer.tar`), { type: 'symlink', linkname: `../${s.dirs[1]}/layer.tar`, mode: 0o777 });
  assert.is(headers.get(`${s.dirs[1]}/layer.tar`)!.type, 'file');
});

test('a layer twice: the link may come before its target (docker save writes directories in name order)', async () => {
  const s = synthetic(['base', 'dup', 'dup']);
  const entries = dockerOrder(s);
  const ofTarget = entries.filter((e) => e.name.startsWith(`${s.dirs[1]}/`));
  const reordered = [...entries.filter((e) => !e.name.startsWith(`${s.dirs[1]}/`)), ...ofTarget];
  assert.ok(reordered.findIndex((e) => e.type === 'symlink') < reordered.findIndex((e) => e.name === `${s.dirs[1]}/layer.tar`));
  const r = await receive(reordered, { id: s.id });
  assert.is(r.error, undefined);
  assert.equal(r.report!.layers.map((l) => l.received), [true, true, true]);
  // And the same order with the target's bytes wrong: refused at the link's place too.
  const bad = reordered.map((e) => (e.name === `${s.dirs[1]}/layer.tar` ? { ...e, body: Buffer.from('other') } : e));
  await refused(bad, /layer 2 has digest/, { id: s.id });
});

test('lying peer: a link to a layer not received, to one of another digest, or to itself through another link', async () => {
  const s = synthetic(['base', 'dup', 'dup']);
  const linkDir = s.dirs[2]!;
  const linkAt = (entries: Entry[], linkname: string) => entries.map((e) => (e.name === `${linkDir}/layer.tar` ? { ...e, linkname } : e));
  // Its target left out (the receiver has that chain): not received, refused, even though docker would find nothing there.
  await refused(dockerOrder(s, { skip: [1] }), /links to [0-9a-f]{64}\/layer\.tar, which was not received/, { id: s.id, have: chainIds(s.diffIds).slice(0, 2) });
  // To another layer that came (base): its digest is not the config's at this place.
  await refused(linkAt(dockerOrder(s), `../${s.dirs[0]}/layer.tar`), /layer 3 has digest sha256:[0-9a-f]{64}, the config says/, { id: s.id });
  // To a directory that is not in the archive at all.
  await refused(linkAt(dockerOrder(s), `../${'c'.repeat(64)}/layer.tar`), /which was not received/, { id: s.id });
  // Path tricks in the link: refused by name.
  await refused(linkAt(dockerOrder(s), `../../${s.dirs[1]}/layer.tar`), /is a symlink: only/, { id: s.id });
  await refused(linkAt(dockerOrder(s), `/${s.dirs[1]}/layer.tar`), /is a symlink: only/, { id: s.id });
  await refused(linkAt(dockerOrder(s), `../${s.dirs[1]}/json`), /is a symlink: only/, { id: s.id });
  // A link to a link: its target is no received layer.tar.
  const t = synthetic(['base', 'dup', 'dup', 'dup']);
  const chained = dockerOrder(t).map((e) => (e.name === `${t.dirs[3]}/layer.tar` ? { ...e, linkname: `../${t.dirs[2]}/layer.tar` } : e));
  await refused(chained, /links to [0-9a-f]{64}\/layer\.tar, which was not received/, { id: t.id });
  // A link in a directory the manifest does not name.
  const stray = 'f'.repeat(64);
  await refused([...dockerOrder(s), { name: `${stray}/layer.tar`, type: 'symlink', linkname: `../${s.dirs[1]}/layer.tar` }], /layer f{64} is not named by manifest.json/, { id: s.id });
});

test('sender: a layer twice: the first is sent when a later place lacks it, links left out where the receiver has the place', async () => {
  const s = synthetic(['base', 'dup', 'dup']);
  const chains = chainIds(s.diffIds);
  const through = async (have: string[]) => {
    const { archive, report } = filterForReceiver(tarOf(dockerOrder(s)), s.diffIds, new Set(have));
    const received = verifyForLoad(archive, { tag: 'multi:1', id: s.id, have: new Set(have) });
    const headers = await headersOf(received.archive);
    return { sent: await report, layers: (await received.report).layers.map((l) => l.received), headers };
  };
  // The receiver has base and base+dup, lacks base+dup+dup: the first occurrence travels for the link.
  const partial = await through(chains.slice(0, 2));
  assert.equal(partial.layers, [false, true, true]);
  assert.is(partial.sent.sent, 1);
  assert.is(partial.headers.get(`${s.dirs[2]}/layer.tar`)!.type, 'symlink');
  // The receiver has everything: nothing travels, not even the link (docker load reads no layer it has).
  const all = await through(chains);
  assert.equal(all.layers, [false, false, false]);
  assert.is(all.sent.sent, 0);
  assert.not.ok(all.headers.has(`${s.dirs[2]}/layer.tar`));
  assert.not.ok(all.headers.has(`${s.dirs[1]}/layer.tar`));
  // The receiver has only base.
  const base = await through(chains.slice(0, 1));
  assert.equal(base.layers, [false, true, true]);
});

test('transfer: a sender that fails first is the reason reported, not the cut connection the receiver sees', async () => {
  const s = synthetic(['base', 'top']);
  const bad = dockerOrder(s).map((e) => (e.name === `${s.dirs[1]}/layer.tar` ? { ...e, type: 'symlink' as const, linkname: '/etc/passwd' } : e));
  const { from } = peers(s, () => tarOf(bad), []);
  const to: ImagePeer = {
    ...peers(s, () => tarOf(bad), []).to,
    async load(_req, archive) {
      // An HTTP upload: the connection is reset once the sender's stream fails.
      await entriesOf(archive).catch(() => undefined);
      throw new Error('cannot reach the agent at b: ECONNRESET');
    },
  };
  const err = await transfer(from, to, 'multi:1').catch((e: Error) => e);
  assert.instance(err, GearError);
  assert.match((err as Error).message, /is a symlink: only/);
});

test('lying peer: no manifest, no config, a manifest of two images', async () => {
  const s = synthetic(['base', 'top']);
  await refused(dockerOrder(s).filter((e) => e.name !== 'manifest.json'), /no manifest.json/);
  await refused(dockerOrder(s).filter((e) => !/^[0-9a-f]{64}\.json$/.test(e.name)), /no image config/);
  const two = JSON.stringify([...JSON.parse(manifestOf(s)), ...JSON.parse(manifestOf(s))]);
  await refused(dockerOrder(s).map((e) => (e.name === 'manifest.json' ? { ...e, body: two } : e)), /exactly one image/);
});

test('a broken input stream (the sender died): the stream to docker load fails too', async () => {
  const s = synthetic(['base', 'top']);
  const chunks: Buffer[] = [];
  for await (const c of tarOf(dockerOrder(s))) chunks.push(c as Buffer);
  const whole = Buffer.concat(chunks);
  const cut = Readable.from((async function* () {
    yield whole.subarray(0, 3000);
    throw new Error('connection reset');
  })());
  const { archive, report } = verifyForLoad(cut, { tag: 'multi:1', have: new Set() });
  const [r, l] = await Promise.allSettled([report, entriesOf(archive)]);
  assert.is(r.status, 'rejected');
  assert.is(l.status, 'rejected');
  // Cut cleanly at an entry boundary, without the end of the archive: also refused (no manifest came).
  const atBoundary = verifyForLoad(Readable.from([whole.subarray(0, 512)]), { tag: 'multi:1', have: new Set() });
  const [r2, l2] = await Promise.allSettled([atBoundary.report, entriesOf(atBoundary.archive)]);
  assert.is(r2.status, 'rejected');
  assert.is(l2.status, 'rejected');
});

test('a source cut before the receiver was made (an upload aborted while its load waited in the job queue): it fails at once, it does not wait', async () => {
  const source = new PassThrough();
  source.on('error', () => undefined); // as the agent's byte counter does
  source.write(Buffer.alloc(512));
  source.destroy(new Error('aborted'));
  await new Promise((resolve) => setImmediate(resolve)); // its 'error' and 'close' are past
  const { archive, report } = verifyForLoad(source, { tag: 'multi:1', have: new Set() });
  const [r, l] = await Promise.allSettled([report, entriesOf(archive)]);
  assert.is(r.status, 'rejected');
  assert.match((r as PromiseRejectedResult).reason.message, /the stream was cut before its end \(aborted\)/);
  assert.is(l.status, 'rejected');
});

test('a source cut in the middle of a layer, as an HTTP request whose client went away: both ends fail, nothing is thrown elsewhere', async () => {
  const s = synthetic(['b'.repeat(300), 'top']);
  const chunks: Buffer[] = [];
  for await (const c of tarOf(dockerOrder(s))) chunks.push(c as Buffer);
  const whole = Buffer.concat(chunks);
  const at = whole.indexOf(s.layers[0]!.subarray(0, 300)) + 50_000; // inside the first layer's body
  assert.ok(at > 50_000 && at < whole.length);
  for (const end of ['error', 'close'] as const) {
    // Emits 'error' (or just closes) mid-body, as an IncomingMessage does on 'aborted'.
    const source = new Readable({ read() {} });
    const receiving = verifyForLoad(source, { tag: 'multi:1', have: new Set() });
    const loaded = entriesOf(receiving.archive);
    source.push(whole.subarray(0, at));
    await new Promise((r) => setTimeout(r, 20));
    if (end === 'error') source.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    else source.destroy();
    const [r, l] = await Promise.allSettled([receiving.report, loaded]);
    assert.is(r.status, 'rejected', end);
    assert.is(l.status, 'rejected', end);
    const sending = filterForReceiver(Readable.from([whole.subarray(0, at)]), s.diffIds, new Set());
    const [r2, l2] = await Promise.allSettled([sending.report, entriesOf(sending.archive)]);
    assert.is(r2.status, 'rejected', `sender, ${end}`);
    assert.is(l2.status, 'rejected', `sender, ${end}`);
  }
});

/** Two ends of a transfer over the real streams, Docker replaced: the sender's "docker save" is `save`, the receiver's "docker load" reads the archive to its end. */
function peers(s: Synthetic, save: () => Readable, receiverHas: string[], refuse?: Error) {
  const saves: Readable[] = [];
  const from: ImagePeer = {
    inspect: async (image) => ({ Image: image, Id: s.id, Layers: s.diffIds, Size: 0 }),
    layersHad: async () => [],
    async save(req, onLayer) {
      const source = save();
      saves.push(source);
      const { archive, report } = filterForReceiver(source, s.diffIds, new Set(req.Have), onLayer);
      return { archive, done: report };
    },
    load: async () => { throw new Error("not called"); },
  };
  const to: ImagePeer = {
    inspect: async () => { throw new Error("not called"); },
    layersHad: async (chains) => chains.filter((c) => receiverHas.includes(c)),
    save: async () => { throw new Error("not called"); },
    async load(req, archive) {
      if (refuse) throw refuse; // answers at once, reading nothing (a 400 before the body)
      const { archive: out, report } = verifyForLoad(archive, { tag: req.Image, id: req.Id, have: new Set(receiverHas) });
      await entriesOf(out);
      const r = await report;
      return { Image: req.Image, Id: r.id, Layers: r.layers.map((l) => ({ DiffId: l.diffId, Received: l.received })), Bytes: r.bytes };
    },
  };
  return { from, to, saves };
}

test('transfer: only the missing layers travel; the receiver reports what came', async () => {
  const s = synthetic(['base', 'mid', 'top']);
  const { from, to } = peers(s, () => tarOf(dockerOrder(s)), chainIds(s.diffIds).slice(0, 2));
  const r = await transfer(from, to, 'multi:1');
  assert.equal(r.Layers.map((l) => l.Received), [false, false, true]);
  assert.is(r.Bytes, s.layers[2]!.length);
  assert.ok(r.Transferred > r.Bytes && r.Transferred < r.Bytes + 20_000, `${r.Transferred}`);
});

test('transfer: a receiver that refuses at once stops the sender (no hang, docker save ended), its error reported', async () => {
  const s = synthetic(['x'.repeat(200), 'top']);
  // A docker save that would go on for ever: a 10 GB layer.tar, made as it is read.
  const endless = () => {
    const p = pack();
    p.on('error', () => undefined);
    const sink = p.entry({ name: `${s.dirs[0]}/layer.tar`, size: 1e10 });
    sink.on('error', () => undefined);
    const zeros = Buffer.alloc(65536);
    const pump = () => {
      while (!sink.destroyed && sink.write(zeros));
    };
    sink.on('drain', pump);
    pump();
    return Readable.from(p as AsyncIterable<Buffer>);
  };
  const { from, to, saves } = peers(s, endless, [], new Error('refused by the receiver'));
  const err = await transfer(from, to, 'multi:1').catch((e: Error) => e);
  assert.instance(err, Error);
  assert.is((err as Error).message, 'refused by the receiver');
  assert.ok(saves[0]!.destroyed, 'the sender stopped reading docker save');
});

// --- The sending end on raw tar, as Go's archive/tar writes it (ustar; PAX or GNU headers for long names) ---

/** One header block, written here by the format's rules (not by tar-stream): ustar ("ustar\0" "00") or GNU ("ustar  \0"). */
function rawHeader(name: string, opts: { type?: string; size?: number; linkname?: string; gnu?: boolean; prefix?: string } = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${(opts.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('14000000000\0', 136, 'latin1');
  b.write(opts.type ?? '0', 156, 'latin1');
  if (opts.linkname) b.write(opts.linkname, 157, 100, 'utf8');
  b.write(opts.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  if (opts.prefix) b.write(opts.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
const pad = (body: Buffer) => Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
const paxRecord = (key: string, value: string) => {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len++;
  return `${len}${rest}`;
};

type Style = 'ustar' | 'prefix' | 'pax' | 'gnu';
/** An entry's bytes in the archive: its extended header (the name and link in a PAX or GNU long-name header, the ustar fields then meaningless), its header, its padded body. */
function rawEntry(e: Entry, style: Style): Buffer {
  const type = e.type === 'directory' ? '5' : e.type === 'symlink' ? '2' : '0';
  const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
  const parts: Buffer[] = [];
  let name = e.name;
  let linkname = e.linkname;
  let prefix: string | undefined;
  if (style === 'pax') {
    const records = Buffer.from(paxRecord('path', e.name) + (e.linkname ? paxRecord('linkpath', e.linkname) : '') + paxRecord('mtime', '1.5'));
    parts.push(rawHeader('PaxHeaders.0/x', { type: 'x', size: records.length }), pad(records));
    name = 'PaxHeaders.0/wrong';
    linkname = e.linkname && 'wrong';
  } else if (style === 'gnu') {
    const long = Buffer.from(`${e.name}\0`);
    parts.push(rawHeader('././@LongLink', { type: 'L', size: long.length, gnu: true }), pad(long));
    if (e.linkname) {
      const link = Buffer.from(`${e.linkname}\0`);
      parts.push(rawHeader('././@LongLink', { type: 'K', size: link.length, gnu: true }), pad(link));
    }
    name = 'truncated';
    linkname = e.linkname && 'truncated';
  } else if (style === 'prefix' && e.name.includes('/') && e.type !== 'directory') {
    prefix = e.name.slice(0, e.name.lastIndexOf('/'));
    name = e.name.slice(e.name.lastIndexOf('/') + 1);
  }
  parts.push(rawHeader(name, { type, size: type === '0' ? body.length : 0, linkname, gnu: style === 'gnu', prefix }));
  if (type === '0') parts.push(pad(body));
  return Buffer.concat(parts);
}
const END = Buffer.alloc(1024);
const rawTar = (entries: Entry[], style: (e: Entry, i: number) => Style = () => 'ustar') => Buffer.concat([...entries.map((e, i) => rawEntry(e, style(e, i))), END]);

/** `bytes` as a source arriving in chunks of the given sizes, in turn (never aligned to blocks). */
const inChunks = (bytes: Buffer, sizes: number[]) => {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(chunks);
};
const bytesOf = async (archive: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of archive) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

test('sender: what it keeps passes as the very bytes Docker wrote, whatever the chunks; what it leaves out is exactly those entries', async () => {
  const s = synthetic([randomBytes(40).toString('hex'), 'mid', randomBytes(30).toString('hex')]); // 80 and 60 KB
  const entries = dockerOrder(s);
  const chains = chainIds(s.diffIds);
  for (const style of ['ustar', 'prefix', 'pax', 'gnu'] as const) {
    const whole = rawTar(entries, () => style);
    for (const sizes of [[whole.length], [1, 2, 509], [511, 513, 7], [16_381], [65_536, 32_768]]) {
      const all = filterForReceiver(inChunks(whole, sizes), s.diffIds, new Set());
      assert.ok((await bytesOf(all.archive)).equals(whole), `${style} ${sizes}: nothing left out, byte for byte`);
      assert.equal(await all.report, { layers: 3, sent: 3, skipped: 0, bytes: s.layers.reduce((a, l) => a + l.length, 0) });
      // The receiver has base and mid: their layer.tar (with their extended headers) are not written, the rest is as it was.
      const some = filterForReceiver(inChunks(whole, sizes), s.diffIds, new Set(chains.slice(0, 2)));
      const left = new Set([`${s.dirs[0]}/layer.tar`, `${s.dirs[1]}/layer.tar`]);
      assert.ok((await bytesOf(some.archive)).equals(rawTar(entries.filter((e) => !left.has(e.name)), () => style)), `${style} ${sizes}: two layers left out`);
      assert.equal(await some.report, { layers: 3, sent: 1, skipped: 2, bytes: s.layers[2]!.length });
    }
  }
});

test('sender: extended headers go with their entry: kept, the receiver reads the long names; left out, nothing of them remains', async () => {
  const s = synthetic(['base', 'dup', 'dup', 'top']);
  const chains = chainIds(s.diffIds);
  // Mixed as a real writer mixes them: PAX for some entries, GNU long names for others (the link's target too).
  const styles: Style[] = ['pax', 'gnu', 'ustar', 'prefix'];
  const whole = rawTar(dockerOrder(s), (_, i) => styles[i % styles.length]!);
  // Layer.tar files left out per case: the receiver having base+dup+dup lacks only top; dup's bytes are in one file (the other place a link).
  for (const [have, skipped] of [[[], 0], [chains.slice(0, 1), 1], [chains.slice(0, 3), 2], [chains, 3]] as const) {
    const { archive, report } = filterForReceiver(inChunks(whole, [1000]), s.diffIds, new Set<string>(have));
    const received = verifyForLoad(archive, { tag: 'multi:1', id: s.id, have: new Set<string>(have) });
    const loaded = await entriesOf(received.archive);
    const r = await received.report;
    assert.equal(r.layers.map((l) => l.received), chains.map((c) => !(have as readonly string[]).includes(c)), `have ${have.length}`);
    assert.is((await report).skipped, skipped, `have ${have.length}`);
    for (const name of loaded.keys()) assert.ok(!/PaxHeader|LongLink|truncated|wrong/.test(name), name);
  }
});

test('sender: a long name that is no part of an image archive is refused by its whole name, as a short one is', async () => {
  const s = synthetic(['base', 'top']);
  for (const style of ['pax', 'gnu'] as const) {
    const long = `${s.dirs[0]}/${'x'.repeat(150)}`;
    const whole = rawTar([...dockerOrder(s).slice(0, 2), { name: long, body: 'x' }, ...dockerOrder(s).slice(2)], (e) => (e.name === long ? style : 'ustar'));
    const { archive, report } = filterForReceiver(inChunks(whole, [4096]), s.diffIds, new Set());
    const [r, l] = await Promise.allSettled([report, bytesOf(archive)]);
    assert.is(r.status, 'rejected');
    assert.match(((r as PromiseRejectedResult).reason as Error).message, new RegExp(`"${s.dirs[0]}/x{100,}" is not part of an image archive`));
    assert.is(l.status, 'rejected', 'whoever reads the archive never sees it end');
  }
  // A link whose target (in a GNU long-link header) is not a layer.tar: refused by that target.
  const t = synthetic(['base', 'dup', 'dup']);
  const bad = dockerOrder(t).map((e) => (e.type === 'symlink' ? { ...e, linkname: '/etc/passwd' } : e));
  const { report } = filterForReceiver(Readable.from([rawTar(bad, () => 'gnu')]), t.diffIds, new Set());
  await report.then(() => assert.unreachable('refused'), (err: Error) => assert.match(err.message, /is a symlink: only/));
});

test('sender: an archive cut anywhere (in a header, an extended header, a body, its padding, or before its end blocks) fails both its report and its output', async () => {
  const s = synthetic(['b'.repeat(300), 'top']);
  const whole = rawTar(dockerOrder(s), (_, i) => (i === 2 ? 'pax' : 'ustar'));
  const paxAt = whole.indexOf('PaxHeaders.0/x');
  const bodyAt = whole.indexOf(s.layers[0]!.subarray(0, 300));
  const cuts = [1, 511, 512 + 100, paxAt + 512 + 10, bodyAt + 1000, bodyAt + s.layers[0]!.length + 1, whole.length - 1024, whole.length - 513];
  for (const at of cuts) {
    const { archive, report } = filterForReceiver(inChunks(whole.subarray(0, at), [777]), s.diffIds, new Set());
    const [r, l] = await Promise.allSettled([report, bytesOf(archive)]);
    assert.is(r.status, 'rejected', `cut at ${at}`);
    assert.match(((r as PromiseRejectedResult).reason as Error).message, /image archive: the stream was cut before its end/, `cut at ${at}`);
    assert.is(l.status, 'rejected', `cut at ${at}: the output fails too`);
  }
  // Whole (one end block is the end for tar readers; Go writes two): passes.
  const ok = filterForReceiver(Readable.from([whole.subarray(0, whole.length - 512)]), s.diffIds, new Set());
  await bytesOf(ok.archive);
  assert.is((await ok.report).sent, 2);
  // A header whose checksum is wrong: a corrupt archive, refused.
  const corrupt = Buffer.from(whole);
  corrupt[512 * 3 + 5] = corrupt[512 * 3 + 5]! ^ 1;
  const bad = filterForReceiver(Readable.from([corrupt]), s.diffIds, new Set());
  const [r, l] = await Promise.allSettled([bad.report, bytesOf(bad.archive)]);
  assert.match(((r as PromiseRejectedResult).reason as Error).message, /wrong checksum/);
  assert.is(l.status, 'rejected');
});

test('sender: its reader going away stops docker save', async () => {
  const s = synthetic(['b'.repeat(300), 'top']);
  const whole = rawTar(dockerOrder(s));
  const source = new Readable({ read() {} });
  const { archive, report } = filterForReceiver(source, s.diffIds, new Set());
  source.push(whole.subarray(0, 5000));
  await new Promise((r) => archive.once('readable', r));
  archive.destroy();
  await report.then(() => assert.unreachable('not done'), () => undefined);
  assert.ok(source.destroyed, 'the source was destroyed');
});

test('receiver: nothing of the peer\'s headers reaches docker load: PAX and GNU headers gone, owners, modes and padding its own', async () => {
  const s = synthetic(['base', 'dup', 'dup', 'top']);
  const styles: Style[] = ['pax', 'gnu', 'ustar', 'prefix'];
  const whole = Buffer.from(rawTar(dockerOrder(s), (_, i) => styles[i % styles.length]!));
  // The peer's padding is junk and its owner fields are someone's: none of it may pass.
  for (let at = 0; at + 512 <= whole.length; at += 512) {
    const block = whole.subarray(at, at + 512);
    if (block.toString('latin1', 257, 262) !== 'ustar') continue;
    block.write('0001750\0', 108, 'latin1'); // uid 1000
    block.write('mallory', 265, 'latin1');
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  const top = s.layers[3]!;
  const topAt = whole.indexOf(top);
  whole.fill(0x41, topAt + top.length, topAt + top.length + ((512 - (top.length % 512)) % 512)); // the peer's padding after top's bytes
  const { archive, report } = verifyForLoad(inChunks(whole, [333]), { tag: 'multi:1', id: s.id, have: new Set() });
  const out = await bytesOf(archive);
  assert.equal((await report).layers.map((l) => l.received), [true, true, true, true]);
  const names: string[] = [];
  for (let at = 0; at < out.length; ) {
    const block = out.subarray(at, at + 512);
    if (block.every((b) => b === 0)) {
      at += 512;
      continue;
    }
    const name = block.toString('latin1', 0, block.indexOf(0));
    names.push(name);
    assert.is(block.toString('latin1', 257, 265), 'ustar\x0000', name);
    assert.is(block.toString('latin1', 108, 115), '0000000', `${name}: owner root`);
    assert.ok(block.subarray(265, 329).every((b) => b === 0), `${name}: no user or group names`);
    assert.ok('025'.includes(String.fromCharCode(block[156]!)), `${name}: a file, a directory or a link`);
    const size = parseInt(block.toString('latin1', 124, 135), 8);
    const body = out.subarray(at + 512, at + 512 + Math.ceil(size / 512) * 512);
    assert.ok(body.subarray(size).every((b) => b === 0), `${name}: zeros after its bytes`);
    at += 512 + body.length;
  }
  assert.ok(names.every((n) => /^[0-9a-f]{64}(\/|\/VERSION|\/json|\/layer\.tar|\.json)$|^manifest\.json$/.test(n)), names.join(' '));
  assert.is(names.filter((n) => n.endsWith('/layer.tar')).length, 4);
  assert.is(names.at(-1), 'manifest.json');
  // And tar-stream reads it: the layers byte for byte.
  const loaded = await entriesOf(Readable.from([out]));
  for (const i of [0, 1, 3]) assert.equal(loaded.get(`${s.dirs[i]}/layer.tar`), s.layers[i]);
});

test('receiver: the config goes to docker load as the very bytes hashed (its id), even where they are not valid UTF-8', async () => {
  const s = synthetic(['base', 'top']);
  const bytes = Buffer.concat([Buffer.from(s.config.slice(0, -1)), Buffer.from(',"comment":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  const id = `sha256:${hex(bytes)}`;
  const entries = dockerOrder(s).map((e) => (e.name === `${s.id.slice(7)}.json` ? { ...e, name: `${id.slice(7)}.json`, body: bytes } : e.name === 'manifest.json' ? { ...e, body: manifestOf({ ...s, id }) } : e));
  const r = await receive(entries, { id });
  assert.is(r.error, undefined);
  assert.is(r.report!.id, id);
  assert.equal(r.loaded!.get(`${id.slice(7)}.json`), bytes);
});

test('receiver: an archive cut anywhere fails it, and the request body is read to its end (not destroyed), so the client reads why', async () => {
  const s = synthetic(['b'.repeat(300), 'top']);
  const whole = rawTar(dockerOrder(s), (_, i) => (i === 2 ? 'gnu' : 'ustar'));
  const bodyAt = whole.indexOf(s.layers[0]!.subarray(0, 300));
  for (const at of [1, 700, whole.indexOf('././@LongLink') + 600, bodyAt + 1000, whole.length - 1024, whole.length - 600]) {
    const { archive, report } = verifyForLoad(inChunks(whole.subarray(0, at), [1000]), { tag: 'multi:1', id: s.id, have: new Set() });
    const [r, l] = await Promise.allSettled([report, bytesOf(archive)]);
    assert.is(r.status, 'rejected', `cut at ${at}`);
    assert.is(l.status, 'rejected', `cut at ${at}: docker load never sees the end`);
  }
  // Refused at its first entry, with more to come: the rest is read and dropped.
  const source = inChunks(rawTar([{ name: '../evil', body: 'x' }, ...dockerOrder(s)]), [1000]);
  const { archive, report } = verifyForLoad(source, { tag: 'multi:1', id: s.id, have: new Set() });
  const [r, l] = await Promise.allSettled([report, bytesOf(archive)]);
  assert.match(((r as PromiseRejectedResult).reason as Error).message, /"\.\.\/evil" is not part of an image archive/);
  assert.is(l.status, 'rejected');
  await new Promise((res) => (source.readableEnded ? res(undefined) : source.once('end', res)));
  assert.ok(source.readableEnded, 'drained to its end');
});

test.run();
