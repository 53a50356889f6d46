import { invalid } from '../model/errors.js';
import { validateName } from '../model/names.js';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A DNS name or IPv4 address, or an IPv6 address in brackets; then an optional port. */
const HOST_AND_PORT = new RegExp(`^(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::([0-9]{1,5}))?$`);

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
  const m = HOST_AND_PORT.exec(bare.slice(0, slash));
  if (!m) throw invalid(`${JSON.stringify(text)} is not a valid target; use [host[:port]/]NAME`);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw invalid(`port in ${JSON.stringify(text)} is out of range`);
  return { host: m[1], port, name };
}
