import { promises as fsp } from 'node:fs';
import type { Host } from '../host/context.js';
import { git, gitArchive, type GitUser } from '../host/git.js';
import { KEYS_LOCK } from '../host/keys.js';
import { gearBin } from '../host/self.js';
import { conflict, notFound } from '../model/errors.js';
import { userDbEntry } from '../model/isolation.js';
import { CreateRepoBodySchema, parseGitUrl, repoUidOwner, repoUserComment, repoUserName, validateRef, validateRepoName } from '../model/ssh.js';
import { attempt } from './common.js';
import { endLogins } from './isolation.js';
import { defineOperation } from './operation.js';

/**
 * Git repositories of the host (issue 14): STATE/git/NAME.git, a bare
 * repository owned by its own host user repo-NAME (a uid of gear's range,
 * reserved as isolated containers' are), whose home it is. git runs as that
 * user: over SSH (gear's login shell, `gear ssh-setup`) and for archives.
 */

export const reposDir = (host: Host) => `${host.config.stateDir}/git`;
export const repoPath = (host: Host, name: string) => `${reposDir(host)}/${name}.git`;

/** The repository's path (as this process reaches it) and its user; 404 when there is none. */
export async function requireRepo(host: Host, name: string): Promise<{ dir: string; user: GitUser }> {
  const dir = host.fs.local(repoPath(host, name));
  const st = await fsp.lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw notFound(`repository ${name} does not exist`);
  const u = userDbEntry(await host.fs.read('/etc/passwd'), repoUserName(name));
  if (!u || u.comment !== repoUserComment(name) || u.id !== st.uid) throw conflict(`repository ${name}: its host user ${repoUserName(name)} is missing or not gear's`);
  return { dir, user: { uid: st.uid, gid: st.gid } };
}

export interface CreateRepoRequest {
  Id: string;
  CloneUrl?: string;
}

/**
 * `PUT /repository/NAME` (the seed's route) and `gear create-repo NAME
 * [CLONE-URL]`: an empty bare repository, or a bare clone of an http,
 * https or git URL (made by the repository's user, so it can read nothing
 * of the host's). Made under a temporary name and renamed into place: a
 * failed clone leaves nothing, and no user.
 */
export const createRepo = defineOperation({
  name: 'createRepo',
  method: 'PUT',
  path: '/repository/:id',
  summary: 'Create a Git repository on the host (empty, or a bare clone of CloneUrl: http, https or git); 409 if it exists',
  body: CreateRepoBodySchema,
  optionalBody: true,
  mutates: true,
  http: { status: 201, text: (r: CreateRepoResult) => `Repository ${r.Id} created (${r.User}, uid ${r.Uid})${r.CloneUrl ? ` from ${r.CloneUrl}` : ''}\n` },
  parse(req): CreateRepoRequest {
    const url = req.body?.CloneUrl;
    return { Id: validateRepoName(req.params.id), ...(url ? { CloneUrl: parseGitUrl(url).url } : {}) };
  },
  run: (host, req) => host.locks.with(`repo-${req.Id}`, () => create(host, req)),
});

export interface CreateRepoResult {
  Id: string;
  Path: string;
  User: string;
  Uid: number;
  CloneUrl?: string;
}

