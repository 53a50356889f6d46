import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { extract, type Extract } from 'tar-stream';
import { failed, invalid } from '../model/errors.js';
import { MAX_METADATA_BYTES, chainOfLayerJson, classifyEntry, configDiffIds, parseManifest, sha256, type ArchiveManifest } from '../model/image-archive.js';
import type { ImageDescription } from '../model/registry.js';

/**
 * What the agent's registry reads of `docker save` (Docker 20.10's legacy
 * archive, model/image-archive.ts): an image's description for its
 * manifest (one pass, layer bytes skipped, never held), and one layer.tar
 * copied out as a blob. Docker writes a layer whose diff id came before as
 * a symbolic link to the first one's layer.tar: same bytes, same size.
 */

type Entry = Extract extends AsyncIterable<infer S> ? S : never;

const ignore = () => undefined;

function entriesOf(save: Readable): Extract {
  const ex = extract();
  ex.on('error', ignore); // read through the iterator
  save.on('error', (err) => ex.destroy(failed(`docker save: ${err.message}`)));
  save.pipe(ex as unknown as NodeJS.WritableStream);
  return ex;
}

/** A layer directory's layer.tar and json, by name. */
const LAYER_FILE = /^([a-f0-9]{64})\/layer\.tar$/;
const LAYER_JSON = /^([a-f0-9]{64})\/json$/;

async function readSmall(entry: Entry): Promise<Buffer> {
  if ((entry.header.size ?? 0) > MAX_METADATA_BYTES) throw invalid(`docker save: ${entry.header.name} is larger than ${MAX_METADATA_BYTES} bytes`);
  const chunks: Buffer[] = [];
  for await (const c of entry) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface SavedImage extends ImageDescription {
  /** The layer directories of the archive, lowest first (parallel to layers). */
  dirs: string[];
}

/** Read an image's `docker save` through once: its config, its manifest.json and each layer.tar's size. The stream is ended either way. */
export async function describeSave(save: Readable, id: string): Promise<SavedImage> {
  const ex = entriesOf(save);
  let config: Buffer | undefined;
  let manifest: ArchiveManifest | undefined;
  const sizes = new Map<string, number>();
  try {
    for await (const entry of ex) {
      const { name, type, linkname } = entry.header;
      const e = classifyEntry(name, type, linkname);
      if (e.kind === 'layer-link') {
        for await (const _ of entry);
        continue; // the same layer again: its size is its target's (same diff id)
      }
      if (e.kind === 'layer-file' && e.file === 'layer.tar') {
        sizes.set(e.dir, entry.header.size ?? 0);
        for await (const _ of entry);
      } else if (e.kind === 'config') {
        const body = await readSmall(entry);
        if (`sha256:${e.hex}` === id) config = body;
      } else if (e.kind === 'manifest') manifest = parseManifest((await readSmall(entry)).toString('utf8'));
      else for await (const _ of entry);
    }
  } finally {
    save.destroy();
  }
  if (!config || sha256(config) !== id) throw failed(`docker save of ${id}: no config with that digest`);
  if (!manifest) throw failed(`docker save of ${id}: no manifest.json`);
  const diffIds = configDiffIds(config.toString('utf8'));
  if (diffIds.length !== manifest.layers.length) throw failed(`docker save of ${id}: ${manifest.layers.length} layers, the config has ${diffIds.length}`);
  const sizeOf = new Map<string, number>();
  manifest.layers.forEach((dir, i) => {
    const size = sizes.get(dir);
    if (size !== undefined && !sizeOf.has(diffIds[i]!)) sizeOf.set(diffIds[i]!, size);
  });
  const layers = diffIds.map((diffId) => {
    const size = sizeOf.get(diffId);
    if (size === undefined) throw failed(`docker save of ${id}: no layer.tar for ${diffId}`);
    return { diffId, size };
  });
  return { id, config, layers, dirs: manifest.layers };
}

/**
 * Copy `source` into `out`, with backpressure; its sha256 must be `digest`,
 * else `out` is destroyed before its end (the client sees a cut blob, never
 * a wrong one that ends cleanly). `from` names the source in the error.
 */
export async function copyDigested(source: AsyncIterable<Buffer>, digest: string, out: Writable, from: string): Promise<number> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.length;
    if (out.destroyed) throw failed('the client went away');
    if (!out.write(chunk))
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
      });
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== digest) throw failed(`${from}: layer ${digest} has digest ${got}`);
  return bytes;
}

/**
 * Copy, out of `docker save`, the layer.tar (a file) of a directory that
 * holds one of `chains` (the places of that layer in the image; `allChains`
 * are the image's own, lowest first) into `out`, digest-checked
 * (copyDigested). Which chain a directory holds is told from its `json`,
 * written before its `layer.tar` (chainOfLayerJson), so the copy needs no
 * earlier description of the archive's directory names. `docker save` is
 * stopped once the layer is copied.
 */
export async function copyLayer(save: Readable, chains: readonly string[], allChains: readonly string[], digest: string, out: Writable): Promise<number> {
  const ex = entriesOf(save);
  const wanted = new Set(chains);
  const holds = new Set<string>(); // directories holding a wanted chain
  try {
    for await (const entry of ex) {
      const { name, type } = entry.header;
      const json = LAYER_JSON.exec(name);
      if (json && type === 'file') {
        const chain = chainOfLayerJson(json[1]!, (await readSmall(entry)).toString('utf8'), allChains);
        if (chain !== undefined && wanted.has(chain)) holds.add(json[1]!);
        continue;
      }
      const m = LAYER_FILE.exec(name);
      if (!m || !holds.has(m[1]!) || type !== 'file') {
        for await (const _ of entry);
        continue;
      }
      return await copyDigested(entry as AsyncIterable<Buffer>, digest, out, 'docker save');
    }
    throw failed(`docker save: no layer.tar for ${digest}`);
  } finally {
    save.destroy();
    ex.destroy();
  }
}
