import { isIP } from 'node:net';
import { invalid } from './errors.js';
import { validateName } from './names.js';

/**
 * Every `host[:port]` gear reads, one parser per kind of input, over one
 * grammar and one rule for port numbers:
 *
 *   locator        [ctr://][HOST[:PORT]/]NAME   a container on the command line
 *   agent host     HOST[:PORT]                  an agent named on the command line (list-units, clean, deploy, --with)
 *   agent address  unix:///PATH | http[s]://HOST[:PORT] | HOST[:PORT]   GEAR_AGENT, and what the CLI connects to
 *   listen address HOST:PORT | [V6]:PORT | :PORT | unix:/PATH          gear daemon --listen
 *   deploy host    HOST[:PORT], HOST a link target (no IPv6, no loopback)
 *   link target    an IPv4 address, "localhost" or a DNS name
 *   Host header    what the agent compares with the names it answers to
 *
 * HOST is a DNS name, an IPv4 address or an IPv6 address in brackets (a bare
 * IPv6 address cannot carry a port). PORT is 1 to 5 decimal digits and a
 * port number. Nothing else is accepted: no spaces, no signs, no empty host
 * or port, no characters beyond ASCII, no trailing text.
 */

/** The agent's port when none is given. */
export const DEFAULT_PORT = 43273;

// --- Port numbers ---------------------------------------------------------

/** The one rule: a whole number from 1 to 65535, or 0 where it means "allocate one". */
export const isPortNumber = (n: unknown, allowZero = false): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= (allowZero ? 0 : 1) && n <= 65535;

const portRefusal = (value: unknown, allowZero: boolean) => `${JSON.stringify(value)} is not a port number (${allowZero ? 0 : 1}-65535)`;

/**
 * A port number from JSON or a command-line flag: a number, or (unless
 * `text` is false: deployment descriptors want JSON numbers) its decimal
 * text. "what" names it in the error: `internal port "x" is not a port number (1-65535)`.
 */
export function portNumber(value: unknown, what: string, allowZero: boolean, opts: { text?: boolean } = {}): number {
  const n = opts.text !== false && typeof value === 'string' && /^[0-9]{1,5}$/.test(value) ? Number(value) : value;
  if (!isPortNumber(n, allowZero)) throw invalid(`${what ? `${what} ` : ''}${portRefusal(value, allowZero)}`);
  return n;
}

/** The PORT of HOST:PORT: 1 to 5 decimal digits, 1-65535; undefined otherwise. */
function portOfText(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return isPortNumber(n) ? n : undefined;
}

// --- Hosts ----------------------------------------------------------------

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

export const isIPv4 = (text: string) => IPV4.test(text);
/** A DNS name: labels of letters, digits and inner hyphens, at most 253 characters, not all digits and dots (a bad IPv4 address). */
export const isDnsName = (text: string) => text.length <= 253 && DNS_NAME.test(text) && !/^[0-9.]+$/.test(text);
const isIPv6 = (text: string) => isIP(text) === 6;

export const ipv4Octets = (ip: string) => ip.split('.').map(Number);

/** IPv4 addresses nothing can use: "this network" (0/8), multicast, reserved and broadcast (224/3). */
export function unusableIPv4(ip: string): boolean {
  const [a] = ipv4Octets(ip);
  return a === 0 || a! >= 224;
}

/** HOST[:PORT] cut in two, the brackets of an IPv6 address taken off; undefined when it is neither shape. */
function splitHostPort(text: string): { host: string; bracketed: boolean; port?: string } | undefined {
  const v6 = /^\[([^\]]*)\](?::([^]*))?$/.exec(text);
  if (v6) return { host: v6[1]!, bracketed: true, port: v6[2] };
  const plain = /^([^:[\]]*)(?::([^]*))?$/.exec(text);
  if (plain) return { host: plain[1]!, bracketed: false, port: plain[2] };
  return undefined;
}

