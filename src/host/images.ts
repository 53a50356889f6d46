import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainIds } from '../model/image-archive.js';
import { failed, notFound } from '../model/errors.js';
import type { DockerStorage } from './layer-store.js';
import { readResponse } from './raw-response.js';

/** An image as a transfer needs it. */
export interface ImageInfo {
  Id: string;
  RepoTags: string[];
  /** rootfs.diff_ids, lowest first. */
  DiffIds: string[];
  Size: number;
}

/** An image in a listing of this host's images. */
export interface ImageListing {
  Id: string;
  /** NAME:TAG of each tag (none: an untagged image). */
  RepoTags: string[];
  Size: number;
  /** Unix seconds. */
  Created: number;
}

/**
 * What image transfers need of Docker: an image's id and layers, the chain
 * IDs of every layer this host has, `docker save` as a stream and `docker
 * load` of one. Docker's API over its socket with plain HTTP (not dockerode):
 * a load whose input fails must abort the request to Docker at once, so
 * that Docker sees a broken body and loads nothing.
 */
export interface Images {
  inspect(ref: string): Promise<ImageInfo | undefined>;
  /** The images `docker images` shows (tagged or not; no intermediate ones). */
  list(): Promise<ImageListing[]>;
  /** Chain IDs of the layers of every image here (intermediate ones too). */
  chains(): Promise<Set<string>>;
  /** `docker save` of one image: the legacy archive, as Docker writes it. */
  save(id: string): Promise<Readable>;
  /** Where and how Docker keeps images (its /info), for a sender that reads them directly (layer-store.ts). */
  storage(): Promise<DockerStorage | undefined>;
  /** `docker load` of an archive; rejects (and loads nothing) when the archive stream fails before its end. */
  load(archive: Readable): Promise<void>;
}

export class DockerImages implements Images {
  /** Layers per image id (an id's layers never change). */
  private readonly layersOf = new Map<string, string[]>();
  private storageAnswer?: Promise<DockerStorage | undefined>;

  constructor(private readonly socketPath: string) {}

  private call(method: string, path: string, headers: Record<string, string> = {}): { req: ReturnType<typeof request>; res: Promise<IncomingMessage> } {
    let req!: ReturnType<typeof request>;
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req = request({ socketPath: this.socketPath, method, path, headers }, resolve);
      req.on('error', (err) => reject(failed(`docker: ${method} ${path.split('?')[0]}: ${err.message}`)));
    });
    return { req, res };
  }

  private async json<T>(path: string): Promise<T | undefined> {
    const { req, res } = this.call('GET', path);
    req.end();
    const r = await res;
    const text = await readText(r);
    if (r.statusCode === 404) return undefined;
    if (r.statusCode !== 200) throw failed(`docker: GET ${path.split('?')[0]}: ${messageOf(text)}`);
    return JSON.parse(text) as T;
  }

  async inspect(ref: string): Promise<ImageInfo | undefined> {
    const i = await this.json<{ Id: string; RepoTags?: string[]; RootFS?: { Layers?: string[] }; Size?: number }>(`/images/${encodeURIComponent(ref)}/json`);
    if (!i) return undefined;
    return { Id: i.Id, RepoTags: i.RepoTags ?? [], DiffIds: i.RootFS?.Layers ?? [], Size: i.Size ?? 0 };
  }

  async list(): Promise<ImageListing[]> {
    const list = (await this.json<{ Id: string; RepoTags?: string[] | null; Size?: number; Created?: number }[]>('/images/json')) ?? [];
    // Docker writes "<none>:<none>" for an untagged image: no tag at all here.
    return list.map((i) => ({ Id: i.Id, RepoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'), Size: i.Size ?? 0, Created: i.Created ?? 0 }));
  }

  async chains(): Promise<Set<string>> {
    const list = (await this.json<{ Id: string }[]>('/images/json?all=1')) ?? [];
    const have = new Set<string>();
    const known = new Set(list.map((i) => i.Id));
    for (const id of this.layersOf.keys()) if (!known.has(id)) this.layersOf.delete(id); // removed images
    for (const { Id } of list) {
      let layers = this.layersOf.get(Id);
      if (!layers) {
        layers = (await this.inspect(Id))?.DiffIds ?? [];
        this.layersOf.set(Id, layers);
      }
      for (const c of chainIds(layers)) have.add(c);
    }
    return have;
  }

  async storage(): Promise<DockerStorage | undefined> {
    // Asked once (Docker's /info is slow, and its storage does not change while it runs); a failure is asked again.
    this.storageAnswer ??= this.json<{ Driver?: string; DockerRootDir?: string }>('/info').then(
      (info) => (info?.Driver && info.DockerRootDir ? { driver: info.Driver, rootDir: info.DockerRootDir } : undefined),
      (err: Error) => {
        this.storageAnswer = undefined;
        throw err;
      },
    );
    return this.storageAnswer;
  }

  async save(id: string): Promise<Readable> {
    // Read off a plain socket (raw-response.ts), not node:http: the answer is the whole image, and that read sets the sender's pace.
    const path = `/images/get?names=${encodeURIComponent(id)}`;
    const socket = connect(this.socketPath);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`);
    const r = await readResponse(socket).catch((err: Error) => {
      throw failed(`docker: GET /images/get: ${err.message}`);
    });
    if (r.status === 404) {
      r.body.destroy();
      throw notFound(`image ${id} is not on this host`);
    }
    if (r.status !== 200) throw failed(`docker: save ${id}: ${messageOf(await readText(r.body).catch(() => ''))}`);
    return r.body;
  }

  async load(archive: Readable): Promise<void> {
    const { req, res } = this.call('POST', '/images/load?quiet=1', { 'content-type': 'application/x-tar' });
    // pipeline destroys the request when the archive fails: Docker sees a cut body and loads nothing.
    const sent = pipeline(archive, batchedBody(req));
    const answer = res.then(async (r) => ({ status: r.statusCode ?? 0, text: await readText(r) }));
    await sent.catch(async (err) => {
      answer.catch(() => undefined);
      throw err;
    });
    const { status, text } = await answer;
    // Docker answers 200 and then a line {"error": ...} when the load fails.
    const error = text.split('\n').map((l) => (l.trim() ? tryJson(l) : undefined)).find((l) => l?.error || l?.errorDetail);
    if (status !== 200 || error) throw failed(`docker load: ${error ? (error.errorDetail?.message ?? error.error) : messageOf(text)}`);
  }
}

/**
 * A request body written in batches: the pieces that came while the last
 * batch was on its way go out together, as one HTTP chunk and one writev.
 * An archive arrives in TLS records of 16 KiB; written one by one, each
 * was a system call and a wake-up of Docker (85 µs apiece, the receiving
 * agent's largest cost).
 */
function batchedBody(req: ClientRequest): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    writev(pieces, done) {
      req.cork();
      pieces.forEach(({ chunk }, i) => (i === pieces.length - 1 ? req.write(chunk, (err) => (err ? done(err) : setImmediate(done))) : req.write(chunk)));
      req.uncork();
    },
    final(done) {
      req.end(done);
    },
    destroy(err, done) {
      if (err) req.destroy(err);
      done(err);
    },
  });
}

async function readText(r: Readable): Promise<string> {
  let text = '';
  for await (const chunk of r) text += chunk;
  return text;
}

const tryJson = (line: string): { error?: string; errorDetail?: { message?: string } } | undefined => {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
};

const messageOf = (text: string) => (tryJson(text) as { message?: string } | undefined)?.message ?? (text.trim() || 'no answer');
