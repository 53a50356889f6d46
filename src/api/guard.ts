import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { hostOfHeader } from '../model/address.js';
import { API_VERSION_HEADER, isV2Path, registryToken } from '../model/registry.js';
import { TAR, isImageUpload } from './images.js';
import { tokenMatches } from './listen.js';

/**
 * What a listener lets in. Trust is decided by the listener that accepted a
 * connection (each server tags its requests), never by the peer's address:
 * a connection reset before it is read has no address at all.
 */
export type ListenerPolicy =
  /** The unix socket: only root can open it (mode 0600), no token. */
  | { kind: 'unix' }
  /** TCP: the token on every request, unless `token` is undefined (an --insecure-tokenless-listen listener). */
  | { kind: 'tcp'; token: string | undefined; scheme: 'http' | 'https' };

const policies = new WeakMap<IncomingMessage, ListenerPolicy>();

/** Called by each listener's request handler, before routing. */
export const tagRequest = (req: IncomingMessage, policy: ListenerPolicy) => void policies.set(req, policy);

/** A refusal: status and the message of the JSON error body. */
export interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** Names the Host header may carry, beside IP literals and localhost. */
export function allowedNames(serverNames: string[] = []): Set<string> {
  return new Set([hostname(), ...serverNames].map((n) => n.toLowerCase().replace(/\.$/, '')));
}

/**
 * The web console's static files (GET/HEAD /ui, /ui/...): they hold no data,
 * so they are served without the token (the page asks for it and sends it
 * with each data request), and a link from another site may open them.
 * Host is still checked (DNS rebinding), and they forbid framing (console.ts).
 */
export function isConsolePage(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  const path = (url ?? '').split('?')[0]!;
  return path === '/ui' || path.startsWith('/ui/');
}

const NO_PEERS: ReadonlySet<string> = new Set();

/** Whether a TCP request comes from the console of a peer this agent was told about (its Origin, exactly). */
export function isPeerOrigin(req: IncomingMessage, peers: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  return policies.get(req)?.kind === 'tcp' && typeof origin === 'string' && peers.has(origin);
}

const ALLOWED_TYPES = /^application\/json\s*(?:;|$)/i;

/**
 * Whether a request may reach an operation; undefined when it may. Checked
 * before the body is read. Fails closed: a request no listener tagged is refused.
 */
export function refusal(req: IncomingMessage, names: Set<string>, peers: ReadonlySet<string> = NO_PEERS): Refusal | undefined {
  const policy = policies.get(req);
  if (!policy) return { status: 403, message: 'request from an unknown listener' };
  const h = req.headers;
  if (policy.kind === 'tcp') {
    // DNS rebinding: a page's own name resolving to this host arrives with that name as Host.
    const host = typeof h.host === 'string' ? hostOfHeader(h.host) : '';
    if (!host) return { status: 400, message: 'a Host header is required' };
    if (!isIP(host) && host !== 'localhost' && !names.has(host))
      return { status: 403, message: `unexpected Host ${JSON.stringify(h.host)}: use an IP address, localhost, or a name given to gear daemon --server-name` };
  }
  if (isConsolePage(req.method, req.url)) return undefined;
  // The agent's own origin (TCP only; nothing a browser loads comes from the unix socket).
  const own = policy.kind === 'tcp' ? `${policy.scheme}://${h.host}` : undefined;
  // A peer's console (--console-peer) may call this agent from its own origin, over TCP, with this agent's token.
  const peer = isPeerOrigin(req, peers);
  if (h.origin !== undefined && h.origin !== own && !peer)
    return { status: 403, message: `cross-origin request refused (Origin ${JSON.stringify(h.origin)})` };
  const site = h['sec-fetch-site'];
  if ((site === 'cross-site' || site === 'same-site') && !peer) return { status: 403, message: `cross-site request refused (Sec-Fetch-Site: ${site})` };
  // A CORS preflight carries no token (browsers never send one on it) and reads nothing: the server answers it alone.
  if (peer && req.method === 'OPTIONS') return undefined;
  // A browser's simple request (text/plain, form types) needs no preflight: only JSON, or no type (the seed's client), is read.
  // The one exception: an image archive (application/x-tar) to POST /images/load, and no other route.
  const type = h['content-type'];
  const upload = isImageUpload(req.method, req.url) && type !== undefined && type.toLowerCase().split(';')[0]!.trim() === TAR;
  if (type !== undefined && !ALLOWED_TYPES.test(type) && !upload)
    return { status: 415, message: `Content-Type ${JSON.stringify(type)} is not accepted: send application/json` };
  if (policy.kind === 'tcp' && policy.token !== undefined) {
    const auth = String(h.authorization ?? '');
    // The registry (/v2/) also takes the token as a Basic password: a stock Docker client sends no bearer of its own, only
    // what `docker login` stored, after a 401 that names Basic. Every other route takes the bearer only.
    if (isV2Path(req.url)) {
      if (!tokenMatches(registryToken(auth), policy.token))
        return { status: 401, message: 'authentication required: docker login with the agent\'s token as the password', headers: { 'www-authenticate': 'Basic realm="gear"', ...API_VERSION_HEADER } };
      return undefined;
    }
    const given = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    if (!tokenMatches(given, policy.token)) return { status: 401, message: 'authentication required', headers: { 'www-authenticate': 'Bearer' } };
  }
  return undefined;
}
