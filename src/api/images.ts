import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Host } from '../host/context.js';
import { invalid } from '../model/errors.js';
import { LoadQuerySchema, SaveBodySchema, loadImage, parseLoadRequest, parseSaveRequest, saveImage } from '../operations/images.js';
import type { JobQueue } from './jobs.js';
import type { AgentMetrics } from './metrics.js';
import type { AddRoute } from './server.js';

/** A pass-through that counts the bytes going through it (for the transfer metrics). */
function byteCounter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      t.bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/** The archive routes of an image transfer (operations/images.ts): bodies and answers are tar streams, never buffered. */
export const IMAGE_LOAD_PATH = '/images/load';
export const IMAGE_SAVE_PATH = '/images/save';
export const TAR = 'application/x-tar';

/** The one request whose body is not JSON: an image archive to load (guard.ts lets its type through, for this route only). */
export const isImageUpload = (method: string | undefined, url: string | undefined) => method === 'POST' && (url ?? '').split('?')[0] === IMAGE_LOAD_PATH;

export function registerImageRoutes(route: AddRoute, opts: { host: Host; jobs: JobQueue; log: (line: string) => void; metrics?: AgentMetrics }): void {
  // Only this route hands its body over as a stream, when it is an archive (no body limit: it is never held).
  route(
    'POST',
    IMAGE_LOAD_PATH,
    async ({ res, query, body: given }) => {
      const req = parseLoadRequest(query);
      const body = given as Readable | undefined;
      if (typeof body?.pipe !== 'function') throw invalid(`send the image archive as the body, with Content-Type: ${TAR}`);
      const counted = byteCounter();
      // A body cut before the load reads it (while its job waits in the queue, or before the checker is
      // made) leaves counted errored, and the checker fails at once on it (tar-filter.ts). Its 'error'
      // event has nobody else to hear it then: unheard, it would end the agent.
      counted.on('error', () => undefined);
      body.on('error', (err) => counted.destroy(err));
      const run = () => opts.jobs.run(() => loadImage(opts.host, req, body.pipe(counted)));
      const result = await (opts.metrics ? opts.metrics.timed('image-load', run) : run()).catch((err: Error) => {
        opts.metrics?.imageTransfer('received', counted.bytes, false);
        opts.log(`image ${req.Image} (${req.Id}) not loaded: ${err.message}`);
        throw err;
      });
      opts.metrics?.imageTransfer('received', counted.bytes, true);
      opts.log(`image ${result.Image} (${result.Id}) loaded: ${result.Layers.filter((l) => l.Received).length} of ${result.Layers.length} layers received, ${result.Bytes} bytes`);
      const answer = Buffer.from(JSON.stringify(result));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(answer.length) });
      res.end(answer);
    },
    TAR,
  );

  route('POST', IMAGE_SAVE_PATH, async ({ res: out, body }) => {
    const req = parseSaveRequest(body);
    const send = () =>
      opts.jobs.run(async () => {
        const { archive, report } = await saveImage(opts.host, req);
        out.writeHead(200, { 'content-type': TAR, 'x-content-type-options': 'nosniff' });
        // Backpressure end to end; a client that goes away stops docker save. A failure cuts the answer short: the receiver's check refuses it.
        const counted = byteCounter();
        const sent = await pipeline(archive, counted, out).then(
          () => true,
          () => (out.destroy(), false),
        );
        const reported = await report.then(
          () => true,
          (err) => (opts.log(`image ${req.Id}: sending failed: ${(err as Error).message}`), false),
        );
        opts.metrics?.imageTransfer('sent', counted.bytes, sent && reported);
      });
    await (opts.metrics ? opts.metrics.timed('image-save', send) : send());
  });
}

/** The archive routes in /openapi.json (the operations' routes are generated from their definitions). */
export const imageRoutesOpenApi = {
  [IMAGE_SAVE_PATH]: {
    post: {
      operationId: 'image-save',
      summary: 'docker save of an image of this host, without the layer.tar of the layers (chain IDs) in Have',
      requestBody: { required: true, content: { 'application/json': { schema: SaveBodySchema } } },
      responses: { 200: { description: 'the image archive', content: { [TAR]: {} } }, 400: { description: 'invalid request: {Message}' }, 404: { description: 'no such image: {Message}' } },
    },
  },
  [IMAGE_LOAD_PATH]: {
    post: {
      operationId: 'image-load',
      summary: 'Load an image archive, checked (names, every layer digest, the config) before Docker loads anything; tagged image',
      parameters: Object.keys(LoadQuerySchema.properties).map((name) => ({ name, in: 'query', required: true, schema: { type: 'string' } })),
      requestBody: { required: true, content: { [TAR]: {} } },
      responses: { 200: { description: '{Image, Id, Layers:[{DiffId, Received}], Bytes}' }, 400: { description: 'invalid request or refused archive: {Message}' }, 415: { description: `the body is not ${TAR}` } },
    },
  },
};
