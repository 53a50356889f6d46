import type { Writable } from 'node:stream';
import type { Host } from '../host/context.js';
import type { LayerStore } from '../host/layer-store.js';
import { chainIds } from '../model/image-archive.js';
import { RegistryError, manifestOf, type ImageDescription, type ManifestForm, type Reference } from '../model/registry.js';

/** The image archive's reader (tar-stream): loaded by the first pull from this registry, not with the agent. */
const registrySource = () => import('../host/registry-source.js');

/**
 * This host's images as a read-only registry (the agent's /v2/ routes,
 * api/registry.ts). A repository is a local image name; its tags are the
 * local tags. Describing an image (for its manifest: the config and each
 * layer's size) reads Docker's layer store where the agent can
 * (host/layer-store.ts), else its `docker save` once; an image id names the
 * same bytes forever, so descriptions are kept (the last DESCRIPTIONS of
 * them). A blob is read from the layer store too, else out of `docker save`.
 */

const DESCRIPTIONS = 64;

/** A layer blob: its image, its size, the chain IDs of the places that hold it, and the image's chain IDs. */
export type Blob = { kind: 'config'; body: Buffer } | { kind: 'layer'; id: string; size: number; chains: string[]; allChains: string[] };

export class LocalRegistry {
  private readonly described = new Map<string, Promise<ImageDescription>>();

  /** `queue` runs each `docker save` (the agent's job queue: --max-jobs). */
  constructor(
    private readonly host: Host,
    private readonly queue: <T>(job: () => Promise<T>) => Promise<T> = (job) => job(),
  ) {}

  private describe(id: string): Promise<ImageDescription> {
    let p = this.described.get(id);
    if (p) {
      this.described.delete(id); // most recently used goes last
      this.described.set(id, p);
      return p;
    }
    p = this.queue(async () => (await this.describeStored(id)) ?? (await registrySource()).describeSave(await this.host.images.save(id), id));
    p.catch(() => this.described.delete(id));
    this.described.set(id, p);
    while (this.described.size > DESCRIPTIONS) this.described.delete(this.described.keys().next().value!);
    return p;
  }

  /** Docker's layer store, when this agent reads it (host/layer-store.ts; Docker's storage is asked once, host/images.ts). */
  private async store(): Promise<LayerStore | undefined> {
    const { LayerStore } = await import('../host/layer-store.js');
    return LayerStore.ofHost(this.host);
  }

  /** An image described from the layer store: its config, and each layer's size from its record; undefined when any part is not there. */
  private async describeStored(id: string): Promise<ImageDescription | undefined> {
    const image = await (await this.store())?.image(id);
    if (!image || image.layers.some((l) => !l)) return undefined;
    return { id, config: image.config, layers: image.diffIds.map((diffId, i) => ({ diffId, size: image.layers[i]!.size })) };
  }

  /** The images of a repository: id and tags, by tag. */
  private async repository(name: string): Promise<{ id: string; tags: string[] }[]> {
    const prefix = `${name}:`;
    const images = await this.host.images.list();
    return images
      .map((i) => ({ id: i.Id, tags: i.RepoTags.filter((t) => t.startsWith(prefix) && !t.slice(prefix.length).includes('/')).map((t) => t.slice(prefix.length)) }))
      .filter((i) => i.tags.length > 0);
  }

  async tags(name: string): Promise<string[]> {
    const images = await this.repository(name);
    if (images.length === 0) throw new RegistryError(404, 'NAME_UNKNOWN', `repository ${name} is not on this host`);
    return images.flatMap((i) => i.tags).sort();
  }

  async manifest(name: string, ref: Reference, form: ManifestForm): Promise<{ mediaType: string; body: Buffer; digest: string }> {
    const images = await this.repository(name);
    if ('tag' in ref) {
      const image = images.find((i) => i.tags.includes(ref.tag));
      if (!image) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest unknown: ${name}:${ref.tag} is not on this host`);
      return manifestOf(await this.describe(image.id), form);
    }
    // By digest: either form of any image of the repository.
    for (const image of images) {
      const d = await this.describe(image.id);
      for (const f of [form, form === 'oci' ? 'schema2' : 'oci'] as const) {
        const m = manifestOf(d, f);
        if (m.digest === ref.digest) return m;
      }
    }
    throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest unknown: ${name}@${ref.digest} is not on this host`);
  }

  async blob(name: string, digest: string): Promise<Blob> {
    const images = await this.repository(name);
    const byId = images.find((i) => i.id === digest);
    if (byId) return { kind: 'config', body: (await this.describe(byId.id)).config };
    for (const image of images) {
      const d = await this.describe(image.id);
      const places = d.layers.flatMap((l, i) => (l.diffId === digest ? [i] : []));
      if (places.length === 0) continue;
      const chains = chainIds(d.layers.map((l) => l.diffId));
      return { kind: 'layer', id: d.id, size: d.layers[places[0]!]!.size, chains: places.map((i) => chains[i]!), allChains: chains };
    }
    throw new RegistryError(404, 'BLOB_UNKNOWN', `blob unknown: ${digest} is not in ${name} on this host`);
  }

  /** A layer's bytes into `out`, checked against its digest on the way: from the layer store, else out of `docker save`. */
  async sendLayer(blob: Extract<Blob, { kind: 'layer' }>, digest: string, out: Writable): Promise<number> {
    const { copyDigested, copyLayer } = await registrySource();
    const stored = await (await this.store())?.layer(blob.chains[0]!);
    if (stored) return copyDigested(stored.read(), digest, out, 'layer store');
    return copyLayer(await this.host.images.save(blob.id), blob.chains, blob.allChains, digest, out);
  }
}
