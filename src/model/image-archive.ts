import { createHash } from 'node:crypto';
import { invalid } from './errors.js';
import { validateImage } from './names.js';

/**
 * The pure part of moving an image between hosts in Docker's legacy image
 * archive (what `docker save` of Docker 20.10 writes and `docker load`
 * reads): names of its entries, chain IDs, which layer a layer directory
 * holds, and the checks a receiver makes before anything is loaded.
 *
 *   manifest.json          [{Config: "<hex>.json", RepoTags, Layers: ["<dir>/layer.tar", ...]}]
 *   <hex>.json             the image config; sha256 of its bytes is the image id
 *   <dir>/                 one per layer (dir: 64 hex digits, Docker's v1 id)
 *   <dir>/VERSION, json    legacy metadata
 *   <dir>/layer.tar        the layer, uncompressed: its sha256 is rootfs.diff_ids[i]
 *   repositories           legacy tags (ignored: the receiver writes its own manifest)
 */

export const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HEX = /^[a-f0-9]{64}$/;

export const sha256 = (data: string | Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** chainID(L1) = L1; chainID(L1..Ln) = sha256(chainID(L1..Ln-1) + " " + Ln). */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = [];
  for (const d of diffIds) chains.push(chains.length ? sha256(`${chains[chains.length - 1]} ${d}`) : d);
  return chains;
}

/**
 * An image named for a transfer: a valid reference with a tag (":latest"
 * when none is written), so that the receiver can tag what it loads. A
 * digest (`@sha256:...`) names no tag to load under: refused.
 */
export function transferImage(ref: unknown): string {
  const image = validateImage(ref);
  if (image.includes('@')) throw invalid(`image ${JSON.stringify(image)}: name it by NAME[:TAG] to transfer it, not by digest`);
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  return lastPart.includes(':') ? image : `${image}:latest`;
}

/** An image id as the API and Docker write it. */
export function validateImageId(id: unknown, what = 'image id'): string {
  if (typeof id !== 'string' || !DIGEST.test(id)) throw invalid(`${what} must be sha256: and 64 lowercase hexadecimal digits`);
  return id;
}

/** What an entry of the archive is; anything else is refused (no other name, no link, no device). */
export type ArchiveEntry =
  | { kind: 'manifest' }
  | { kind: 'repositories' }
  | { kind: 'config'; hex: string }
  | { kind: 'layer-dir'; dir: string }
  | { kind: 'layer-file'; dir: string; file: 'VERSION' | 'json' | 'layer.tar' }
  /** `<dir>/layer.tar` as a symlink to `../<target>/layer.tar`: docker save's second occurrence of a layer. */
  | { kind: 'layer-link'; dir: string; target: string };

/** The largest metadata entry (config, manifest, json) read into memory. */
export const MAX_METADATA_BYTES = 8 * 1024 * 1024;

/**
 * The entry named `name` of type `type` (tar-stream's header.type). Only the
 * names above are taken, as exact strings: `../x`, `/etc/passwd`, `a/./b`,
 * links and devices never match.
 */
export function classifyEntry(name: string, type: string | null | undefined, linkname?: string | null): ArchiveEntry {
  const bad = (why: string) => invalid(`image archive: entry ${JSON.stringify(name.slice(0, 200))} ${why}`);
  if (type === 'symlink') {
    // The one link taken: a layer.tar pointing at another layer directory's layer.tar, by exactly this relative path.
    const at = /^([a-f0-9]{64})\/layer\.tar$/.exec(name);
    const to = typeof linkname === 'string' ? /^\.\.\/([a-f0-9]{64})\/layer\.tar$/.exec(linkname) : null;
    if (!at || !to || at[1] === to[1]) throw bad('is a symlink: only <dir>/layer.tar -> ../<other dir>/layer.tar is taken');
    return { kind: 'layer-link', dir: at[1]!, target: to[1]! };
  }
  const file = type === 'file' || type === 'contiguous-file' || type == null;
  if (type === 'directory') {
    const dir = name.replace(/\/$/, '');
    if (!HEX.test(dir)) throw bad('is not a layer directory');
    return { kind: 'layer-dir', dir };
  }
  if (!file) throw bad(`is a ${type}: only files and layer directories are taken`);
  if (name === 'manifest.json') return { kind: 'manifest' };
  if (name === 'repositories') return { kind: 'repositories' };
  const config = /^([a-f0-9]{64})\.json$/.exec(name);
  if (config) return { kind: 'config', hex: config[1]! };
  const layer = /^([a-f0-9]{64})\/(VERSION|json|layer\.tar)$/.exec(name);
  if (layer) return { kind: 'layer-file', dir: layer[1]!, file: layer[2] as 'VERSION' | 'json' | 'layer.tar' };
  throw bad('is not part of an image archive');
}

