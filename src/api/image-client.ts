import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { imageInspect, imageLayers, type ImagePeer, type LoadResult } from '../operations/images.js';
import { errorFrom, readAll, type AgentClient } from './client.js';
import { IMAGE_LOAD_PATH, IMAGE_SAVE_PATH, TAR } from './images.js';

/** An agent as an end of an image transfer: its JSON operations, and its archive routes (api/images.ts). */
export function remoteImagePeer(client: AgentClient): ImagePeer {
  const label = client.address.label;
  const fail = async (res: IncomingMessage) => errorFrom(res.statusCode ?? 0, await readAll(res), label);
  return {
    inspect: (image) => client.call(imageInspect, { params: {}, query: { image } }),
    layersHad: async (chains) => (await client.call(imageLayers, { params: {}, query: {}, body: { Layers: chains } })).Have,
    async save(req) {
      const res = await client.send('POST', IMAGE_SAVE_PATH, { body: req, accept: TAR });
      if (res.statusCode !== 200) throw await fail(res);
      return { archive: res, done: finished(res) };
    },
    async load(req, archive: Readable): Promise<LoadResult> {
      const query = new URLSearchParams({ image: req.Image, id: req.Id });
      const res = await client.send('POST', `${IMAGE_LOAD_PATH}?${query}`, { upload: archive, uploadType: TAR, accept: 'application/json' });
      if (res.statusCode !== 200) throw await fail(res);
      return JSON.parse(await readAll(res)) as LoadResult;
    },
  };
}