async function create(host: Host, req: CreateRepoRequest): Promise<CreateRepoResult> {
  const path = repoPath(host, req.Id);
  if (await host.fs.exists(path)) throw conflict(`repository ${req.Id} exists`);
  const owner = repoUidOwner(req.Id);
  const user = repoUserName(req.Id);
  const { uid, fresh } = await host.uids.reserve(owner);
  let made = false;
  const temp = host.fs.local(`${reposDir(host)}/.${req.Id}.git.new`);
  try {
    made = await host.users.ensure(user, uid, uid, repoUserComment(req.Id));
    await host.users.setLogin?.(user, gearBin(), path);
    // 0711: each user reaches its own repository by its path, and lists no one else's. The state
    // directory itself must let them pass (search only: nothing in it can be listed; its files keep
    // their own modes, secrets 0600).
    await fsp.mkdir(host.fs.local(reposDir(host)), { recursive: true, mode: 0o711 });
    const state = await fsp.stat(host.fs.local(host.config.stateDir));
    if ((state.mode & 0o011) !== 0o011) await fsp.chmod(host.fs.local(host.config.stateDir), (state.mode & 0o7777) | 0o011);
    await fsp.chmod(host.fs.local(reposDir(host)), 0o711);
    await fsp.rm(temp, { recursive: true, force: true });
    await fsp.mkdir(temp, { mode: 0o700 });
    await fsp.chown(temp, uid, uid);
    const as = { uid, gid: uid };
    // Into "." from inside: the user cannot create anything in STATE/git itself (git would try).
    if (req.CloneUrl) await git(['clone', '--bare', '--quiet', '--', req.CloneUrl, '.'], { user: as, cwd: temp });
    else await git(['init', '--bare', '--quiet', '.'], { user: as, cwd: temp });
    await fsp.rename(temp, host.fs.local(path));
  } catch (err) {
    await attempt(() => fsp.rm(temp, { recursive: true, force: true }));
    if (made) await attempt(() => host.users.remove(user, uid, uid, repoUserComment(req.Id)));
    if (fresh) await attempt(() => host.uids.release(owner, uid));
    throw err;
  }
  return { Id: req.Id, Path: path, User: user, Uid: uid, ...(req.CloneUrl ? { CloneUrl: req.CloneUrl } : {}) };
}

export interface ArchiveRequest {
  Id: string;
  Ref: string;
}

export interface ArchiveResult {
  Id: string;
  Ref: string;
  Commit: string;
}

/** The commit a ref names in a repository (404 when it names none). */
export async function resolveRef(dir: string, user: GitUser, ref: string, what: string): Promise<string> {
  try {
    return (await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { cwd: dir, user })).trim();
  } catch {
    throw notFound(`${what} has no commit ${JSON.stringify(ref)}`);
  }
}

/**
 * `GET /repository/NAME/archive/REF` (the seed's route; REF may hold "/",
 * as `feature/x`, sent as it is or as %2F): the tree at REF
 * as a tar (git archive, run as the repository's user), streamed as it is
 * made; the commit in the X-Gear-Result trailer.
 */
export const repoArchive = defineOperation({
  name: 'repoArchive',
  method: 'GET',
  path: '/repository/:id/archive/:ref*',
  summary: "A repository's tree at a ref (branch, tag or commit) as a tar, streamed; 404 for an unknown repository or ref",
  mutates: false,
  http: { output: true },
  parse(req): ArchiveRequest {
    return { Id: validateRepoName(req.params.id), Ref: validateRef(req.params.ref) };
  },
  async run(host, req, progress): Promise<ArchiveResult> {
    const { dir, user } = await requireRepo(host, req.Id);
    const Commit = await resolveRef(dir, user, req.Ref, `repository ${req.Id}`);
    const tar = gitArchive(dir, Commit, { user, signal: progress.signal });
    for await (const chunk of tar) progress.output?.(chunk as Buffer, 'stdout');
    return { Id: req.Id, Ref: req.Ref, Commit };
  },
});

/**
 * `DELETE /repository/NAME` and `gear delete-repo NAME`: the repository's
 * data (an explicit delete, the only way it goes), the keys' grants to it,
 * its host user and its uid. 404 when there is none.
 */
export const deleteRepo = defineOperation({
  name: 'deleteRepo',
  method: 'DELETE',
  path: '/repository/:id',
  summary: "Delete a Git repository: its data, the keys' access to it, its host user; 404 if there is none",
  mutates: true,
  http: { text: (r: { Id: string }) => `Repository ${r.Id} deleted\n` },
  parse(req): { Id: string } {
    return { Id: validateRepoName(req.params.id) };
  },
  run: (host, req) =>
    host.locks.with(`repo-${req.Id}`, async () => {
      const { dir, user } = await requireRepo(host, req.Id);
      await host.locks.with(KEYS_LOCK, () => host.keys.revokeAll(repoUserName(req.Id)));
      await fsp.rm(dir, { recursive: true, force: true });
      await endLogins(host, user.uid);
      await host.users.remove(repoUserName(req.Id), user.uid, user.gid, repoUserComment(req.Id));
      await host.uids.release(repoUidOwner(req.Id), user.uid);
      return { Id: req.Id };
    }),
});
