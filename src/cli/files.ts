import { readFileSync } from 'node:fs';
import { describeError, invalid } from '../model/errors.js';

/** A file the user named, as text; an unreadable one is one clear line ("cannot read token file x: ENOENT"). */
export function readText(path: string, what?: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid(`cannot read ${what ? `${what} ` : ''}${path}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`);
  }
}
