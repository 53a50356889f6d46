import { imageRoutesOpenApi } from './images.js';
import { consoleOpenApi } from './console.js';
import { metricsOpenApi } from './metrics.js';
import { REQUEST_ID } from './requests.js';
import { MAX_NAME_LENGTH, NAME } from '../model/names.js';
import { operations, type Operation } from '../operations/index.js';
import { VERSION } from '../version.js';

/** An operation whose answer is the output of what it runs (jobs, builds). */
const outputResponses = {
  202: {
    description: 'the output as it comes (text/plain); the result as JSON in the X-Gear-Result trailer, or X-Gear-Error (URL-encoded) when it failed after the output began',
    content: { 'text/plain': {} },
  },
  400: { description: 'invalid request: {Message}' },
  401: { description: 'authentication required (TCP listeners with a token)' },
  404: { description: 'no such image: {Message}' },
  503: { description: 'the job queue is full: {Message}' },
};

/** The OpenAPI 3.1 document of the agent, generated from the operation definitions. */
export function openApiDocument(): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of Object.values(operations) as Operation<unknown, unknown>[]) {
    const path = op.path.replace(/:([A-Za-z]+)\*?/g, '{$1}');
    const params = [...op.path.matchAll(/:([A-Za-z]+)/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: NAME.source, maxLength: MAX_NAME_LENGTH },
    }));
    const query = op.query ? Object.keys((op.query as { properties?: object }).properties ?? {}).map((name) => ({ name, in: 'query', schema: { type: 'string' } })) : [];
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.name,
      summary: op.summary,
      parameters: [...params, ...query, { name: 'X-Request-Id', in: 'header', required: false, schema: { type: 'string', pattern: REQUEST_ID.source } }],
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
      responses: op.http?.output ? outputResponses : {
        [String(op.http?.status ?? 200)]: { description: 'success (JSON; text/plain when asked and available)' },
        204: { description: 'success without a body' },
        ...(op.mutates ? { 202: { description: 'progress streamed as text lines (Accept: text/plain;stream=true)' } } : {}),
        400: { description: 'invalid request: {Message}' },
        401: { description: 'authentication required (TCP listeners with a token)' },
        404: { description: 'no such container: {Message}' },
        409: { description: 'already exists, or port taken: {Message}' },
        429: { description: 'the container is busy with another operation: {Message}' },
        503: { description: 'the job queue is full: {Message}' },
      },
    };
  }
  Object.assign(paths, imageRoutesOpenApi, metricsOpenApi, consoleOpenApi);
  return {
    openapi: '3.1.0',
    info: { title: 'gear agent', version: VERSION, description: 'Containers as systemd units. Compatible with the geard API.' },
    paths,
  };
}
