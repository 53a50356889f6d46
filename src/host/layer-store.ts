import { createHash } from 'node:crypto';
import { constants, createReadStream, promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { failed } from '../model/errors.js';
import { chainIds, configDiffIds } from '../model/image-archive.js';
import { TarSplitError, parseTarSplitLine, type TarSplitPart } from '../model/tar-split.js';
import type { Host } from './context.js';
import type { HostFs } from './fs.js';

/**
 * Docker's own image store (overlay2), read directly, for a sender that can
 * read it (root on the host): an image's config from the image database and
 * each layer's tar rebuilt byte for byte from Docker's tar-split record and
 * the files of the layer's directory (model/tar-split.ts). This is what
 * `docker save` does inside Docker, without its first step: Docker 20.10
 * writes every layer of the image to a temporary directory before the first
 * byte of the archive leaves (about 2 s for 200 MB), and reads it all back.
 *
 * Read only, and nothing is trusted: the config is hashed against the image
 * id here, and the receiver hashes every layer against the config's diff
 * ids, as for `docker save`'s archive. Anything this reader does not
 * understand (another storage driver, a missing record) makes the caller use
 * `docker save` instead, decided before the first byte is sent.
 */

/** How Docker stores images, from its /info. */
export interface DockerStorage {
  driver: string;
  rootDir: string;
}

/** One layer as a tar: its size (for the archive's header) and its bytes, read when asked. */
export interface StoredLayer {
  size: number;
  read(): AsyncGenerator<Buffer>;
}

/** An image as the store holds it: its config, and per place (lowest first) its layer, undefined where the store cannot give it. */
export interface StoredImage {
  diffIds: string[];
  config: Buffer;
  layers: (StoredLayer | undefined)[];
}

/** Bytes per read of a layer's file: large pieces, so fewer pass through the streams after it. */
const PIECE = 256 * 1024;

const HEX64 = /^[a-f0-9]{64}$/;

export class LayerStore {
  private constructor(
    private readonly fs: HostFs,
    private readonly imageDir: string,
    private readonly layersDir: string,
  ) {}

  /** The store, when Docker keeps images where and how this reader knows. */
  static async open(fs: HostFs, storage: DockerStorage | undefined): Promise<LayerStore | undefined> {
    if (!storage || storage.driver !== 'overlay2' || !storage.rootDir.startsWith('/')) return undefined;
    const store = new LayerStore(fs, `${storage.rootDir}/image/overlay2`, `${storage.rootDir}/overlay2`);
    return (await fs.exists(`${store.imageDir}/layerdb/sha256`)) ? store : undefined;
  }

  /** This host's store, unless GEAR_IMAGE_EXPORT=docker-save or Docker keeps images where or how this reader does not know. */
  static async ofHost(host: Pick<Host, 'config' | 'fs' | 'images'>): Promise<LayerStore | undefined> {
    if (host.config.imageExport === 'docker-save') return undefined;
    return LayerStore.open(host.fs, await host.images.storage().catch(() => undefined));
  }

  /** An image: its config (checked against the id) and each place's layer (its whole record read once, for the size); undefined without the config. */
  async image(id: string): Promise<StoredImage | undefined> {
    const config = await this.config(id);
    if (!config) return undefined;
    const diffIds = configDiffIds(config.toString('utf8'));
    return { diffIds, config, layers: await Promise.all(chainIds(diffIds).map((c) => this.layer(c))) };
  }

  /** The image config's bytes, which hash to the id; undefined when not there as such. */
  async config(id: string): Promise<Buffer | undefined> {
    const hex = /^sha256:([a-f0-9]{64})$/.exec(id)?.[1];
    if (!hex) return undefined;
    const bytes = await fsp.readFile(this.fs.local(`${this.imageDir}/imagedb/content/sha256/${hex}`)).catch(() => undefined);
    if (!bytes || createHash('sha256').update(bytes).digest('hex') !== hex) return undefined;
    return bytes;
  }

  /** A layer (by chain id) as a tar; undefined when its record or directory is not there. Reads its whole record once, for the size. */
  async layer(chainId: string): Promise<StoredLayer | undefined> {
    const hex = /^sha256:([a-f0-9]{64})$/.exec(chainId)?.[1];
    if (!hex) return undefined;
    const dbDir = this.fs.local(`${this.imageDir}/layerdb/sha256/${hex}`);
    const cacheId = (await fsp.readFile(`${dbDir}/cache-id`, 'utf8').catch(() => '')).trim();
    if (!HEX64.test(cacheId)) return undefined;
    const record = `${dbDir}/tar-split.json.gz`;
    const diff = await fsp.realpath(this.fs.local(`${this.layersDir}/${cacheId}/diff`)).catch(() => undefined);
    if (!diff) return undefined;
    let size = 0;
    try {
      for await (const part of parts(record)) size += part.kind === 'bytes' ? part.bytes.length : part.size;
    } catch (err) {
      if (err instanceof TarSplitError) return undefined;
      throw err;
    }
    return { size, read: () => layerBytes(record, diff) };
  }
}

/** The record's parts in order. */
async function* parts(record: string): AsyncGenerator<TarSplitPart> {
  // pipeline, not pipe: a file that cannot be read must fail this reader, not go unheard as an 'error' event.
  const input = createGunzip();
  pipeline(createReadStream(record), input).catch(() => undefined); // its error reaches the gunzip, and so the lines below
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const part = parseTarSplitLine(line);
      if (part) yield part;
    }
  } catch (err) {
    // A broken gzip stream or a cut file: the record cannot be read.
    if (err instanceof TarSplitError) throw err;
    throw new TarSplitError(`tar-split record: ${(err as Error).message}`);
  } finally {
    lines.close();
    input.destroy();
  }
}