// --- Agents on the command line ---------------------------------------------

/** An agent as named on the command line; `host` as written (an IPv6 address keeps its brackets). */
export interface AgentHost {
  host: string;
  port?: number;
}

/** `HOST[:PORT]`; undefined when it is not that, 'port' when only the port is wrong. */
function agentHost(text: string): AgentHost | 'port' | undefined {
  const s = splitHostPort(text);
  if (!s || !(s.bracketed ? isIPv6(s.host) : isIPv4(s.host) || isDnsName(s.host))) return undefined;
  const port = s.port === undefined ? undefined : portOfText(s.port);
  if (s.port !== undefined && port === undefined) return /^[0-9]+$/.test(s.port) ? 'port' : undefined;
  return { host: s.bracketed ? `[${s.host}]` : s.host, port };
}

/** An agent named on the command line: `HOST[:PORT]`. */
export function parseAgentHost(text: string): AgentHost {
  const a = agentHost(text);
  if (a === 'port') throw invalid(`host ${JSON.stringify(text)}: the port is out of range (1-65535)`);
  if (!a) throw invalid(`host ${JSON.stringify(text)} must look like HOST[:PORT] (a DNS name, an IPv4 address or [IPv6])`);
  return a;
}

/** The text of an agent host: `[::1]:43273`, `10.0.0.2`. */
export const agentHostText = (a: AgentHost) => `${a.host}${a.port ? `:${a.port}` : ''}`;

/** A target on the command line: `[ctr://][host[:port]/]NAME`. */
export interface Locator {
  host?: string;
  port?: number;
  name: string;
}

