import { createHmac } from 'node:crypto';
import { invalid } from './errors.js';

/**
 * Job callbacks (issue 13): an install names a URL the agent POSTs the
 * job's outcome to when it ends, signed with an HMAC-SHA256 of the body
 * under a secret from the agent's configuration.
 */

export const SIGNATURE_HEADER = 'X-Gear-Signature';

/** What the agent POSTs (application/json). */
export interface CallbackPayload {
  JobId: string;
  Operation: string;
  Container?: string;
  /** "ok" or "failed". */
  Result: 'ok' | 'failed';
  Error?: string;
}

/** A callback URL: absolute http(s), no credentials in it (they would be logged and stored as the URL is). */
export function validateCallbackUrl(value: string, what = 'Callback'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`${what} ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${what} must be an http or https URL (not ${url.protocol})`);
  if (url.username || url.password) throw invalid(`${what} must not carry credentials: the agent verifies nothing with them; the receiver checks ${SIGNATURE_HEADER}`);
  return url.href;
}

/** The header value signing `body` with `secret`: "sha256=" and the hex HMAC-SHA256. */
export const signature = (secret: Buffer, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/** Where a callback goes, for logs: origin and path, without the query (which may hold a receiver's token). */
export function callbackTarget(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
