import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { failed, invalid } from '../model/errors.js';
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
import { encodeHeader, padded } from '../model/tar-header.js';
import type { StoredImage } from './layer-store.js';
import { filterTar } from './tar-filter.js';

/**
 * The two ends of an image transfer, as streams of Docker's image archive
 * (model/image-archive.ts): entries pass one by one as raw tar blocks
 * (tar-filter.ts), layers are never held in memory nor written anywhere
 * but to the next stream.
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
      if (e.kind === 'layer-dir') return { head: 'raw' };
      // A place the receiver has is never read by docker load (moby loads a layer only when its chain is missing): left out, as its target may be.
      if (e.kind === 'layer-link') {
        const chain = chainOfDir.get(e.dir);
        return chain === undefined || !have.has(chain) ? { head: 'raw' } : {};
      }
      if (e.kind === 'layer-file' && e.file === 'layer.tar') {
        const chain = chainOfDir.get(e.dir);
        const index = chain === undefined ? undefined : chains.indexOf(chain);
        const sent = !(chain !== undefined && index !== undefined && !needed.has(diffIds[index]!));
        layer = { index, diffId: index === undefined ? undefined : diffIds[index], bytes: h.size, sent };
        return sent ? { head: 'raw' } : {}; // not sent: read from Docker, not written; the receiver hashes what it gets
      }
      if (h.size > MAX_METADATA_BYTES) throw invalid(`image archive: ${h.name} is larger than ${MAX_METADATA_BYTES} bytes`);
      jsonOf = e.kind === 'layer-file' && e.file === 'json' ? e.dir : undefined;
      return { head: 'raw', read: jsonOf !== undefined };
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
  }, { ends: 'raw', onFailure: 'destroy' });
  return { archive, report: done.then(() => report) };
}

/**
 * The sending end without `docker save`: the same archive shape, written
 * here from Docker's layer store (layer-store.ts) in layer order. Each
 * layer directory is named by its chain ID; a layer the receiver has gets
 * no directory; a diff id that comes again is a link to the place that
 * carried its bytes, as `docker save` writes it. The config is the one
 * whose hash is the image id; the manifest names no tag (the receiver
 * writes its own).
 */
export function archiveFromStore(
  image: StoredImage,
  have: ReadonlySet<string>,
  onLayer: (e: LayerEvent) => void = () => undefined,
): { archive: Readable; report: Promise<SendReport> } {
  const chains = chainIds(image.diffIds);
  const dirs = chains.map((c) => c.slice('sha256:'.length));
  const report: SendReport = { layers: chains.length, sent: 0, skipped: 0, bytes: 0 };
  const dir = (name: string) => encodeHeader({ name: `${name}/`, type: 'directory', mode: 0o755, mtime: 0 });
  async function* entries(): AsyncGenerator<Buffer> {
    const carriedBy = new Map<string, string>(); // diff id -> the directory whose layer.tar holds its bytes
    for (const [index, diffId] of image.diffIds.entries()) {
      const layer = image.layers[index];
      if (have.has(chains[index]!)) {
        report.skipped++;
        onLayer({ index, diffId, bytes: layer?.size ?? 0, sent: false });
        continue;
      }
      const first = carriedBy.get(diffId);
      yield dir(dirs[index]!);
      if (first !== undefined) {
        yield encodeHeader({ name: `${dirs[index]}/layer.tar`, type: 'symlink', linkname: `../${first}/layer.tar`, mode: 0o777, mtime: 0 });
        continue;
      }
      if (!layer) throw failed(`layer ${index + 1} (${diffId}) is not in the layer store`);
      yield encodeHeader({ name: `${dirs[index]}/layer.tar`, type: 'file', size: layer.size, mode: 0o644, mtime: 0 });
      let bytes = 0;
      for await (const piece of layer.read()) {
        bytes += piece.length;
        if (bytes > layer.size) break;
        yield piece;
      }
      if (bytes !== layer.size) throw failed(`layer ${index + 1} (${diffId}): the layer store gave ${bytes} bytes, its record says ${layer.size}`);
      yield Buffer.alloc(padded(layer.size) - layer.size);
      carriedBy.set(diffId, dirs[index]!);
      report.sent++;
      report.bytes += layer.size;
      onLayer({ index, diffId, bytes: layer.size, sent: true });
    }
    const configHex = createHash('sha256').update(image.config).digest('hex');
    const manifest = Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: null, Layers: dirs.map((d) => `${d}/layer.tar`) }]));
    for (const [name, body] of [[`${configHex}.json`, image.config], ['manifest.json', manifest]] as const) {
      yield encodeHeader({ name, type: 'file', size: body.length, mode: 0o644, mtime: 0 });
      yield withPadding(body);
    }
    yield Buffer.alloc(1024); // the archive's end: two zero blocks
  }
  const archive = Readable.from(entries(), { objectMode: false });
  const whole = new Promise<SendReport>((resolve, reject) => {
    archive.once('end', () => resolve(report));
    archive.once('error', reject);
    archive.once('close', () => reject(new Error('image archive: the transfer ended before the archive did')));
  });
  whole.catch(() => undefined); // a caller that stops reading learns it from its own stream
  return { archive, report: whole };
}

