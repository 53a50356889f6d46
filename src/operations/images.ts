import { Type, type Static } from '@sinclair/typebox';
import { Transform, type Readable } from 'node:stream';
import type { Host } from '../host/context.js';
import type { ImageListing } from '../host/images.js';
import type { StoredImage } from '../host/layer-store.js';
import type { LayerEvent, SendReport } from '../host/image-stream.js';
import { failed, invalid, notFound } from '../model/errors.js';
import { DIGEST, chainIds, transferImage, validateImageId } from '../model/image-archive.js';
import { validateImage } from '../model/names.js';
import { SchemaCheck, closed } from '../model/schema.js';
import { defineOperation } from './operation.js';

/**
 * Image transfer between hosts (agent to agent, or this host and an agent):
 *   1. the sender's image: id and diff ids (imageInspect);
 *   2. which of its layers the receiver has, by chain ID (imageLayers);
 *   3. the sender's `docker save` without those layers (saveImage);
 *   4. the receiver checks every layer and the config, then loads (loadImage).
 * Steps 1 and 2 are ordinary operations; 3 and 4 move an archive stream
 * (the agent's routes in api/images.ts; here, on this host, directly).
 */

const Digest = Type.String({ pattern: DIGEST.source, maxLength: 71 });
const MAX_LAYERS = 1000;

export interface ImageSummary {
  Image: string;
  Id: string;
  /** Diff ids, lowest first. */
  Layers: string[];
  Size: number;
}

export const imageInspect = defineOperation({
  name: 'image-inspect',
  method: 'GET',
  path: '/images/inspect',
  summary: 'An image of this host: its id, its layers (diff ids, lowest first) and size (404 when it is not here)',
  query: Type.Object({ image: Type.String({ minLength: 1, maxLength: 255 }) }, closed),
  mutates: false,
  parse: ({ query }) => ({ Image: validateImage(query.image) }),
  async run(host, req): Promise<ImageSummary> {
    const info = await host.images.inspect(req.Image);
    if (!info) throw notFound(`image ${req.Image} is not on this host`);
    return { Image: req.Image, Id: info.Id, Layers: info.DiffIds, Size: info.Size };
  },
});

export const imageList = defineOperation({
  name: 'images',
  method: 'GET',
  path: '/images',
  summary: "This host's images (as `docker images` shows them): {Images:[{Id, RepoTags, Size, Created}]}, by tag",
  query: Type.Object({}, closed),
  mutates: false,
  parse: () => ({}),
  async run(host): Promise<{ Images: ImageListing[] }> {
    const images = await host.images.list();
    const key = (i: ImageListing) => i.RepoTags[0] ?? '\uffff' + i.Id; // untagged last
    return { Images: images.sort((a, b) => key(a).localeCompare(key(b))) };
  },
});

export const imageLayers = defineOperation({
  name: 'image-layers',
  method: 'POST',
  path: '/images/layers',
  summary: 'Which of these layers (chain IDs) this host has: a sender then leaves them out of the archive it sends',
  body: Type.Object({ Layers: Type.Array(Digest, { maxItems: MAX_LAYERS }) }, closed),
  mutates: false,
  parse: ({ body }) => ({ Layers: body.Layers }),
  async run(host, req): Promise<{ Have: string[] }> {
    const have = await host.images.chains();
    return { Have: req.Layers.filter((c) => have.has(c)) };
  },
});

export const imagePull = defineOperation({
  name: 'image-pull',
  method: 'POST',
  path: '/images/pull',
  summary: "Pull an image from its registry unless this host has it: {Image, Id, Pulled} (a deploy's one pull of an image no host has)",
  body: Type.Object({ Image: Type.String({ minLength: 1, maxLength: 255 }) }, closed),
  mutates: true,
  parse: ({ body }) => ({ Image: validateImage(body.Image) }),
  async run(host, req, progress): Promise<{ Image: string; Id: string; Pulled: boolean }> {
    const had = await host.images.inspect(req.Image);
    if (had) return { Image: req.Image, Id: had.Id, Pulled: false };
    progress.note?.(`pulling ${req.Image}`);
    await host.docker.pull(req.Image, (p) => progress.pull?.(req.Image, p));
    const info = await host.images.inspect(req.Image);
    if (!info) throw failed(`image ${req.Image} is not on this host after pulling it`);
    return { Image: req.Image, Id: info.Id, Pulled: true };
  },
});

