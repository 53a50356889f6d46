import type { Host } from '../host/context.js';
import { KEYS_LOCK } from '../host/keys.js';
import { gearBin } from '../host/self.js';
import { invalid, notFound } from '../model/errors.js';
import { hostUserComment, hostUserName } from '../model/isolation.js';
import { validateName } from '../model/names.js';
import { AddKeysBodySchema, RemoveKeysBodySchema, parsePublicKey, repoUserName, sshTarget, validateFingerprint, validateRepoName, type Access, type PublicKey } from '../model/ssh.js';
import { requireDefinition } from './common.js';
import { defineOperation } from './operation.js';
import { requireRepo } from './repos.js';

/** A key of a request body: the seed's {Type: "authorized_keys", Value}, read strictly. */
function keyOfBody(k: { Type?: string; Value: string }, i: number): PublicKey {
  if (k.Type !== undefined && k.Type !== 'authorized_keys') throw invalid(`body/Keys[${i}].Type must be "authorized_keys"`);
  try {
    return parsePublicKey(k.Value);
  } catch (err) {
    throw invalid(`body/Keys[${i}]: ${(err as Error).message}`);
  }
}

/** A container's login name, ctr-NAME; 400 for a name that cannot be one. */
function containerLoginOf(id: string): string {
  if (hostUserName(id, 0) !== `ctr-${id}`) throw invalid(`container ${id}: its name cannot be a login name (ctr-${id}: lower case letters, digits, "_" and "-", at most 28 characters)`);
  return `ctr-${id}`;
}

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
    const Keys = b.Keys.map(keyOfBody);
    const Containers = [...new Set((b.Containers ?? []).map((c) => validateName(c.Id)))];
    const Repositories = [...new Set((b.Repositories ?? []).map((r) => validateRepoName(r.Id)))];
    if (!Containers.length && !Repositories.length) throw invalid('name at least one container or repository');
    for (const id of Containers) containerLoginOf(id);
    return { Keys, Containers, Repositories, WriteAccess: b.WriteAccess === true };
  },
  async run(host, req): Promise<AddKeysResult> {
    const access = req.WriteAccess ? 'write' : 'read';
    for (const name of req.Repositories) await requireRepo(host, name);
    for (const id of req.Containers) await host.locks.with(id, () => containerLogin(host, id));
    // Each grant under its target's lock: a delete of the target at the same time comes wholly before
    // (the grant then fails: it is gone) or after (its revocation takes the grant away), never between.
    for (const id of req.Containers)
      await host.locks.with(id, async () => {
        await requireDefinition(host, id);
        await host.locks.with(KEYS_LOCK, () => host.keys.grant(req.Keys, [`ctr-${id}`], access));
      });
    for (const name of req.Repositories)
      await host.locks.with(`repo-${name}`, async () => {
        await requireRepo(host, name);
        await host.locks.with(KEYS_LOCK, () => host.keys.grant(req.Keys, [repoUserName(name)], access));
      });
    const logins = [...req.Containers.map((c) => `ctr-${c}`), ...req.Repositories.map(repoUserName)];
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


export interface RemoveKeysRequest {
  Fingerprints: string[];
  Logins: string[];
}

export interface RemoveKeysResult {
  Fingerprints: string[];
  Logins: string[];
}

/**
 * `DELETE /keys` (the body of POST /keys, or Fingerprints instead of
 * Keys) and `gear remove-keys (--key-file FILE | --fingerprint FP...)
 * TARGET...`: the grants of those keys to those containers' and
 * repositories' logins go. sshd asks gear at every login, so the next
 * login with such a key is refused; a session already open is not ended
 * (which key opened it is not known to gear). Every key must hold a grant
 * to every target named (else 404, and nothing is revoked), so a typo
 * never looks like a revocation.
 */
export const removeKeys = defineOperation({
  name: 'removeKeys',
  method: 'DELETE',
  path: '/keys',
  summary: "Revoke SSH keys' access to containers and repositories (Keys as POST /keys takes them, or Fingerprints; Containers, Repositories); 404 when a key has no such grant",
  body: RemoveKeysBodySchema,
  mutates: true,
  http: { text: (r: RemoveKeysResult) => `${r.Fingerprints.length} key(s) revoked for ${r.Logins.join(', ')}\n` },
  parse(req): RemoveKeysRequest {
    const b = req.body;
    const fps = [...(b.Keys ?? []).map((k, i) => keyOfBody(k, i).fingerprint), ...(b.Fingerprints ?? []).map((f, i) => validateFingerprint(f, `body/Fingerprints[${i}]`))];
    if (!fps.length) throw invalid('name at least one key (Keys or Fingerprints)');
    const Containers = (b.Containers ?? []).map((c) => containerLoginOf(validateName(c.Id)));
    const Repositories = (b.Repositories ?? []).map((r) => repoUserName(validateRepoName(r.Id)));
    const Logins = [...new Set([...Containers, ...Repositories])];
    if (!Logins.length) throw invalid('name at least one container or repository');
    return { Fingerprints: [...new Set(fps)], Logins };
  },
  run: (host, req) =>
    host.locks.with(KEYS_LOCK, async (): Promise<RemoveKeysResult> => {
      for (const login of req.Logins)
        for (const fp of req.Fingerprints) if (!(await host.keys.granted(login, fp))) throw notFound(`key ${fp} has no access as ${login}`);
      await host.keys.revoke(req.Fingerprints, req.Logins);
      return { Fingerprints: req.Fingerprints, Logins: req.Logins };
    }),
});

export interface KeyGrant {
  Fingerprint: string;
  Type: string;
  /** The login the key may use: ctr-NAME or repo-NAME. */
  Login: string;
  /** What it reaches: the container's name, or repo://NAME. */
  Target: string;
  Access: Access;
}

/** `GET /keys` and `gear list-keys`: every grant, one per key and login (keys are kept by fingerprint; their comments are not). */
export const listKeys = defineOperation({
  name: 'listKeys',
  method: 'GET',
  path: '/keys',
  summary: 'List the SSH keys granted access: one entry per key and login (Fingerprint, Type, Login, Target, Access)',
  mutates: false,
  http: { text: (r: { Grants: KeyGrant[] }) => r.Grants.map((g) => `${g.Target} ${g.Access} ${g.Fingerprint} ${g.Type}\n`).join('') },
  parse: () => ({}),
  async run(host): Promise<{ Grants: KeyGrant[] }> {
    const Grants: KeyGrant[] = [];
    for (const g of await host.keys.grants()) {
      const t = sshTarget(g.login);
      if (!t) continue;
      Grants.push({ Fingerprint: g.fingerprint, Type: g.type, Login: g.login, Target: t.kind === 'repo' ? `repo://${t.name}` : t.name, Access: g.access });
    }
    return { Grants };
  },
});
