import { mergeEnv, validateVariables, type EnvVar } from '../model/env.js';
import { validateName } from '../model/names.js';
import { invalid } from '../model/errors.js';
import { requireDefinition } from './common.js';
import { defineOperation, parseId } from './operation.js';
import { EnvironmentBodySchema } from './schemas.js';
import { renderEnvFile } from '../model/env.js';

export interface EnvironmentBody {
  Variables: EnvVar[];
}

export const getEnv = defineOperation({
  name: 'env',
  method: 'GET',
  path: '/environment/:id',
  summary: "Read a container's environment",
  mutates: false,
  http: { text: (r: EnvironmentBody) => renderEnvFile(r.Variables), preferText: true },
  parse: parseId,
  async run(host, req): Promise<EnvironmentBody> {
    await requireDefinition(host, req.Id);
    return { Variables: (await host.store.readEnv(req.Id)) ?? [] };
  },
});

interface SetEnvRequest {
  Id: string;
  Variables: EnvVar[];
}

/**
 * Replace (PUT) or merge into (PATCH) a container's env file. Docker reads
 * the file when the container starts: a restart applies the change.
 */
const setEnv = (name: string, method: 'PUT' | 'PATCH', merge: boolean, summary: string) =>
  defineOperation({
    name,
    method,
    path: '/environment/:id',
    summary,
    body: EnvironmentBodySchema,
    mutates: true,
    secretResult: true,
    http: { text: (r: EnvironmentBody) => renderEnvFile(r.Variables) },
    parse: ({ params, body }): SetEnvRequest => {
      const id = validateName(params.id);
      // geard's client names the target again in Id, and sends Source "" (fetching one is not supported yet).
      if (body.Id !== undefined && body.Id !== '' && body.Id !== id) throw invalid(`body/Id ${JSON.stringify(body.Id)} is not the id in the path (${id})`);
      if (body.Source) throw invalid('Source is not supported yet (body/Source must be empty or absent); send Variables');
      return { Id: id, Variables: validateVariables(body.Variables ?? undefined) };
    },
    run: (host, req): Promise<EnvironmentBody> =>
      host.locks.with(req.Id, async () => {
        await requireDefinition(host, req.Id);
        const current = merge ? ((await host.store.readEnv(req.Id)) ?? []) : [];
        const next = mergeEnv(current, req.Variables);
        await host.store.writeEnv(req.Id, next);
        return { Variables: next };
      }),
  });

export const replaceEnv = setEnv('set-env-reset', 'PUT', false, "Replace a container's environment (applied at its next start)");
export const patchEnv = setEnv('set-env', 'PATCH', true, "Merge variables into a container's environment (applied at its next start)");
