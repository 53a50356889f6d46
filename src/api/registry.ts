import type { ServerResponse } from 'node:http';
import type { Host } from '../host/context.js';
import { GearError, statusOfKind } from '../model/errors.js';
import { API_VERSION_HEADER, RegistryError, errorBody, manifestForm, parseV2Path, type RegistryErrorCode } from '../model/registry.js';
import { LocalRegistry } from '../operations/registry.js';
import type { JobQueue } from './jobs.js';
import type { AddRoute, Request } from './server.js';

/**
 * The agent's read-only registry: the pull side of the OCI distribution
 * API under /v2/ (operations/registry.ts), behind the listener's guard like
 * every route (guard.ts takes the token as a Basic password here, as a
 * stock Docker client sends it after `docker login`). Answers are written
 * raw: a HEAD carries the Content-Length of the GET, a blob streams.
 */

const JSON_UTF8 = 'application/json; charset=utf-8';

/** An error in the registry's form, with the header every /v2/ answer has. */
export function sendRegistryError(out: ServerResponse, status: number, code: RegistryErrorCode, message: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(errorBody(code, message));
  out.writeHead(status, { ...headers, ...API_VERSION_HEADER, 'content-type': JSON_UTF8, 'content-length': String(body.length) });
  out.end(body);
}

function answer(out: ServerResponse, head: boolean, headers: Record<string, string>, body: Buffer): void {
  out.writeHead(200, { ...API_VERSION_HEADER, ...headers, 'content-length': String(body.length) });
  out.end(head ? undefined : body);
}

export function registerRegistryRoutes(add: AddRoute, opts: { host: Host; jobs: JobQueue; log: (line: string) => void }): void {
  const registry = new LocalRegistry(opts.host, (job) => opts.jobs.run(job));

  const serve = async ({ req: request, res: out, path }: Request) => {
    const head = request.method === 'HEAD';
    try {
      const route = parseV2Path(path);
      if (route.kind === 'base') return answer(out, head, { 'content-type': JSON_UTF8 }, Buffer.from('{}'));
      if (route.kind === 'tags') {
        const tags = await registry.tags(route.name);
        return answer(out, head, { 'content-type': JSON_UTF8 }, Buffer.from(JSON.stringify({ name: route.name, tags })));
      }
      if (route.kind === 'manifest') {
        const m = await registry.manifest(route.name, route.ref, manifestForm(request.headers.accept));
        return answer(out, head, { 'content-type': m.mediaType, 'docker-content-digest': m.digest, etag: `"${m.digest}"` }, m.body);
      }
      const blob = await registry.blob(route.name, route.digest);
      const headers = { 'content-type': 'application/octet-stream', 'docker-content-digest': route.digest, etag: `"${route.digest}"`, 'cache-control': 'max-age=31536000' };
      if (blob.kind === 'config') return answer(out, head, headers, blob.body);
      if (head) {
        out.writeHead(200, { ...API_VERSION_HEADER, ...headers, 'content-length': String(blob.size) });
        return void out.end();
      }
      // In the job queue like /images/save: each blob is a `docker save`.
      await opts.jobs.run(async () => {
        out.writeHead(200, { ...API_VERSION_HEADER, ...headers, 'content-length': String(blob.size) });
        await registry.sendLayer(blob, route.digest, out).then(
          () => out.end(),
          (err: Error) => {
            opts.log(`registry: ${route.name} blob ${route.digest}: ${err.message}`);
            out.destroy(); // cut short: the client's length and digest checks fail, never a wrong blob
          },
        );
      });
    } catch (err) {
      if (out.headersSent) return void out.destroy();
      if (err instanceof RegistryError) return sendRegistryError(out, err.status, err.code, err.message);
      if (err instanceof GearError && err.kind !== 'failed') return sendRegistryError(out, statusOfKind[err.kind], 'UNSUPPORTED', err.message);
      opts.log(`registry: ${request.method} ${path}: ${(err as Error).stack ?? err}`);
      return sendRegistryError(out, 500, 'UNSUPPORTED', 'internal error');
    }
  };

  const readOnly = ({ res }: Request) => sendRegistryError(res, 405, 'UNSUPPORTED', 'this registry is read-only: images reach a gear host by gear push-image or docker pull');
  for (const url of ['/v2', '/v2/*']) {
    add(['GET', 'HEAD'], url, serve);
    add(['POST', 'PUT', 'PATCH', 'DELETE'], url, readOnly);
  }
}