/**
 * The receiving end: every entry checked by name (nothing but the names of
 * an image archive), every layer.tar hashed as it passes on to `docker
 * load`; the config and the manifest are held back, and written (the
 * manifest our own: the image asked for, tagged as asked) only once the
 * whole archive is checked (checkArchive). Until then Docker has no
 * manifest.json, and a failure ends its input without the tar's end: it
 * loads nothing. Nothing of the peer's headers passes: each entry gets a
 * header of our own (a file, a directory or the one link taken, from the
 * checked name), and only the bytes of layer.tar, VERSION and json bodies
 * pass as they came (tar-filter.ts), padded here.
 */
export function verifyForLoad(
  incoming: Readable,
  expect: { tag: string; id?: string; have: ReadonlySet<string> },
  onLayer: (e: LayerEvent) => void = () => undefined,
): { archive: Readable; report: Promise<ReceiveReport> } {
  const got: ReceivedArchive = { layerDigests: new Map(), layerLinks: new Map() };
  const seen = new Set<string>();
  let bytes = 0;
  let configBytes: Buffer | undefined;
  let result: ReceiveReport | undefined;
  // What the entry passing is, for its end.
  let at: { kind: 'layer'; dir: string; hash: Hash; size: number } | { kind: 'manifest' } | { kind: 'config'; hex: string } | undefined;
  const file = (name: string, size: number, mtime: number) => encodeHeader({ name, type: 'file', size, mode: 0o644, mtime });
  const { archive, done } = filterTar(
    incoming,
    {
      entry(h) {
        const e = classifyEntry(h.name, h.type, h.linkname);
        const key = e.kind === 'layer-dir' ? `${e.dir}/` : h.name;
        if (seen.has(key)) throw invalid(`image archive: entry ${h.name} comes twice`);
        seen.add(key);
        at = undefined;
        if (e.kind === 'layer-dir') return { head: encodeHeader({ name: `${e.dir}/`, type: 'directory', mode: 0o755, mtime: h.mtime }) };
        if (e.kind === 'layer-link') {
          // Its target must be a layer.tar that came and was hashed: checked with the config (checkArchive), before docker load sees a manifest.
          got.layerLinks!.set(e.dir, e.target);
          return { head: encodeHeader({ name: `${e.dir}/layer.tar`, type: 'symlink', linkname: `../${e.target}/layer.tar`, mode: 0o777, mtime: h.mtime }) };
        }
        if (e.kind === 'layer-file' && e.file === 'layer.tar') {
          const hash = createHash('sha256');
          at = { kind: 'layer', dir: e.dir, hash, size: h.size };
          return { head: file(h.name, h.size, h.mtime), data: (piece) => hash.update(piece) };
        }
        if (h.size > MAX_METADATA_BYTES) throw invalid(`image archive: ${h.name} is larger than ${MAX_METADATA_BYTES} bytes`);
        if (e.kind === 'layer-file') return { head: file(h.name, h.size, h.mtime) };
        if (e.kind === 'manifest') {
          at = { kind: 'manifest' };
          return { read: true };
        }
        if (e.kind === 'config') {
          if (got.config) throw invalid('image archive: more than one image config');
          at = { kind: 'config', hex: e.hex };
          return { read: true };
        }
        return {}; // repositories: the peer's tags are not taken
      },
      end(_h, body) {
        if (at?.kind === 'layer') {
          got.layerDigests.set(at.dir, `sha256:${at.hash.digest('hex')}`);
          bytes += at.size;
          onLayer({ bytes: at.size, sent: true });
        } else if (at?.kind === 'manifest') got.manifest = parseManifest(body!.toString('utf8'));
        else if (at?.kind === 'config') {
          configBytes = body!;
          got.config = { hex: at.hex, text: body!.toString('utf8'), digest: `sha256:${createHash('sha256').update(body!).digest('hex')}` };
        }
        at = undefined;
      },
      finish() {
        const layers = checkArchive(got, expect.id, expect.have);
        result = { id: got.config!.digest, layers, bytes };
        // The config as the very bytes hashed (its id); the manifest our own.
        const manifest = Buffer.from(loadManifestText(got.manifest!, expect.tag));
        return [file(`${got.config!.hex}.json`, configBytes!.length, 0), withPadding(configBytes!), file('manifest.json', manifest.length, 0), withPadding(manifest)];
      },
    },
    { ends: 'own', onFailure: 'drain' },
  );
  return { archive, report: done.then(() => result!) };
}

/** A body and the zeros that fill its last block. */
const withPadding = (body: Buffer) => Buffer.concat([body, Buffer.alloc(padded(body.length) - body.length)]);
