import { mergeEnv, renderEnvFile, validateEnvId, validateEnvSource, validateVariables, type EnvVar } from '../model/env.js';
import { invalid, notFound } from '../model/errors.js';
import { fetchEnvironment, readersOf, resolveEnvId } from './env-ids.js';
import { defineOperation } from './operation.js';
import { EnvironmentBodySchema } from './schemas.js';

export interface EnvironmentBody {
  /** The environment's id: the container's name for its own, else the shared one's. */
  Id: string;
  Variables: EnvVar[];
  /** The installed containers that read it (at their next start, for a change). */
  Readers: string[];
}

interface EnvIdRequest {
  /** As given in the path: a container's name, or an environment's id. */
  Id: string;
}

/**
 * /environment/:id: `:id` names a container (then the route acts on the
 * environment it reads: its own, or the shared one it was installed with)
 * or an environment by id (shared; PUT and PATCH create it).
 */
export const getEnv = defineOperation({
  name: 'env',
  method: 'GET',
  path: '/environment/:id',
  summary: "Read an environment: a container's (by its name) or a shared one (by its id)",
  mutates: false,
  http: { text: (r: EnvironmentBody) => renderEnvFile(r.Variables), preferText: true },
  parse: ({ params }): EnvIdRequest => ({ Id: validateEnvId(params.id) }),
  async run(host, req): Promise<EnvironmentBody> {
    const envId = await resolveEnvId(host, req.Id);
    const vars = await host.store.readEnv(envId);
    if (vars === undefined && !(await host.store.read(req.Id))) throw notFound(`environment ${req.Id} does not exist (no container or environment of that id)`);
    return { Id: envId, Variables: vars ?? [], Readers: await readersOf(host, envId) };
  },
});

interface SetEnvRequest extends EnvIdRequest {
  Variables: EnvVar[];
  /** PUT only: fetched, and its variables replace Variables (the seed's rule). */
  Source?: URL;
}

/**
 * Replace (PUT) or merge into (PATCH) an environment. Docker reads the file
 * when a container starts: a restart of each container that reads it
 * applies the change.
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
      const Id = validateEnvId(params.id);
      // The seed's client repeats the target in the body; another id there is a mistake.
      if (body.Id && body.Id !== Id) throw invalid(`body Id ${JSON.stringify(body.Id)} is not the environment ${Id} named in the path`);
      const Variables = validateVariables(body.Variables ?? undefined);
      // PATCH ignores Source, as the seed does.
      return merge || !body.Source ? { Id, Variables } : { Id, Variables, Source: validateEnvSource(body.Source, 'Source') };
    },
    async run(host, req): Promise<EnvironmentBody> {
      // Fetched before any lock: it may take long, and a failure changes nothing.
      const given = req.Source ? await fetchEnvironment(req.Source) : req.Variables;
      const envId = await resolveEnvId(host, req.Id);
      return host.envLocks.with(envId, async () => {
        const current = merge ? ((await host.store.readEnv(envId)) ?? []) : [];
        const next = mergeEnv(current, given);
        await host.store.writeEnv(envId, next);
        return { Id: envId, Variables: next, Readers: await readersOf(host, envId) };
      });
    },
  });

export const replaceEnv = setEnv('set-env-reset', 'PUT', false, 'Replace an environment (Source: fetched from that URL); containers reading it see it at their next start');
export const patchEnv = setEnv('set-env', 'PATCH', true, 'Merge variables into an environment; containers reading it see them at their next start');
