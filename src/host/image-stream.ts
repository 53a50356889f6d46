import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract, pack, type Extract, type Header, type Pack } from 'tar-stream';
import { invalid } from '../model/errors.js';
import { filterTar } from './tar-filter.js';
import {
  MAX_METADATA_BYTES,
  chainIds,
  chainOfLayerJson,
  checkArchive,
  classifyEntry,
  loadManifestText,
  parseManifest,
  type CheckedLayer,
  type ReceivedArchive,
} from '../model/image-archive.js';

/**
 * The two ends of an image transfer, as streams of Docker's image archive
 * (model/image-archive.ts): entries pass one by one (tar-stream), layers
 * are never held in memory nor written anywhere but to the next stream.
 */

/** One layer passing (or not): its place (0 = lowest) when known, its size, and whether its bytes travel. */
export interface LayerEvent {
  index?: number;
  diffId?: string;
  bytes: number;
  sent: boolean;
}

export interface SendReport {
  layers: number;
  /** layer.tar entries sent / left out because the receiver has them. */
  sent: number;
  skipped: number;
  /** Bytes of the layer.tar entries sent. */
  bytes: number;
}

export interface ReceiveReport {
  id: string;
  layers: CheckedLayer[];
  /** Bytes of the layer.tar entries received. */
  bytes: number;
}

/**
 * tar-stream's streams (streamx) emit 'error' when destroyed with one, even
 * with nobody listening, which would end the process (an agent whose client
 * went away mid-transfer). Every error here is read where it matters: the
 * iterators and callbacks; these listeners only keep it from being "unhandled".
 */
const ignore = () => undefined;

type Entry = Extract extends AsyncIterable<infer S> ? S : never;

/** Clean headers: a file or a directory, with a name classifyEntry took; nothing else of the peer's header passes. */
const headerOf = (h: Partial<Header> & { name: string }): Partial<Header> & { name: string } =>
  h.type === 'directory'
    ? { name: h.name, type: 'directory', mode: 0o755, mtime: h.mtime }
    : { name: h.name, type: 'file', size: h.size ?? 0, mode: 0o644, mtime: h.mtime };

/** A clean symlink header for a layer-link entry: its name and the target classifyEntry took, rebuilt from the parsed parts. */
function putLink(p: Pack, dir: string, target: string, mtime?: Date): Promise<void> {
  return new Promise((resolve, reject) =>
    p.entry({ name: `${dir}/layer.tar`, type: 'symlink', linkname: `../${target}/layer.tar`, mode: 0o777, mtime }, (err) => (err ? reject(err) : resolve())),
  );
}

