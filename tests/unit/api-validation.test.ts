import { createServer, type Server } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tagRequest } from '../../src/api/guard.js';
import { JobQueue } from '../../src/api/jobs.js';
import { RequestLog } from '../../src/api/requests.js';
import { buildServer } from '../../src/api/server.js';
import type { Host } from '../../src/host/context.js';
import { operations } from '../../src/operations/index.js';

/**
 * The agent validates with the operations' parse() and nothing else: its
 * 400s carry parse()'s messages word for word (Fastify's own validator,
 * ajv, words them differently), and no bad request reaches run(). The
 * schemas are still published in /openapi.json.
 */
let server: Server;
let base = '';
let ran = 0;

test.before(async () => {
  // Any use of the host means run() was reached.
  const host = new Proxy({}, { get: () => void ran++ }) as unknown as Host;
  const app = await buildServer({ host, jobs: new JobQueue(), requests: new RequestLog(undefined as never, '/nonexistent') });
  server = createServer((req, res) => {
    tagRequest(req, { kind: 'unix' });
    app.routing(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

test.after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; message: string }> {
  const r = await fetch(`${base}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, message: ((await r.json()) as { Message: string }).Message };
}

/** What the CLI's local mode says for the same request. */
function parseMessage(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
}

test('bad requests get 400 with the message parse() gives the CLI, and never run', async () => {
  const cases: [string, string, unknown, () => unknown][] = [
    ['PUT', '/container/c-1', { Image: 5 }, () => operations.install.parse({ params: { id: 'c-1' }, query: {}, body: { Image: 5 } })],
    ['PUT', '/container/c-1', { Image: 'test/web', Ports: [{ Internal: '8080' }] }, () => operations.install.parse({ params: { id: 'c-1' }, query: {}, body: { Image: 'test/web', Ports: [{ Internal: '8080' }] } })],
    ['PUT', '/container/c-1', { Image: 'test/web', VolumeConfig: { Volumes: ['/a'], X: 1 } }, () => operations.install.parse({ params: { id: 'c-1' }, query: {}, body: { Image: 'test/web', VolumeConfig: { Volumes: ['/a'], X: 1 } } })],
    ['PUT', '/container/c-1', undefined, () => operations.install.parse({ params: { id: 'c-1' }, query: {}, body: undefined })],
    ['POST', '/containers/links', { Links: [] }, () => operations.link.parse({ params: {}, query: {}, body: { Links: [] } })],
    ['PATCH', '/environment/c-1', { Variables: 'A=B' }, () => operations.patchEnv.parse({ params: { id: 'c-1' }, query: {}, body: { Variables: 'A=B' } })],
    ['GET', '/containers?all=1&all=0', undefined, () => operations.list.parse({ params: {}, query: { all: ['1', '0'] } as never })],
    ['DELETE', '/container/c-1?bogus=1', undefined, () => operations.remove.parse({ params: { id: 'c-1' }, query: { bogus: '1' } })],
  ];
  for (const [method, path, body, parse] of cases) {
    const expected = parseMessage(parse);
    assert.ok(expected.startsWith('invalid request: '), expected);
    assert.equal(await call(method, path, body), { status: 400, message: expected }, `${method} ${path}`);
  }
  assert.is(ran, 0, 'no bad request reached run()');
});

test('/openapi.json publishes the schemas parse() runs', async () => {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> }; parameters: { name: string; in: string }[] }>>;
  };
  const install = doc.paths['/container/{id}']!.put!.requestBody!.content['application/json']!.schema;
  assert.is(install.additionalProperties, false);
  assert.equal((install as { required: string[] }).required, ['Image']);
  // Ports: a list, or null (as geard's client may send it).
  const ports = (install as { properties: { Ports: { anyOf: { type: string; items: Record<string, unknown> }[] } } }).properties.Ports.anyOf;
  assert.equal(ports.map((p) => p.type), ['array', 'null']);
  const port = ports[0]!.items;
  assert.equal(port, JSON.parse(JSON.stringify(operations.install.body)).properties.Ports.anyOf[0].items);
  assert.equal((port as { properties: { Internal: unknown } }).properties.Internal, { type: 'integer', minimum: 1, maximum: 65535 });
  const list = doc.paths['/containers']!.get!.parameters.filter((p) => p.in === 'query').map((p) => p.name);
  assert.equal(list, ['all']);
});

test.run();
