import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, lstatSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { invalid } from '../model/errors.js';

/**
 * Output that holds secrets (environment values), written where only its
 * owner can read it. A shell redirect (`> app.json`) creates its file with
 * the umask's mode (usually 0644) before gear runs, so gear cannot make it
 * private; `-o FILE` can. See docs/decisions.md, "Private output".
 */

const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

/**
 * FILE written whole and 0600: a new file in FILE's directory (created
 * 0600, O_EXCL), fsync'd, renamed over FILE. A reader never sees half a
 * file; an earlier FILE is replaced, not written into, so its mode and any
 * other name it has (a hard link) keep the old content. A symbolic link,
 * a directory or anything but a regular file at FILE is refused: nothing
 * is written (a link may lead anywhere, and -o names the file gear owns).
 */
export function writePrivateFile(path: string, text: string, flag = '-o'): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw invalid(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (st?.isSymbolicLink()) throw invalid(`${flag} ${path} is a symbolic link: gear writes a file of its own there, not through a link (remove it, or name the file it leads to)`);
  if (st?.isDirectory()) throw invalid(`${flag} ${path} is a directory: name a file`);
  if (st && !st.isFile()) throw invalid(`${flag} ${path} is not a regular file`);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', 0o600);
  } catch (err) {
    throw invalid(`${flag} ${path}: cannot write in ${dirname(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw invalid(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Refuse to print secrets into a regular file that group or others can
 * read (stdout redirected to a file the shell made 0644): one line naming
 * the way that works. A terminal, a pipe, /dev/null or a 0600 file: fine.
 */
export function refuseReadableStdout(what: string, option = '-o FILE', fd = 1): void {
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return;
  }
  if (st.isFile() && (st.mode & 0o077) !== 0)
    throw invalid(`${what}, and stdout is a file others can read (mode ${mode(st.mode)}): nothing written; use ${option} (written 0600)`);
}

/** Two names of one file (a missing one is no file): an output named like its own input is refused. */
export function sameFile(a: string, b: string): boolean {
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}
