import type { Host } from '../host/context.js';
import { gearBin } from '../host/self.js';
import { invalid } from '../model/errors.js';
import { hostUserComment, hostUserName } from '../model/isolation.js';
import { validateName } from '../model/names.js';
import { AddKeysBodySchema, parsePublicKey, repoUserName, validateRepoName, type PublicKey } from '../model/ssh.js';
import { requireDefinition } from './common.js';
import { defineOperation } from './operation.js';
import { requireRepo } from './repos.js';

export interface AddKeysRequest {
  Keys: PublicKey[];
  Containers: string[];
  Repositories: string[];
  WriteAccess: boolean;
}

export interface AddKeysResult {
  Fingerprints: string[];
  Logins: string[];
  WriteAccess: boolean;
}

/**
 * `POST /keys` (the seed's route and body) and `gear add-keys [--write]
 * --key-file FILE TARGET...`: public keys (read strictly: model/ssh.ts)
 * stored by fingerprint and granted to logins: `ctr-NAME` for a container
 * (a shell inside it), `repo-NAME` for a repository (git only; pushes with
 * WriteAccess). sshd learns them from `gear auth-keys-command`. Every
 * target is checked before anything is stored.
 */
export const addKeys = defineOperation({
  name: 'addKeys',
  method: 'POST',
  path: '/keys',
  summary: 'Grant SSH public keys access to containers (a shell inside, as ctr-NAME) and repositories (git, as repo-NAME; push with WriteAccess)',
  body: AddKeysBodySchema,
  mutates: true,
  http: { text: (r: AddKeysResult) => `${r.Fingerprints.length} key(s) added for ${r.Logins.join(', ')}${r.WriteAccess ? ' (write)' : ''}\n` },
  parse(req): AddKeysRequest {
    const b = req.body;
    const Keys = b.Keys.map((k, i) => {
      if (k.Type !== undefined && k.Type !== 'authorized_keys') throw invalid(`body/Keys[${i}].Type must be "authorized_keys"`);
      try {
        return parsePublicKey(k.Value);
      } catch (err) {
        throw invalid(`body/Keys[${i}]: ${(err as Error).message}`);
      }
    });
    const Containers = [...new Set((b.Containers ?? []).map((c) => validateName(c.Id)))];
    const Repositories = [...new Set((b.Repositories ?? []).map((r) => validateRepoName(r.Id)))];
    if (!Containers.length && !Repositories.length) throw invalid('name at least one container or repository');
    for (const id of Containers)
      if (hostUserName(id, 0) !== `ctr-${id}`) throw invalid(`container ${id}: its name cannot be a login name (ctr-${id}: lower case letters, digits, "_" and "-", at most 28 characters)`);
    return { Keys, Containers, Repositories, WriteAccess: b.WriteAccess === true };
  },
  async run(host, req): Promise<AddKeysResult> {
    for (const name of req.Repositories) await requireRepo(host, name);
    for (const id of req.Containers) await host.locks.with(id, () => containerLogin(host, id));
    const logins = [...req.Containers.map((c) => `ctr-${c}`), ...req.Repositories.map(repoUserName)];
    await host.keys.grant(req.Keys, logins, req.WriteAccess ? 'write' : 'read');
    return { Fingerprints: req.Keys.map((k) => k.fingerprint), Logins: logins, WriteAccess: req.WriteAccess };
  },
});

/**
 * The host user `ctr-NAME` a container's SSH login needs (sshd knows only
 * users of the host): an isolated container's own; for another, made as an
 * isolated install would make it (its uid reserved for NAME, gear's
 * comment), so a later --isolate takes it over and a delete removes it.
 * Its login shell is gear's (`gear ssh-serve`).
 */
async function containerLogin(host: Host, id: string): Promise<void> {
  const def = await requireDefinition(host, id);
  const uid = def.Isolation?.Uid ?? (await host.uids.reserve(id)).uid;
  const user = def.Isolation?.User ?? hostUserName(id, uid);
  await host.users.ensure(user, uid, def.Isolation?.Gid ?? uid, hostUserComment(id));
  // Home "/": sshd changes into it before the shell runs (nothing is read there).
  await host.users.setLogin?.(user, gearBin(), '/');
}

