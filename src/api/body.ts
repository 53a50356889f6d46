import type { IncomingMessage } from 'node:http';
import { invalid } from '../model/errors.js';

/** An error whose status the server's error answer uses as is (a 4xx): the body's size. */
export class BodyError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** Whether a request carries a body to read: GET and HEAD never do; others when they say so (length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || h['content-type'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/**
 * A request's JSON body (undefined when it has none, or an empty one), read
 * whole up to `limit` bytes: one declared larger is refused before a byte
 * is read, one that grows larger as it is read is refused then (413), and
 * one whose size is not its Content-Length is refused (400); so is one that
 * is not JSON. Each such refusal closes the connection (the client may be
 * sending still), as Fastify's did. The guard
 * refused every type but JSON (or none, as the seed's client sends) before.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!hasBody(req)) return Promise.resolve(undefined);
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new BodyError('Request body is too large', 413));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const done = (err?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) return reject(err);
      if (!Number.isNaN(declared) && received !== declared) return reject(new BodyError('Request body size did not match Content-Length', 400));
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, received).toString('utf8');
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(invalid('request body is not valid JSON'));
      }
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return done(new BodyError('Request body is too large', 413));
      chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(new BodyError(err.message, 400));
    // The client went away before the end: nobody to answer, but the reader is released.
    const onClose = () => done(new BodyError('request aborted', 400));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
