import type { Host } from '../host/context.js';
import { fetchText } from '../host/fetch.js';
import type { ContainerDefinition } from '../model/definition.js';
import { MAX_SOURCE_BYTES, type EnvVar } from '../model/env.js';
import { parseGeardEnv } from '../model/env-geard.js';

/**
 * Environments by id. Every environment is one file, env/ID.env, in one
 * namespace: a container reads the environment named by its EnvId, which
 * is its own name unless it was installed with another (a shared one).
 * The routes on /environment/:id take a container's name for that
 * container's environment, and any other id for the environment of that id.
 */
export const envIdOf = (def: Pick<ContainerDefinition, 'Id' | 'EnvId'>) => def.EnvId ?? def.Id;

/** The environment /environment/:id acts on: the named container's, or the id itself. */
export async function resolveEnvId(host: Host, id: string): Promise<string> {
  const def = await host.store.read(id);
  return def ? envIdOf(def) : id;
}

/** The installed containers that read environment `envId`, but `except`. */
export async function readersOf(host: Host, envId: string, except?: string): Promise<string[]> {
  const readers: string[] = [];
  for (const id of await host.store.ids()) {
    if (id === except) continue;
    const def = await host.store.read(id).catch(() => undefined);
    if (def && envIdOf(def) === envId) readers.push(id);
  }
  return readers;
}

/** How long the agent waits for an Environment.Source. */
export const SOURCE_TIMEOUT_MS = 30_000;

/** Fetch an Environment.Source and read it with the seed's rules (its bad lines skipped, as the seed does). */
export async function fetchEnvironment(url: URL): Promise<EnvVar[]> {
  const text = await fetchText(url, { maxBytes: MAX_SOURCE_BYTES, timeoutMs: SOURCE_TIMEOUT_MS });
  return parseGeardEnv(text).Variables;
}
