import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { DEFAULT_PORT, parseListenAddress, type ListenAddress } from '../model/address.js';
import { invalid } from '../model/errors.js';

// The listen grammar lives with the other address grammars (model/address.ts); exported here too for the daemon.
export { DEFAULT_PORT, parseListenAddress, type ListenAddress };
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_PORT}`;
export const DEFAULT_SOCKET = '/run/gear/gear.sock';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A TCP listener anyone but this machine can reach: TLS (or --insecure-plaintext) is required there. */
export const beyondLoopback = (a: ListenAddress) => a.kind === 'tcp' && !isLoopback(a.host);

/** Where `gear daemon` keeps the token it made itself, and where the local CLI looks for it. */
export const defaultTokenPath = (config: { root: string; stateDir: string }) => `${config.root === '/' ? '' : config.root}${config.stateDir}/token`;

/**
 * A bearer token from a file only root can read (it is a credential): opened
 * without following a symlink, and the opened file (fstat, so nothing can be
 * swapped in between) must be a regular file owned by root with no group or
 * other permission. The file holds the token alone; at least 16 characters.
 */
export async function readTokenFile(path: string, what = 'token file'): Promise<string> {
  let file;
  try {
    file = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw invalid(`${what} ${path}: ${code === 'ELOOP' ? 'is a symbolic link (refused)' : code}`);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw invalid(`${what} ${path} is not a regular file`);
    if (stat.uid !== 0) throw invalid(`${what} ${path} must be owned by root (it is owned by uid ${stat.uid})`);
    if (stat.mode & 0o077) throw invalid(`${what} ${path} must not be readable by group or others (chmod 600)`);
    const token = (await file.readFile('utf8')).trim();
    if (token.length < 16 || /\s/.test(token)) throw invalid(`${what} ${path} must hold one token of at least 16 characters`);
    return token;
  } finally {
    await file.close();
  }
}

/**
 * The daemon's own token when the operator gave none: made once (random, mode
 * 0600, never through a symlink), then read with the same rules as any token file.
 */
export async function ensureTokenFile(path: string): Promise<string> {
  await fsp.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true, mode: 0o755 });
  try {
    const file = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await file.writeFile(`${randomBytes(32).toString('hex')}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw invalid(`token file ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  return readTokenFile(path);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * The expected token's digest, made once per token (an agent has one, or
 * none): a listing paid two SHA-256 per request before, ~2% of its CPU.
 */
let expectedDigest: { token: string; digest: Buffer } | undefined;

/** Constant-time comparison (of digests, so lengths do not leak either). */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  if (expectedDigest?.token !== expected) expectedDigest = { token: expected, digest: sha256(expected) };
  return timingSafeEqual(sha256(given), expectedDigest.digest);
}