/** Go's json.Marshal escapes these where JSON.stringify does not. */
const goEscape = (text: string) => text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * The chain ID a layer directory of `docker save` holds, or undefined when
 * it cannot be told. Docker names the directory with a v1 id: sha256 of its
 * `json` (without id and parent; lower layers also without os, set after)
 * with `layer_id` (the chain ID) and `parent` ("sha256:" + the parent's v1
 * id) added, keys sorted (moby image/v1.CreateID). The `json` entry comes
 * before `layer.tar` in the archive, so the sender knows which layer
 * follows before its first byte. A match is a proof (a sha256 preimage);
 * when none matches the sender sends the layer, so a change in Docker's
 * format costs bytes, never correctness.
 */
export function chainOfLayerJson(dir: string, jsonText: string, chains: readonly string[]): string | undefined {
  let v1: Record<string, unknown>;
  try {
    v1 = JSON.parse(jsonText) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!v1 || typeof v1 !== 'object' || Array.isArray(v1)) return undefined;
  const parent = typeof v1.parent === 'string' && HEX.test(v1.parent) ? `sha256:${v1.parent}` : undefined;
  for (const dropOs of [true, false]) {
    const fields: Record<string, unknown> = { ...v1 };
    delete fields.id;
    delete fields.parent;
    if (dropOs) delete fields.os;
    if (parent) fields.parent = parent;
    for (const chain of chains) {
      const all: Record<string, unknown> = { ...fields, layer_id: chain };
      const text = `{${Object.keys(all)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${goEscape(JSON.stringify(all[k]))}`)
        .join(',')}}`;
      if (sha256(text) === `sha256:${dir}`) return chain;
    }
  }
  return undefined;
}

/** The one image of an archive's manifest.json. */
export interface ArchiveManifest {
  /** The config's hex digest (its entry is `<hex>.json`). */
  config: string;
  /** The layer directories, lowest first. */
  layers: string[];
}

export function parseManifest(text: string): ArchiveManifest {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    throw invalid('image archive: manifest.json is not JSON');
  }
  if (!Array.isArray(items) || items.length !== 1) throw invalid('image archive: manifest.json must describe exactly one image');
  const m = items[0] as { Config?: unknown; Layers?: unknown };
  const config = typeof m?.Config === 'string' ? /^([a-f0-9]{64})\.json$/.exec(m.Config) : null;
  if (!config) throw invalid('image archive: manifest.json Config must be "<64 hex digits>.json"');
  if (!Array.isArray(m.Layers) || m.Layers.length === 0 || m.Layers.length > 1000) throw invalid('image archive: manifest.json Layers must list 1 to 1000 layers');
  const layers = m.Layers.map((l, i) => {
    const match = typeof l === 'string' ? /^([a-f0-9]{64})\/layer\.tar$/.exec(l) : null;
    if (!match) throw invalid(`image archive: manifest.json Layers[${i}] must be "<64 hex digits>/layer.tar"`);
    return match[1]!;
  });
  return { config: config[1]!, layers };
}

/** The diff ids of an image config. */
export function configDiffIds(text: string): string[] {
  let config: { rootfs?: { type?: unknown; diff_ids?: unknown } };
  try {
    config = JSON.parse(text);
  } catch {
    throw invalid('image archive: the image config is not JSON');
  }
  const ids = config?.rootfs?.diff_ids;
  if (config?.rootfs?.type !== 'layers' || !Array.isArray(ids) || ids.length === 0 || !ids.every((d) => typeof d === 'string' && DIGEST.test(d)))
    throw invalid('image archive: the image config has no valid rootfs.diff_ids');
  return ids as string[];
}

/** What a receiver saw of an archive, checked by checkArchive before anything is loaded. */
export interface ReceivedArchive {
  manifest?: ArchiveManifest;
  /** The config's hex digest as named by its entry, its bytes and their sha256. */
  config?: { hex: string; text: string; digest: string };
  /** Each layer.tar received: its directory and the sha256 of its bytes. */
  layerDigests: Map<string, string>;
  /** Each layer.tar received as a link: its directory and the directory whose layer.tar it names. */
  layerLinks?: Map<string, string>;
}

/** Per layer (lowest first): its diff id and whether its layer.tar came (false: the receiver has it). */
export interface CheckedLayer {
  diffId: string;
  received: boolean;
}

/**
 * Whether an archive may be loaded: the config is the image asked for (its
 * sha256 is its name and the expected id), the manifest names that config
 * and as many layers as the config has, every layer.tar that came has the
 * config's diff id for its place, every one that did not is a layer the
 * receiver has (by chain ID), and nothing came that the manifest does not name.
 */
export function checkArchive(a: ReceivedArchive, expectedId: string | undefined, have: ReadonlySet<string>): CheckedLayer[] {
  if (!a.config) throw invalid('image archive: no image config');
  if (!a.manifest) throw invalid('image archive: no manifest.json');
  const { config, manifest } = a;
  if (config.digest !== `sha256:${config.hex}`) throw invalid(`image archive: the config's content (${config.digest}) does not match its name sha256:${config.hex}`);
  if (expectedId && config.digest !== expectedId) throw invalid(`image archive: the image is ${config.digest}, not the ${expectedId} asked for`);
  if (manifest.config !== config.hex) throw invalid('image archive: manifest.json names another config than the one sent');
  const diffIds = configDiffIds(config.text);
  if (diffIds.length !== manifest.layers.length) throw invalid(`image archive: manifest.json lists ${manifest.layers.length} layers, the config ${diffIds.length}`);
  const chains = chainIds(diffIds);
  const named = new Set(manifest.layers);
  for (const dir of a.layerDigests.keys()) if (!named.has(dir)) throw invalid(`image archive: layer ${dir} is not named by manifest.json`);
  const links = a.layerLinks ?? new Map<string, string>();
  for (const [dir, target] of links) {
    if (!named.has(dir)) throw invalid(`image archive: layer ${dir} is not named by manifest.json`);
    // Only to a layer.tar whose bytes came (and were hashed): never to one the receiver lacks, nor to another link.
    if (!a.layerDigests.has(target)) throw invalid(`image archive: ${dir}/layer.tar links to ${target}/layer.tar, which was not received`);
  }
  return manifest.layers.map((dir, i) => {
    const target = links.get(dir);
    const got = target === undefined ? a.layerDigests.get(dir) : a.layerDigests.get(target);
    if (got === undefined) {
      if (!have.has(chains[i]!)) throw invalid(`image archive: layer ${i + 1} (${diffIds[i]}) is missing and is not on this host`);
      return { diffId: diffIds[i]!, received: false };
    }
    if (got !== diffIds[i]) throw invalid(`image archive: layer ${i + 1} has digest ${got}, the config says ${diffIds[i]}`);
    return { diffId: diffIds[i]!, received: true };
  });
}

/** The manifest.json a receiver loads with: the config and layers checked, tagged with the name it asked for (never the peer's tags). */
export const loadManifestText = (manifest: ArchiveManifest, tag: string) =>
  JSON.stringify([{ Config: `${manifest.config}.json`, RepoTags: [tag], Layers: manifest.layers.map((d) => `${d}/layer.tar`) }]);
