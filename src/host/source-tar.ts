import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { extract, pack, type Header } from 'tar-stream';
import { invalid } from '../model/errors.js';
import { IGNORE_FILE, ignoreMatcher, symlinkEscapes } from '../model/oneoff.js';

/** One entry of a source tree, as found by the walk (paths relative to its root, "/"-separated). */
export interface SourceEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  mtime: Date;
  linkname?: string;
}

/** The most entries a source tree may have (a runaway node_modules is refused, not streamed for an hour). */
export const MAX_SOURCE_ENTRIES = 200_000;

/**
 * Walk a source directory (lstat only: nothing is read or copied) and
 * list what a build would stream. Refused, before anything is sent: a
 * symlink that points out of the tree (absolute, or climbing above the
 * root), and what a tar of sources cannot hold (sockets, devices, FIFOs).
 * What the root's .s2iignore names is left out, an ignored directory
 * without being walked.
 */
export async function walkSource(root: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  const ignored = await ignoreOf(root);
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await fsp.readdir(dir)).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, name);
      const st = await fsp.lstat(full);
      if (ignored(path, st.isDirectory())) continue;
      if (out.length >= MAX_SOURCE_ENTRIES) throw invalid(`source has more than ${MAX_SOURCE_ENTRIES} entries`);
      const base = { path, mode: st.mode & 0o7777, size: 0, mtime: st.mtime };
      if (st.isSymbolicLink()) {
        const linkname = await fsp.readlink(full);
        if (symlinkEscapes(path, linkname)) throw invalid(`source: the symlink ${JSON.stringify(path)} points out of the source tree (to ${JSON.stringify(linkname)})`);
        out.push({ ...base, type: 'symlink', linkname });
      } else if (st.isDirectory()) {
        out.push({ ...base, type: 'directory' });
        await walk(full, path);
      } else if (st.isFile()) {
        out.push({ ...base, type: 'file', size: st.size });
      } else {
        throw invalid(`source: ${JSON.stringify(path)} is not a file, a directory or a symlink`);
      }
    }
  };
  await walk(root, '');
  return out;
}

/** The source's .s2iignore (a regular file at its root), or nothing ignored. */
async function ignoreOf(root: string): Promise<(path: string, isDir: boolean) => boolean> {
  const file = join(root, IGNORE_FILE);
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st) return () => false;
  if (!st.isFile()) throw invalid(`source: ${IGNORE_FILE} is not a regular file`);
  if (st.size > 1024 * 1024) throw invalid(`source: ${IGNORE_FILE} is larger than 1 MiB`);
  return ignoreMatcher(await fsp.readFile(file, 'utf8'));
}

/**
 * The tree as a tar stream under `prefix/` (tar-stream: each file read as
 * it is packed, never copied whole), owned by uid/gid. A file that
 * changed size since the walk fails the stream (tar-stream checks each
 * entry's size), so the build fails rather than take a torn tree.
 */
export function packSource(root: string, entries: SourceEntry[], prefix: string, owner: { uid: number; gid: number }): Readable {
  const p = pack();
  const own = { uid: owner.uid, gid: owner.gid };
  void (async () => {
    p.entry({ name: `${prefix}/`, type: 'directory', mode: 0o755, ...own });
    for (const e of entries) {
      const header = { name: `${prefix}/${e.path}`, mode: e.mode, mtime: e.mtime, ...own };
      if (e.type === 'directory') p.entry({ ...header, type: 'directory' });
      else if (e.type === 'symlink') p.entry({ ...header, type: 'symlink', linkname: e.linkname });
      else await pipeline(createReadStream(join(root, e.path)), p.entry({ ...header, type: 'file', size: e.size }));
    }
    p.finalize();
  })().catch((err: Error) => p.destroy(err));
  return p as unknown as Readable;
}

/**
 * A tar stream (a previous build's save-artifacts, or a git tree: `source`)
 * with every entry moved under `prefix/` (owned by `owner` when given).
 * `ignored`: entries left out (a git source's .s2iignore, ignoredInTree).
 * Names that climb (`..`) and hard links are refused: the tar comes from a
 * container or a repository; a source's symlinks may not point out of it.
 */
export function prefixTar(
  input: Readable,
  prefix: string,
  opts: { owner?: { uid: number; gid: number }; source?: boolean; ignored?: (path: string, isDir: boolean) => boolean } = {},
): Readable {
  const x = extract();
  const p = pack();
  const what = opts.source ? 'source' : 'save-artifacts';
  p.entry({ name: `${prefix}/`, type: 'directory', mode: 0o755, ...(opts.owner ?? {}) });
  x.on('entry', (header: Header, stream, next) => {
    // Destroyed with the extract: its error is the one reported (on the packed stream).
    stream.on('error', () => undefined);
    const name = header.name.replace(/^(\.\/|\/)+/, '');
    if (name === '' || name === '.') {
      stream.resume();
      return next();
    }
    if (name.split('/').includes('..')) return void x.destroy(invalid(`${what}: the entry ${JSON.stringify(header.name)} climbs out of the ${opts.source ? 'source tree' : 'artifacts'}`));
    // What the source's .s2iignore names (with what is under an ignored directory) is not sent.
    if (opts.ignored?.(name.replace(/\/+$/, ''), header.type === 'directory')) {
      stream.resume();
      return next();
    }
    // A git tree's symlinks are checked as a directory's are; hard links (git makes none) would name paths without the prefix.
    if (header.type === 'link') return void x.destroy(invalid(`${what}: the entry ${JSON.stringify(header.name)} is a hard link`));
    if (header.type === 'symlink' && opts.source && symlinkEscapes(name, header.linkname ?? ''))
      return void x.destroy(invalid(`${what}: the symlink ${JSON.stringify(name)} points out of the source tree (to ${JSON.stringify(header.linkname)})`));
    stream.pipe(p.entry({ ...header, name: `${prefix}/${name}`, ...(opts.owner ?? {}) }, (err) => (err ? x.destroy(err) : next())));
  });
  x.on('finish', () => p.finalize());
  x.on('error', (err: Error) => p.destroy(err));
  input.on('error', (err: Error) => x.destroy(err));
  input.pipe(x);
  return p as unknown as Readable;
}