export function parseLocator(text: string): Locator {
  const bare = text.replace(/^ctr:\/\//, '');
  const slash = bare.lastIndexOf('/');
  const name = validateName(bare.slice(slash + 1));
  if (slash < 0) return { name };
  const a = agentHost(bare.slice(0, slash));
  if (a === 'port') throw invalid(`port in ${JSON.stringify(text)} is out of range`);
  if (!a) throw invalid(`${JSON.stringify(text)} is not a valid target; use [host[:port]/]NAME`);
  return { host: a.host, port: a.port, name };
}

/** Where the CLI connects to an agent. `label` is how the user named it, without scheme. */
export type AgentAddressText =
  | { kind: 'unix'; path: string; label: string }
  | { kind: 'tcp'; host: string; port: number; https: boolean; label: string };

/** `unix:///PATH`, `http://HOST[:PORT]`, `https://HOST[:PORT]` (a trailing "/" allowed) or `HOST[:PORT]`. */
export function parseAgentAddressText(text: string): AgentAddressText {
  const wrong = () => invalid(`agent address ${JSON.stringify(text)} must look like HOST[:PORT], https://HOST[:PORT] or unix:///PATH`);
  if (text.startsWith('unix://')) {
    const path = text.slice('unix://'.length);
    if (!path.startsWith('/')) throw wrong();
    return { kind: 'unix', path, label: text };
  }
  const https = text.startsWith('https://');
  const bare = text.replace(/^https?:\/\//, '').replace(/\/$/, '');
  const a = agentHost(bare);
  if (!a || a === 'port') throw wrong();
  return { kind: 'tcp', host: a.host.replace(/^\[|\]$/g, ''), port: a.port ?? DEFAULT_PORT, https, label: bare };
}

// --- The agent's own listeners ------------------------------------------------

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` (all addresses) or `unix:/PATH`; HOST an IP address or localhost. */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\//, '');
    if (!path.startsWith('/')) throw invalid(`listen address ${text}: a unix socket needs an absolute path`);
    return { kind: 'unix', path };
  }
  const s = splitHostPort(text);
  const port = s?.port === undefined ? undefined : portOfText(s.port);
  if (!s || port === undefined) throw invalid(`listen address ${JSON.stringify(text)} must look like HOST:PORT, [V6]:PORT or unix:/PATH`);
  const host = s.bracketed ? s.host : s.host || '0.0.0.0';
  if (s.bracketed ? !isIPv6(host) : host !== 'localhost' && !isIP(host)) throw invalid(`listen address ${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IP address`);
  return { kind: 'tcp', host, port };
}

/** The host part of a Host header ("[::1]:43273" -> "::1"), lower-cased, without a final dot; "" when there is none. */
export function hostOfHeader(header: string): string {
  const m = /^\[([^\]]+)\](?::[0-9]*)?$/.exec(header);
  if (m) return m[1]!.toLowerCase();
  return header.replace(/:[0-9]*$/, '').toLowerCase().replace(/\.$/, '');
}

/**
 * A peer agent's console origin (`gear daemon --console-peer URL`), as a
 * browser sends it in Origin: `http[s]://HOST[:PORT]`, HOST an IP address
 * or DNS name, the default port left out. Nothing else: no path, query,
 * user or fragment.
 */
export function parseConsoleOrigin(text: string): string {
  const bad = (why: string) => invalid(`console peer ${JSON.stringify(text)} ${why}: give https://HOST[:PORT] of another agent`);
  // ASCII only: a browser sends an internationalized name in its punycode form, which is what to give.
  if (!/^[\x21-\x7e]+$/.test(text)) throw bad('has spaces or non-ASCII characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('is not http(s)');
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '') || !/^https?:\/\/[^/?#@\s]+\/?$/i.test(text)) throw bad('has more than a scheme, host and port');
  if (url.port === '0') throw bad('has port 0');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!isIP(host) && !isDnsName(host) && host !== 'localhost') throw bad('has no valid host');
  return url.origin;
}

// --- Links and deployments ------------------------------------------------------

/**
 * Where a link leads: an IPv4 address, "localhost" (the container's host
 * itself), or a DNS name. A loopback address would mean the container
 * itself, which is never what a link is for: it is refused with a hint.
 */
export function validateToHost(value: unknown, what = 'link ToHost'): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${what} must be an IPv4 address, "localhost" or a host name`);
  if (value.length > 253) throw invalid(`${what} is longer than 253 characters`);
  if (value === 'localhost') return value;
  if (isIPv4(value)) {
    if (ipv4Octets(value)[0] === 127) throw invalid(`${what} ${value} is a loopback address`, 'use "localhost" for the host the container runs on');
    if (unusableIPv4(value)) throw invalid(`${what} ${value} cannot be used for a link`);
    return value;
  }
  if (!isDnsName(value)) throw invalid(`${what} ${JSON.stringify(value)} must be an IPv4 address, "localhost" or a host name`);
  return value;
}

/**
 * A host named for a deploy (and for `--with`): `HOST[:PORT]`, where HOST
 * is where linked containers connect to, so a link target. Returned as given.
 */
export function validateDeployHost(text: string): string {
  const show = JSON.stringify(text);
  const s = splitHostPort(text);
  if (!s || s.bracketed) throw invalid(`host ${show} must look like HOST[:PORT] (IPv4 address or name)`);
  try {
    validateToHost(s.host);
  } catch (err) {
    throw invalid(`host ${show}: ${(err as Error).message}`);
  }
  if (s.port !== undefined && portOfText(s.port) === undefined)
    throw invalid(/^[0-9]+$/.test(s.port) ? `host ${show}: port out of range` : `host ${show} must look like HOST[:PORT] (IPv4 address or name)`);
  return text;
}

/** The host part of a deploy host ("10.0.0.2:43273" -> "10.0.0.2"): where linked containers connect to. */
export const deployHostAddress = (on: string) => on.replace(/:[0-9]+$/, '');

/** Deploy hosts compare as named, except that the agent's default port is the same as no port. */
export const canonicalDeployHost = (on: string) => on.replace(new RegExp(`:${DEFAULT_PORT}$`), '');
