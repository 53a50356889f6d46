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
