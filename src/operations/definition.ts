import { definitionHash, installedDefinition, type ResolvedDefinition } from '../model/deployment/definition.js';
import { unitNameOf } from '../model/names.js';
import type { PortPair } from '../model/ports.js';
import { socketUnitOf } from '../model/socket-activation.js';
import { requireDefinition } from './common.js';
import { envIdOf } from './env-ids.js';
import { defineOperation, parseId } from './operation.js';

export interface DefinitionResult {
  Id: string;
  /** sha256 of the resolved definition's canonical JSON: equal hashes, equal definitions (model/deployment/definition.ts). */
  Hash: string;
  /** What is installed, as a deployment resolves it (environment values as digests only). */
  Definition: ResolvedDefinition;
  /** The ports the host published (the definition has them as asked). */
  Ports: PortPair[];
  /** Its unit's ActiveState (socket-activated: its socket's): whether a re-install restarts it. */
  ActiveState: string;
}

export const definitionText = (r: DefinitionResult) => `${r.Id} ${r.Hash} ${r.ActiveState}\n${JSON.stringify(r.Definition, null, 2)}\n`;

/**
 * `GET /container/:id/definition`: the installed container's resolved
 * definition and its hash, computed from what is stored (its definition and
 * the environment it reads) at each request, so a change made by any route
 * (set-env, update, a re-install) shows at once. What `deploy --plan`
 * compares against, and what deploy's apply re-installs only when it differs.
 */
export const definition = defineOperation({
  name: 'definition',
  method: 'GET',
  path: '/container/:id/definition',
  summary: "A container's resolved definition (as a deployment resolves it; environment values as digests) and its hash",
  mutates: false,
  http: { text: definitionText },
  parse: parseId,
  async run(host, req): Promise<DefinitionResult> {
    const def = await requireDefinition(host, req.Id);
    const [variables, active] = await Promise.all([
      host.store.readEnv(envIdOf(def)),
      host.systemd.activeState(def.SocketActivation ? socketUnitOf(def.Id) : unitNameOf(def.Id)),
    ]);
    const resolved = installedDefinition(def, variables ?? []);
    return { Id: def.Id, Hash: definitionHash(resolved), Definition: resolved, Ports: def.Ports, ActiveState: active };
  },
});