/** The layer's tar: the record's bytes, and each file's content read from the layer's directory. */
async function* layerBytes(record: string, diff: string): AsyncGenerator<Buffer> {
  try {
    for await (const part of parts(record)) {
      if (part.kind === 'bytes') {
        if (part.bytes.length > 0) yield part.bytes;
      } else yield* fileBytes(diff, part.path, part.size);
    }
  } catch (err) {
    // Read once already (for the size): a record that fails now changed under the transfer.
    if (err instanceof TarSplitError) throw failed(`layer store: ${err.message}`);
    throw err;
  }
}

/**
 * Exactly `size` bytes of a regular file below `diff`. Docker's extraction
 * keeps every path inside the layer, and this checks it again: the file's
 * real path must lie below the directory, and the file must be the size the
 * record says (a changed layer fails here, or at the receiver's hash).
 */
async function* fileBytes(diff: string, path: Buffer, size: number): AsyncGenerator<Buffer> {
  const name = path.toString('utf8').slice(0, 200);
  const below = Buffer.from(`${diff}/`);
  const cannot = (err: Error) => {
    throw failed(`layer store: ${name}: ${err.message}`);
  };
  const real = await fsp.realpath(Buffer.concat([below, path]), { encoding: 'buffer' }).catch(cannot);
  if (!real.subarray(0, below.length).equals(below)) throw failed(`layer store: ${name} lies outside its layer`);
  const file = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch(cannot);
  try {
    const stat = await file.stat();
    if (!stat.isFile() || stat.size !== size) throw failed(`layer store: ${name} is not the ${size}-byte file its layer's record names`);
    for (let left = size; left > 0; ) {
      const piece = Buffer.allocUnsafe(Math.min(PIECE, left));
      const { bytesRead } = await file.read(piece, 0, piece.length, size - left);
      if (bytesRead === 0) throw failed(`layer store: ${name} ended early`);
      left -= bytesRead;
      yield bytesRead === piece.length ? piece : piece.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
