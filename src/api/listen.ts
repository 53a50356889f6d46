import { createHash, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isIP } from 'node:net';
import { invalid } from '../model/errors.js';

export const DEFAULT_PORT = 43273;
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_PORT}`;
export const DEFAULT_SOCKET = '/run/gear/gear.sock';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` (all addresses) or `unix:/PATH`. */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\//, '');
    if (!path.startsWith('/')) throw invalid(`listen address ${text}: a unix socket needs an absolute path`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw invalid(`listen address ${JSON.stringify(text)} must look like HOST:PORT, [V6]:PORT or unix:/PATH`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  if (host !== 'localhost' && !isIP(host)) throw invalid(`listen address ${text}: ${host} is not an IP address`);
  return { kind: 'tcp', host, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A listener anyone but this machine can reach: refused without authentication. */
export const needsAuth = (a: ListenAddress) => a.kind === 'tcp' && !isLoopback(a.host);

/**
 * A bearer token from a file only root can read (it is a credential). The
 * file holds the token alone; at least 16 characters.
 */
export async function readTokenFile(path: string): Promise<string> {
  let stat;
  try {
    stat = await fsp.stat(path);
  } catch (err) {
    throw invalid(`token file ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  if (stat.mode & 0o077) throw invalid(`token file ${path} must not be readable by group or others (chmod 600)`);
  const token = (await fsp.readFile(path, 'utf8')).trim();
  if (token.length < 16 || /\s/.test(token)) throw invalid(`token file ${path} must hold one token of at least 16 characters`);
  return token;
}

/** Constant-time comparison (of digests, so lengths do not leak either). */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
