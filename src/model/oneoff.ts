import { Type } from '@sinclair/typebox';
import { invalid } from './errors.js';
import { closed } from './schema.js';

/**
 * The pure part of one-off jobs (POST /jobs, gear run-job) and
 * source-to-image builds (POST /build-image, gear build): their bodies,
 * limits and names. The seed's shapes: a job is {Image, Command
 * (entrypoint), Arguments}; a build {BaseImage, Source, Tag, Clean, ...}.
 */

/** A job's default and largest time limit (seconds): systemd's RuntimeMaxSec of its unit. */
export const JOB_TIMEOUT = { default: 3600, max: 86_400 } as const;
/** A build's (assemble may download a world). */
export const BUILD_TIMEOUT = { default: 3600, max: 86_400 } as const;

const MAX_ARGS = 256;
const MAX_ARG_BYTES = 64 * 1024;

export const JobBodySchema = Type.Object(
  {
    Image: Type.String({ minLength: 1, maxLength: 255 }),
    /** The seed's: the entrypoint to run instead of the image's. */
    Command: Type.Optional(Type.String({ maxLength: 4096 })),
    /** The command's arguments (the image's CMD replaced). */
    Arguments: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: MAX_ARG_BYTES }), { maxItems: MAX_ARGS }), Type.Null()])),
    /** Seconds before systemd stops it (RuntimeMaxSec). */
    Timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: JOB_TIMEOUT.max })),
    /** The seed's client sends the request id as Name; gear names its jobs itself. */
    Name: Type.Optional(Type.String({ maxLength: 64 })),
  },
  closed,
);

export const BuildBodySchema = Type.Object(
  {
    BaseImage: Type.String({ minLength: 1, maxLength: 255 }),
    Source: Type.String({ minLength: 1, maxLength: 4096 }),
    Tag: Type.String({ minLength: 1, maxLength: 255 }),
    Incremental: Type.Optional(Type.Boolean()),
    /** The seed's: a clean (not incremental) build; gear's builds are clean unless Incremental. */
    Clean: Type.Optional(Type.Boolean()),
    /** The seed's; accepted as false only. */
    RuntimeImage: Type.Optional(Type.String({ maxLength: 0 })),
    Verbose: Type.Optional(Type.Boolean()),
    Timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: BUILD_TIMEOUT.max })),
    Name: Type.Optional(Type.String({ maxLength: 64 })),
  },
  closed,
);

/** No NUL in what becomes an argv string (the kernel would cut it there). */
export function checkArgs(args: readonly string[], what: string): string[] {
  args.forEach((a, i) => {
    if (a.includes('\0')) throw invalid(`${what}[${i}] must not contain a NUL character`);
  });
  return [...args];
}

/** The default place of a builder's scripts (source-to-image's convention). */
export const DEFAULT_SCRIPTS_DIR = '/usr/libexec/s2i';
export const SCRIPTS_URL_LABEL = 'io.openshift.s2i.scripts-url';

/**
 * Where a builder image's scripts are: its `io.openshift.s2i.scripts-url`
 * label, `image:///PATH` (inside the image); absent: /usr/libexec/s2i.
 * Scripts fetched from elsewhere (http, file) are not supported.
 */
export function scriptsDirOf(labels: Record<string, string> | undefined, image: string): string {
  const url = labels?.[SCRIPTS_URL_LABEL];
  if (url === undefined || url === '') return DEFAULT_SCRIPTS_DIR;
  const m = /^image:\/\/(\/[A-Za-z0-9._/-]*)$/.exec(url);
  if (!m || m[1]!.split('/').some((part) => part === '..' || part === '.'))
    throw invalid(`builder ${image}: its label ${SCRIPTS_URL_LABEL}=${JSON.stringify(url)} is not an image:///PATH (the only kind gear supports)`);
  return m[1]!.replace(/\/+$/, '') || '/';
}

/** A build's image name must carry no digest: it is a tag to set. */
export function checkTag(tag: string): string {
  if (tag.includes('@')) throw invalid(`tag ${JSON.stringify(tag)} must not name a digest`);
  return tag;
}

/** Docker's tag call wants the repository and the tag apart (":latest" when none is given). */
export function splitTag(tag: string): { repo: string; tag: string } {
  const slash = tag.lastIndexOf('/');
  const colon = tag.lastIndexOf(':');
  return colon > slash ? { repo: tag.slice(0, colon), tag: tag.slice(colon + 1) } : { repo: tag, tag: 'latest' };
}

/**
 * Whether a symlink at `path` (relative to the source root, "/"-separated)
 * pointing at `target` leads out of the source tree: absolute targets do,
 * and relative ones whose ".." climb above the root.
 */
export function symlinkEscapes(path: string, target: string): boolean {
  if (target.startsWith('/') || target === '') return true;
  const parts = path.split('/').slice(0, -1);
  for (const p of target.split('/')) {
    if (p === '..') {
      if (parts.length === 0) return true;
      parts.pop();
    } else if (p !== '.' && p !== '') parts.push(p);
  }
  return false;
}