async function readSmall(entry: Entry): Promise<Buffer> {
  if ((entry.header.size ?? 0) > MAX_METADATA_BYTES) throw invalid(`image archive: ${entry.header.name} is larger than ${MAX_METADATA_BYTES} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function skip(entry: Entry): Promise<void> {
  for await (const _ of entry);
}

/** An entry with a body known in full (or none: a directory). */
function put(p: Pack, header: Partial<Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) p.entry(headerOf(header), body, cb);
    else p.entry(headerOf(header), cb); // a directory: no body, done once packed
  });
}

/**
 * An entry copied through, chunk by chunk, waiting when the pack is full
 * (backpressure); returns the sha256 of its bytes, or '' when `hashed` is
 * false (the sender: only the receiver's digest counts; hashing cost the
 * sending CLI about half a second of CPU per 200 MB, BENCHMARKS.md).
 */
async function copy(p: Pack, entry: Entry, hashed = true): Promise<string> {
  const hash = hashed ? createHash('sha256') : undefined;
  // The entry's callback: called once its bytes are all in the pack, or with the error that ended it.
  let settle!: (err?: Error | null) => void;
  const written = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  written.catch(() => undefined);
  // Throws once the pack is destroyed (the other end went away): then that is this copy's error.
  const sink = p.entry(headerOf(entry.header), (err) => settle(err)) as unknown as NodeJS.WritableStream;
  sink.on('error', ignore); // its error comes through the callback
  for await (const chunk of entry) {
    hash?.update(chunk as Buffer);
    if (!sink.write(chunk as Buffer)) await Promise.race([new Promise<void>((resolve) => sink.once('drain', resolve)), written]);
  }
  sink.end();
  await written;
  return hash ? `sha256:${hash.digest('hex')}` : '';
}

/** The extractor fed by `source`: a source that fails, or closes before its end (a sender that went away), fails it. */
function extractFrom(source: Readable) {
  const ex = extract();
  ex.on('error', ignore); // its error comes through its iterator
  const cut = (why: string) => invalid(`image archive: the stream was cut before its end (${why})`);
  source.on('error', (err) => ex.destroy(cut(err.message)));
  source.on('close', () => {
    if (!source.readableEnded) ex.destroy(cut('closed'));
  });
  source.pipe(ex as unknown as NodeJS.WritableStream);
  return ex;
}

/**
 * Run `work` over the entries; the archive it packs ends when it succeeds
 * and fails with it otherwise. On failure the source is destroyed
 * (`docker save`: Docker stops), or drained (a request's body: the client
 * can still read the answer that says why).
 */
function transform<T>(source: Readable, onFailure: 'destroy' | 'drain', work: (entries: AsyncIterable<Entry>, p: Pack) => Promise<T>): { archive: Readable; done: Promise<T> } {
  const ex = extractFrom(source);
  const p = pack();
  p.on('error', ignore); // its error comes through its reader (Readable.from)
  const done = (async () => {
    try {
      const value = await work(ex, p);
      p.finalize();
      return value;
    } catch (err) {
      // Not finalized: whoever reads the archive sees it fail, never a tar that ends cleanly.
      p.destroy(err as Error);
      ex.destroy();
      if (onFailure === 'destroy') source.destroy();
      else {
        source.unpipe();
        source.resume();
      }
      throw err;
    }
  })();
  done.catch(() => undefined); // the caller awaits it; no unhandled rejection meanwhile
  return { archive: Readable.from(p as AsyncIterable<Buffer>), done };
}

/**
 * The sending end: `docker save`'s archive with the layer.tar of every
 * layer the receiver has (by chain ID) left out. Which layer a directory
 * holds is known from its `json`, which Docker writes before its layer.tar;
 * a layer that cannot be told is sent. The archive is this host's own, so
 * what is kept passes as Docker wrote it (tar-filter.ts: header blocks and
 * bytes as read, no unpacking and packing again); its names are still
 * checked (classifyEntry), so a strange archive fails here, not at the peer.
 */
export function filterForReceiver(save: Readable, diffIds: string[], have: ReadonlySet<string>, onLayer: (e: LayerEvent) => void = () => undefined): { archive: Readable; report: Promise<SendReport> } {
  const chains = chainIds(diffIds);
  // A layer's bytes are needed when some place holding its diff id lacks its chain: docker save writes a
  // repeated layer once and links the later places to it, so the first one travels for any place that lacks it.
  const needed = new Set(diffIds.filter((_, i) => !have.has(chains[i]!)));
  const report: SendReport = { layers: diffIds.length, sent: 0, skipped: 0, bytes: 0 };
  const chainOfDir = new Map<string, string>();
  let layer: LayerEvent | undefined; // the layer.tar passing (or not)
  let jsonOf: string | undefined; // the directory whose json is passing
  const { archive, done } = filterTar(save, {
    entry(h) {
      const e = classifyEntry(h.name, h.type, h.linkname);
      if (e.kind === 'layer-dir') return { keep: true };
      // A place the receiver has is never read by docker load (moby loads a layer only when its chain is missing): left out, as its target may be.
      if (e.kind === 'layer-link') {
        const chain = chainOfDir.get(e.dir);
        return { keep: chain === undefined || !have.has(chain) };
      }
      if (e.kind === 'layer-file' && e.file === 'layer.tar') {
        const chain = chainOfDir.get(e.dir);
        const index = chain === undefined ? undefined : chains.indexOf(chain);
        const sent = !(chain !== undefined && index !== undefined && !needed.has(diffIds[index]!));
        layer = { index, diffId: index === undefined ? undefined : diffIds[index], bytes: h.size, sent };
        return { keep: sent }; // not sent: read from Docker, not written; the receiver hashes what it gets
      }
      if (h.size > MAX_METADATA_BYTES) throw invalid(`image archive: ${h.name} is larger than ${MAX_METADATA_BYTES} bytes`);
      jsonOf = e.kind === 'layer-file' && e.file === 'json' ? e.dir : undefined;
      return { keep: true, read: jsonOf !== undefined };
    },
    end(_h, body) {
      if (layer) {
        if (layer.sent) (report.sent++, (report.bytes += layer.bytes));
        else report.skipped++;
        const event = layer;
        layer = undefined;
        onLayer(event);
      } else if (jsonOf !== undefined) {
        const chain = chainOfLayerJson(jsonOf, body!.toString('utf8'), chains);
        if (chain) chainOfDir.set(jsonOf, chain);
        jsonOf = undefined;
      }
    },
  });
  return { archive, report: done.then(() => report) };
}

/**
 * The receiving end: every entry checked by name (nothing but the names of
 * an image archive), every layer.tar hashed as it passes on to `docker
 * load`; the config and the manifest are held back, and written (the
 * manifest our own: the image asked for, tagged as asked) only once the
 * whole archive is checked (checkArchive). Until then Docker has no
 * manifest.json, and a failure ends its input without the tar's end: it
 * loads nothing.
 */
export function verifyForLoad(
  incoming: Readable,
  expect: { tag: string; id?: string; have: ReadonlySet<string> },
  onLayer: (e: LayerEvent) => void = () => undefined,
): { archive: Readable; report: Promise<ReceiveReport> } {
  const { archive, done } = transform(incoming, 'drain', async (entries, p) => {
    const got: ReceivedArchive = { layerDigests: new Map(), layerLinks: new Map() };
    const seen = new Set<string>();
    let bytes = 0;
    for await (const entry of entries) {
      entry.on('error', ignore);
      const name = entry.header.name;
      const e = classifyEntry(name, entry.header.type, entry.header.linkname);
      const key = e.kind === 'layer-dir' ? `${e.dir}/` : name;
      if (seen.has(key)) throw invalid(`image archive: entry ${name} comes twice`);
      seen.add(key);
      if (e.kind === 'layer-dir') {
        await skip(entry);
        await put(p, entry.header);
      } else if (e.kind === 'layer-link') {
        // Its target must be a layer.tar that came and was hashed: checked with the config (checkArchive), before docker load sees a manifest.
        await skip(entry);
        got.layerLinks!.set(e.dir, e.target);
        await putLink(p, e.dir, e.target, entry.header.mtime);
      } else if (e.kind === 'layer-file' && e.file === 'layer.tar') {
        const size = entry.header.size ?? 0;
        got.layerDigests.set(e.dir, await copy(p, entry));
        bytes += size;
        onLayer({ bytes: size, sent: true });
      } else {
        const body = await readSmall(entry);
        if (e.kind === 'layer-file') await put(p, entry.header, body);
        else if (e.kind === 'manifest') got.manifest = parseManifest(body.toString('utf8'));
        else if (e.kind === 'config') {
          if (got.config) throw invalid('image archive: more than one image config');
          got.config = { hex: e.hex, text: body.toString('utf8'), digest: `sha256:${createHash('sha256').update(body).digest('hex')}` };
        }
        // repositories: the peer's tags are not taken
      }
    }
    const layers = checkArchive(got, expect.id, expect.have);
    await put(p, { name: `${got.config!.hex}.json`, size: Buffer.byteLength(got.config!.text), mtime: new Date(0) }, Buffer.from(got.config!.text));
    const manifest = Buffer.from(loadManifestText(got.manifest!, expect.tag));
    await put(p, { name: 'manifest.json', size: manifest.length, mtime: new Date(0) }, manifest);
    return { id: got.config!.digest, layers, bytes };
  });
  return { archive, report: done };
}
