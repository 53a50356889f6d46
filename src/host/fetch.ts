import { showSource } from '../model/env.js';
import { upstream } from '../model/errors.js';

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * GET a URL a request named (Environment.Source) and return its body as
 * text: a 2xx answer of at most maxBytes, within timeoutMs (connecting,
 * redirects and body together). Credentials in the URL go as HTTP Basic, as
 * Go's client sends them. The body may be secret: it is never part of an
 * error, and errors show the URL without credentials or query.
 */
export async function fetchText(url: URL, limits: FetchLimits): Promise<string> {
  const shown = showSource(url);
  const headers: Record<string, string> = { accept: 'text/plain, */*' };
  const target = new URL(url);
  if (target.username || target.password) {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let res: Response;
  try {
    res = await fetch(target, { method: 'GET', headers, redirect: 'follow', signal });
  } catch (err) {
    throw upstream(`cannot fetch the environment from ${shown}: ${reason(err, limits)}`);
  }
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel().catch(() => undefined);
    throw upstream(`cannot fetch the environment from ${shown}: it answered ${res.status}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > limits.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw upstream(`cannot fetch the environment from ${shown}: it is larger than ${limits.maxBytes / 1024} KiB`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if ((err as { kind?: string }).kind === 'upstream') throw err;
    throw upstream(`cannot fetch the environment from ${shown}: ${reason(err, limits)}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why a fetch failed, in a few words (undici hides the cause one level down). */
function reason(err: unknown, limits: FetchLimits): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${limits.timeoutMs / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