// --- The archive stream (not JSON: routes of their own in api/images.ts) ---

export const SaveBodySchema = Type.Object({ Id: Digest, Have: Type.Array(Digest, { maxItems: MAX_LAYERS }) }, closed);
export type SaveRequest = Static<typeof SaveBodySchema>;
const saveBody = new SchemaCheck(SaveBodySchema);
export const parseSaveRequest = (body: unknown): SaveRequest => saveBody.check(body, 'body/', 'invalid request: ');

export const LoadQuerySchema = Type.Object({ image: Type.String({ minLength: 1, maxLength: 255 }), id: Digest }, closed);
export interface LoadRequest {
  /** NAME:TAG the image is loaded under. */
  Image: string;
  Id: string;
}
const loadQuery = new SchemaCheck(LoadQuerySchema);
export function parseLoadRequest(query: unknown): LoadRequest {
  const q = loadQuery.check(query, 'query/', 'invalid request: ');
  return { Image: transferImage(q.image), Id: validateImageId(q.id) };
}

export interface LoadResult {
  Image: string;
  Id: string;
  /** Each layer, lowest first: its diff id and whether its bytes came (false: it was here). */
  Layers: { DiffId: string; Received: boolean }[];
  /** Bytes of the layers received. */
  Bytes: number;
}

/** The archive streams (and tar-stream), loaded when a transfer first needs them: other commands do not pay for them. */
const streams = () => import('../host/image-stream.js');

/**
 * An image of this host as an archive, without the layers the receiver has:
 * read from Docker's layer store when this process can read all of it
 * (host/layer-store.ts), else `docker save` filtered in flight.
 */
export async function saveImage(host: Host, req: SaveRequest, onLayer?: (e: LayerEvent) => void): Promise<{ archive: Readable; report: Promise<SendReport> }> {
  const info = await host.images.inspect(req.Id);
  if (!info) throw notFound(`image ${req.Id} is not on this host`);
  const have = new Set(req.Have);
  const { filterForReceiver, archiveFromStore } = await streams();
  const stored = await fromLayerStore(host, info.Id, have);
  if (stored) return archiveFromStore(stored, have, onLayer);
  return filterForReceiver(await host.images.save(info.Id), info.DiffIds, have, onLayer);
}

/** The image from Docker's layer store when the store can give every layer the receiver lacks (one it has is only named, in progress). */
async function fromLayerStore(host: Host, id: string, have: ReadonlySet<string>): Promise<StoredImage | undefined> {
  const { LayerStore } = await import('../host/layer-store.js');
  const image = await (await LayerStore.ofHost(host))?.image(id);
  if (!image) return undefined;
  const chains = chainIds(image.diffIds);
  return chains.every((c, i) => have.has(c) || image.layers[i]) ? image : undefined;
}

/**
 * Load an archive into this host's Docker, checked on the way in: nothing
 * is loaded unless every layer and the config are what the archive says
 * and the image is the one asked for. The checker's verdict wins over
 * Docker's (it names the fault).
 */
export async function loadImage(host: Host, req: LoadRequest, body: Readable, onLayer?: (e: LayerEvent) => void): Promise<LoadResult> {
  const have = await host.images.chains();
  const { verifyForLoad } = await streams();
  const { archive, report } = verifyForLoad(body, { tag: req.Image, id: req.Id, have }, onLayer);
  const [checked, loaded] = await Promise.allSettled([report, host.images.load(archive)]);
  if (checked.status === 'rejected') throw checked.reason;
  if (loaded.status === 'rejected') throw loaded.reason;
  const r = checked.value;
  return { Image: req.Image, Id: r.id, Layers: r.layers.map((l) => ({ DiffId: l.diffId, Received: l.received })), Bytes: r.bytes };
}

