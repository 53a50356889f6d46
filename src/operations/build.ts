import { promises as fsp } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Host } from '../host/context.js';
import { GearError, failed, invalid, notFound } from '../model/errors.js';
import { validateImage } from '../model/names.js';
import { BUILD_LABEL, BUILD_TIMEOUT, BuildBodySchema, IGNORE_FILE, ignoreMatcher, ignoredInTree, runNameOf, checkTag, isWithin, runCommandChange, scriptsDirOf, splitTag, symlinkEscapes } from '../model/oneoff.js';
import { validatePath } from '../model/volumes.js';
import { parseGitUrl, parseRepoSource } from '../model/ssh.js';
import { git, gitArchive, type GitUser } from '../host/git.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attempt } from './common.js';
import { requireRepo, resolveRef } from './repos.js';
import { ensureImage, newRunId, underRunLock } from './jobs.js';
import { defineOperation, type Progress } from './operation.js';

/** tar-stream and the source packer: loaded by the first build, not by every process that loads the operations (docs/decisions.md). */
const sourceTar = () => import('../host/source-tar.js');

export interface BuildRequest {
  BaseImage: string;
  /** A host directory (absolute), a git URL (http, https, git; #REF) or repo://NAME[#REF]. */
  Source: string;
  /** How Source was read. */
  From: { kind: 'dir' } | { kind: 'url'; url: string; ref?: string } | { kind: 'repo'; name: string; ref?: string };
  Tag: string;
  Incremental: boolean;
  Timeout: number;
}

export interface BuildResult {
  /** The build's unit was gear-build-ID.service. */
  Id: string;
  Tag: string;
  /** The new image's id. */
  Image: string;
  /** Artifacts of the previous image under Tag were restored into /tmp/artifacts. */
  Incremental: boolean;
}

const reasonOf = (err: unknown) => (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;

/**
 * A tar stream into the container under `path` (Docker's archive upload).
 * The stream's own error (a file unreadable, a bad artifacts entry) is the
 * one reported; it ends the upload, which Docker then refuses.
 */
async function putTar(container: Dockerode.Container, tar: Readable, path: string, what: string): Promise<void> {
  let streamError: Error | undefined;
  const failedStream = new Promise<never>((_, reject) =>
    tar.once('error', (err: Error) => {
      streamError = err;
      reject(err);
    }),
  );
  failedStream.catch(() => undefined);
  try {
    await Promise.race([container.putArchive(tar, { path }), failedStream]);
  } catch (err) {
    const e = streamError ?? err;
    if (e instanceof GearError) throw e;
    throw failed(`streaming ${what} into the build failed: ${reasonOf(e)}`);
  }
}

/** The image's user as numbers for the tar's owner: numeric USER[:GROUP], else root (a named user cannot be resolved outside the image). */
function ownerOf(user: string): { uid: number; gid: number } {
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(user);
  return m ? { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) } : { uid: 0, gid: 0 };
}

/**
 * The source directory as this process reaches it, after its real path is
 * checked against the directories builds may read (HostConfig.buildSources):
 * a symlink or ".." cannot lead the agent anywhere else.
 */