/** The Docker "changes" that make the built image run the builder's run script. */
export const runCommandChange = (scriptsDir: string) => `CMD ${JSON.stringify([`${scriptsDir}/run`])}`;

/** Is `path` (normalised, absolute) inside `root` (normalised, absolute)? */
export function isWithin(path: string, root: string): boolean {
  const r = root.endsWith('/') ? root : `${root}/`;
  return path === root || path.startsWith(r);
}

/** The file at a source's root whose patterns leave files out of a build (source-to-image's name for it). */
export const IGNORE_FILE = '.s2iignore';

const reEscape = (c: string) => c.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');

/** One gitignore-style glob as a regular expression's source: `*` and `?` within a segment, `**` across, `[...]` classes. */
function globSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else out += '.*';
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) out += reEscape(glob[++i]!);
    else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      const end = glob.indexOf(']', i + 2);
      const body = glob.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      out += `[${negated ? '^' : ''}${(negated ? body.slice(1) : body).replace(/[\\^]/g, '\\$&')}]`;
      i = end;
    } else out += reEscape(c);
  }
  return out;
}

/**
 * A source's ignore file (`.s2iignore`, gitignore-style): blank lines and
 * `#` comments skipped; a trailing `/` matches directories only; a pattern
 * with a `/` before its end is anchored at the source's root, one without
 * matches a name at any depth; `*`, `?`, `**`, `[...]`. Negation (`!`) is
 * refused rather than half-done. An ignored directory is not walked at all.
 */
export function ignoreMatcher(text: string): (path: string, isDir: boolean) => boolean {
  const rules: { re: RegExp; dirOnly: boolean }[] = [];
  text.split('\n').forEach((raw, n) => {
    let line = raw.replace(/\r$/, '').replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('!')) throw invalid(`${IGNORE_FILE} line ${n + 1}: negated patterns ("${line}") are not supported`);
    const dirOnly = line.endsWith('/');
    line = line.replace(/\/+$/, '');
    const anchored = line.includes('/');
    line = line.replace(/^\/+/, '');
    if (line === '') return;
    const source = globSource(line);
    rules.push({ re: new RegExp(anchored ? `^${source}$` : `(?:^|/)${source}$`), dirOnly });
  });
  return (path, isDir) => rules.some((r) => (isDir || !r.dirOnly) && r.re.test(path));
}

/**
 * For a stream of a whole tree (a git archive): a path is left out when it
 * or any directory above it is ignored, as a walk that never enters an
 * ignored directory would leave it out.
 */
export function ignoredInTree(ignored: (path: string, isDir: boolean) => boolean): (path: string, isDir: boolean) => boolean {
  return (path, isDir) => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) if (ignored(parts.slice(0, i).join('/'), true)) return true;
    return ignored(path, isDir);
  };
}

/**
 * The labels of a job's and a build's containers (value: the run's id)
 * and the names they must have: `gear clean --repair` removes a container
 * only when both agree (name gear-job-ID, gear-build-ID or
 * gear-build-ID-artifacts for its label's ID). A built image keeps its
 * build's label (a commit keeps the container's): containers made from it
 * carry that label under other names, and are never a build's leftover.
 */
export const JOB_LABEL = 'io.gear.job';
export const BUILD_LABEL = 'io.gear.build';
/** A run's id: 12 lower-case hex digits (jobs.ts newRunId). */
export const RUN_ID = /^[0-9a-f]{12}$/;
export type RunKind = 'job' | 'build';
export const runNameOf = (kind: RunKind, id: string) => `gear-${kind}-${id}`;
/**
 * The lock a run holds from before its container is made until the
 * container is gone (or committed): a container whose lock nobody holds
 * was left by a gear process that is gone. "@" keeps it apart from
 * container names (never valid in one).
 */
export const runLockOf = (kind: RunKind, id: string) => `@${runNameOf(kind, id)}`;
export const RUN_LOCK_PREFIX = '@gear-';

/** The run a labelled container belongs to, when its name is one that run gives its containers; else undefined (not gear's). */
export function runOfContainer(name: string, labels: Record<string, string>): { kind: RunKind; id: string } | undefined {
  for (const [kind, label] of [['job', JOB_LABEL], ['build', BUILD_LABEL]] as const) {
    const id = labels[label];
    if (id === undefined || !RUN_ID.test(id)) continue;
    const base = runNameOf(kind, id);
    if (name === base || (kind === 'build' && name === `${base}-artifacts`)) return { kind, id };
  }
  return undefined;
}

/** The run a transient unit's name belongs to (gear-job-ID.service, gear-build-ID.service). */
export function runOfUnit(unit: string): { kind: RunKind; id: string } | undefined {
  const m = /^gear-(job|build)-([0-9a-f]{12})\.service$/.exec(unit);
  return m ? { kind: m[1] as RunKind, id: m[2]! } : undefined;
}