/** One end of a transfer: this host, or an agent (api/image-client.ts). */
export interface ImagePeer {
  inspect(image: string): Promise<ImageSummary>;
  /** Of these chain IDs, those it has. */
  layersHad(chains: string[]): Promise<string[]>;
  save(req: SaveRequest, onLayer?: (e: LayerEvent) => void): Promise<{ archive: Readable; done: Promise<unknown> }>;
  load(req: LoadRequest, archive: Readable, onLayer?: (e: LayerEvent) => void): Promise<LoadResult>;
}

/** This host as an end of a transfer (the CLI on the host, run as root). */
export function localImagePeer(host: Host): ImagePeer {
  return {
    inspect: (image) => imageInspect.run(host, imageInspect.parse({ params: {}, query: { image } }), {}),
    layersHad: async (chains) => (await imageLayers.run(host, imageLayers.parse({ params: {}, query: {}, body: { Layers: chains } }), {})).Have,
    async save(req, onLayer) {
      const { archive, report } = await saveImage(host, parseSaveRequest(req), onLayer);
      return { archive, done: report };
    },
    load: (req, archive, onLayer) => loadImage(host, req, archive, onLayer),
  };
}

/** What a transfer reports as it goes. */
export interface TransferProgress {
  /** The image and its id, and how many layers the receiver lacks, once known. */
  start?(image: ImageSummary, missing: number): void;
  /** A layer sent or left out (from whichever end runs here). */
  layer?(e: LayerEvent): void;
  /** Bytes of archive passed so far. */
  bytes?(total: number): void;
}

export interface TransferResult extends LoadResult {
  /** Bytes of archive that travelled (layers and metadata). */
  Transferred: number;
}

/**
 * One image from one end to the other: only the layers the receiver lacks
 * travel; the receiver checks and loads. The receiver's verdict wins over
 * the sender's error (the sender fails too when its stream is cut).
 */
export async function transfer(from: ImagePeer, to: ImagePeer, image: string, progress: TransferProgress = {}): Promise<TransferResult> {
  const tag = transferImage(image);
  const info = await from.inspect(tag);
  const chains = chainIds(info.Layers);
  if (chains.length === 0 || chains.length > MAX_LAYERS) throw invalid(`image ${tag} has ${chains.length} layers: 1 to ${MAX_LAYERS} can be sent`);
  const have = await to.layersHad(chains);
  progress.start?.(info, chains.length - have.length);
  const { archive, done } = await from.save({ Id: info.Id, Have: have }, progress.layer);
  let total = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      progress.bytes?.(total);
      done(null, chunk);
    },
  });
  archive.on('error', (err) => counted.destroy(err));
  archive.pipe(counted);
  // Whichever end fails first names the fault: the other end only sees its stream cut (a sender that
  // refused its own archive leaves the receiver with a reset connection, and the other way round).
  let first: { reason: unknown } | undefined;
  const note = (err: unknown) => {
    first ??= { reason: err };
    throw err;
  };
  // A receiver that answers before taking the whole archive (it refused it) stops the sender too: nobody would read the rest.
  const loading = to
    .load({ Image: tag, Id: info.Id }, counted, progress.layer)
    .catch(note)
    .finally(() => archive.destroy());
  const [loaded, sent] = await Promise.allSettled([loading, Promise.resolve(done).catch(note)]);
  if (first) throw first.reason;
  if (loaded.status === 'rejected') throw loaded.reason;
  if (sent.status === 'rejected') throw sent.reason;
  return { ...loaded.value, Transferred: total };
}