async function sourceDir(host: Host, source: string): Promise<string> {
  let real: string;
  try {
    real = await fsp.realpath(host.fs.local(source));
  } catch (err) {
    throw invalid(`source ${source} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const roots = host.config.buildSources;
  if (roots) {
    const allowed = await Promise.all(roots.map((r) => fsp.realpath(host.fs.local(r)).catch(() => undefined)));
    if (!allowed.some((r) => r !== undefined && isWithin(real, r)))
      throw invalid(`source ${source} is not in a directory builds may read here (${roots.length ? roots.join(', ') : 'none: set GEAR_BUILD_SOURCES for the agent'})`);
  }
  if (!(await fsp.stat(real)).isDirectory()) throw invalid(`source ${source} is not a directory`);
  return real;
}

/**
 * The previous image's save-artifacts (a tar on its stdout), run to its
 * end, its entries streamed under artifacts/ into the new build's /tmp.
 */
async function restoreArtifacts(host: Host, build: Dockerode.Container, previous: string, scripts: string, name: string, labels: Record<string, string>, progress: Progress): Promise<boolean> {
  const saver = await host.oneoff.create({ name, image: previous, cmd: [`${scripts}/save-artifacts`], labels });
  const calls = new AbortController();
  try {
    const api = await host.oneoff.api;
    const stream = (await saver.attach({ stream: true, stdout: true, stderr: true, abortSignal: calls.signal })) as unknown as Readable;
    const tar = new PassThrough();
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => progress.output?.(c, 'stderr'));
    api.modem.demuxStream(stream, tar, stderr);
    stream.on('end', () => tar.end());
    const exited = saver.wait({ condition: 'next-exit', abortSignal: calls.signal }) as Promise<{ StatusCode: number }>;
    exited.catch(() => undefined);
    try {
      await saver.start();
    } catch (err) {
      // As source-to-image does: an image that cannot save its artifacts gets a clean build.
      progress.note?.(`the previous image (${previous.replace(/^sha256:/, '').slice(0, 12)}) cannot run save-artifacts (${reasonOf(err)}): a clean build`);
      return false;
    }
    const { prefixTar } = await sourceTar();
    const put = putTar(build, prefixTar(tar, 'artifacts'), '/tmp', `the artifacts of ${previous}`);
    const [{ StatusCode }] = await Promise.all([exited, put]);
    if (StatusCode !== 0) throw failed(`save-artifacts of the previous ${previous} exited with status ${StatusCode}`);
    return true;
  } finally {
    calls.abort();
    await attempt(() => host.oneoff.removeContainer(name));
  }
}

/**
 * `POST /build-image` (the seed's route and body) and `gear build SOURCE
 * BUILDER TAG [--incremental]`: a source-to-image build. The source
 * (a directory, a git URL or a host repository: openSource) is streamed into a container of the builder image as a tar
 * (tar-stream, read as it is sent) under /tmp/src; with Incremental, the
 * image under Tag's save-artifacts output goes to /tmp/artifacts; the
 * builder's assemble script runs in a transient unit (gear-build-ID.service:
 * in systemctl and the journal, a time limit, stopped when the caller goes
 * away); the container is committed with the builder's run script as its
 * command and only then tagged. A failed or cancelled build leaves no tag
 * and no container.
 */
export const buildImage = defineOperation({
  name: 'buildImage',
  method: 'POST',
  path: '/build-image',
  summary: `Build an image from a source (a directory, an http/https/git URL of a git repository, repo://NAME) with a source-to-image builder (BaseImage, Source, Tag, Incremental, Timeout seconds, default ${BUILD_TIMEOUT.default}); 202 with the build's output streamed, its outcome in the X-Gear-Result trailer`,
  body: BuildBodySchema,
  mutates: true,
  http: { output: true },
  parse(req): BuildRequest {
    const b = req.body;
    if (b.Incremental && b.Clean) throw invalid('a build cannot be both Incremental and Clean');
    const repo = parseRepoSource(b.Source);
    const From: BuildRequest['From'] = repo
      ? { kind: 'repo', ...repo }
      : /^[A-Za-z][A-Za-z0-9+.-]*:/.test(b.Source)
        ? { kind: 'url', ...parseGitUrl(b.Source) }
        : { kind: 'dir' };
    return {
      BaseImage: validateImage(b.BaseImage),
      Source: From.kind === 'dir' ? validatePath(b.Source, 'source') : b.Source,
      From,
      Tag: checkTag(validateImage(b.Tag)),
      Incremental: b.Incremental === true,
      Timeout: b.Timeout ?? BUILD_TIMEOUT.default,
    };
  },
  async run(host, req, progress): Promise<BuildResult> {
    // Everything that can be refused is checked before anything is made.
    const source = await openSource(host, req, progress);
    try {
      return await build(host, req, source, progress);
    } finally {
      await source.close();
    }
  },
});

/**
 * A git tree's .s2iignore (a regular file at its root, as a directory's
 * must be), as a test of paths in the tree: ignoredInTree, so what is under
 * an ignored directory is left out too. Nothing ignored when it has none.
 */
async function gitIgnoreOf(dir: string, user: GitUser, commit: string): Promise<(path: string, isDir: boolean) => boolean> {
  const entry = (await git(['ls-tree', '-z', '--full-tree', commit, '--', IGNORE_FILE], { cwd: dir, user })).split('\0')[0] ?? '';
  const m = /^([0-7]+) (\w+) ([0-9a-f]+)\t/.exec(entry);
  if (!m) return () => false;
  if (m[2] !== 'blob' || (m[1] !== '100644' && m[1] !== '100755')) throw invalid(`source: ${IGNORE_FILE} is not a regular file`);
  if (Number((await git(['cat-file', '-s', m[3]!], { cwd: dir, user })).trim()) > 1024 * 1024) throw invalid(`source: ${IGNORE_FILE} is larger than 1 MiB`);
  return ignoredInTree(ignoreMatcher(await git(['cat-file', 'blob', m[3]!], { cwd: dir, user })));
}

/**
 * Refuse, before anything is made, a git tree whose symlinks point out of
 * it (as a directory's walk does; what .s2iignore leaves out is not sent,
 * so not checked either); the tar's stream checks them again.
 */
async function checkGitSymlinks(dir: string, user: GitUser, commit: string, what: string, ignored: (path: string, isDir: boolean) => boolean): Promise<void> {
  const listing = await git(['ls-tree', '-r', '-z', '--full-tree', commit], { cwd: dir, user });
  for (const entry of listing.split('\0')) {
    const m = /^120000 blob ([0-9a-f]+)\t(.*)$/s.exec(entry);
    if (!m || ignored(m[2]!, false)) continue;
    const target = await git(['cat-file', 'blob', m[1]!], { cwd: dir, user });
    if (symlinkEscapes(m[2]!, target)) throw invalid(`${what}: the symlink ${JSON.stringify(m[2])} points out of the source tree (to ${JSON.stringify(target)})`);
  }
}

/** A git tree's source: its .s2iignore read and its symlinks checked; its tar streamed by git archive as its user. */
async function gitSource(dir: string, user: GitUser, commit: string): Promise<Pick<Source, 'tar'>> {
  const ignored = await gitIgnoreOf(dir, user, commit);
  await checkGitSymlinks(dir, user, commit, 'source', ignored);
  const { prefixTar } = await sourceTar();
  return { tar: (owner, signal) => prefixTar(gitArchive(dir, commit, { user, signal }), 'src', { owner, source: true, ignored }) };
}

/** A build's source: its tar under `src/` (made when the build container is ready), and what to clean up after. */
interface Source {
  tar(owner: { uid: number; gid: number }, signal?: AbortSignal): Readable;
  close(): Promise<void>;
}

/**
 * The source, checked: a directory walked (symlinks out of it refused); a
 * host repository's commit (HEAD or #REF), archived by its user; a git
 * URL cloned (bare, depth 1) into a private temporary directory as
 * `nobody`, then archived. A git tree's symlinks are checked as it streams.
 */
async function openSource(host: Host, req: BuildRequest, progress: Progress): Promise<Source> {
  const from = req.From;
  if (from.kind === 'dir') {
    const root = await sourceDir(host, req.Source);
    const { walkSource, packSource } = await sourceTar();
    const entries = await walkSource(root);
    return { tar: (owner) => packSource(root, entries, 'src', owner), close: async () => undefined };
  }
  if (from.kind === 'repo') {
    const { dir, user } = await requireRepo(host, from.name);
    const commit = await resolveRef(dir, user, from.ref ?? 'HEAD', `repository ${from.name}`);
    const tree = await gitSource(dir, user, commit);
    progress.note?.(`source: repository ${from.name} at ${commit.slice(0, 12)}`);
    return { ...tree, close: async () => undefined };
  }
  const temp = await fsp.mkdtemp(join(tmpdir(), 'gear-build-src-'));
  const nobody = { uid: 65534, gid: 65534 };
  try {
    await fsp.chmod(temp, 0o700);
    await fsp.chown(temp, nobody.uid, nobody.gid);
    await git(['clone', '--bare', '--quiet', '--depth', '1', ...(from.ref ? ['--branch', from.ref] : []), '--', from.url, `${temp}/src.git`], { user: nobody, cwd: temp });
    const dir = `${temp}/src.git`;
    const commit = await resolveRef(dir, nobody, 'HEAD', from.url);
    const tree = await gitSource(dir, nobody, commit);
    progress.note?.(`source: ${from.url} at ${commit.slice(0, 12)}`);
    return { ...tree, close: () => fsp.rm(temp, { recursive: true, force: true }) };
  } catch (err) {
    await fsp.rm(temp, { recursive: true, force: true });
    throw err instanceof GearError && err.kind === 'failed' ? invalid(`source ${from.url} cannot be cloned: ${err.message}`) : err;
  }
}

async function build(host: Host, req: BuildRequest, source: Source, progress: Progress): Promise<BuildResult> {
  await ensureImage(host, req.BaseImage, progress);
  const builder = await host.oneoff.imageConfig(req.BaseImage);
  if (!builder) throw notFound(`image ${req.BaseImage} is not on this host`);
  const scripts = scriptsDirOf(builder.Labels, req.BaseImage);
  const previous = req.Incremental ? await host.oneoff.imageConfig(req.Tag) : undefined;
  if (req.Incremental && !previous) progress.note?.(`no image ${req.Tag} yet: a clean build`);
  const prevScripts = previous && scriptsDirOf(previous.Labels, req.Tag);

  const Id = newRunId();
  return underRunLock(host, 'build', Id, () => buildUnderLock(host, req, source, progress, { Id, builder, scripts, previous, prevScripts }));
}

async function buildUnderLock(
  host: Host,
  req: BuildRequest,
  source: Source,
  progress: Progress,
  { Id, builder, scripts, previous, prevScripts }: { Id: string; builder: { User: string }; scripts: string; previous?: { Id: string }; prevScripts?: string },
): Promise<BuildResult> {
  const name = runNameOf('build', Id);
  // The build's label marks its containers for repair (with their names: model/oneoff.ts). The commit keeps it:
  // the built image says which build made it (gear-build-ID in the journal).
  const labels = { [BUILD_LABEL]: Id };
  let restored = false;
  const { outcome, container } = await host.oneoff.run({
    name,
    image: req.BaseImage,
    cmd: [`${scripts}/assemble`],
    labels,
    description: `gear build ${Id}: ${req.Tag} from ${req.BaseImage}`,
    timeoutSec: req.Timeout,
    removeAfter: false,
    output: (chunk, stream) => progress.output?.(chunk, stream),
    signal: progress.signal,
    prepare: async (c) => {
      await putTar(c, source.tar(ownerOf(builder.User), progress.signal), '/tmp', 'the source');
      if (previous && prevScripts) restored = await restoreArtifacts(host, c, previous.Id, prevScripts, `${name}-artifacts`, labels, progress);
    },
  });
  try {
    if (outcome.Result === 'timeout') throw failed(`build ${Id} stopped: assemble ran longer than its time limit (${req.Timeout} s); ${req.Tag} unchanged`);
    if (outcome.Result === 'cancelled') throw failed(`build ${Id} cancelled; ${req.Tag} unchanged`);
    if (outcome.ExitCode !== 0) throw failed(`build ${Id} failed: assemble exited with status ${outcome.ExitCode}; ${req.Tag} unchanged`);
    const committed = (await container.commit({ changes: runCommandChange(scripts), comment: `gear build ${Id} from ${req.BaseImage}` })) as { Id: string };
    const api = await host.oneoff.api;
    try {
      await api.getImage(committed.Id).tag(splitTag(req.Tag));
    } catch (err) {
      await attempt(() => api.getImage(committed.Id).remove());
      throw failed(`tagging the build as ${req.Tag} failed: ${reasonOf(err)}`);
    }
    return { Id, Tag: req.Tag, Image: committed.Id, Incremental: restored };
  } finally {
    await attempt(() => host.oneoff.removeContainer(name));
  }
}
