import { Type, type Static } from '@sinclair/typebox';
import { portNumber } from './address.js';
import { invalid } from './errors.js';
import { closed } from './schema.js';

/** The one port-number rule lives with the address grammar; exported here too, as before. */
export { portNumber };

/** A published port: Internal inside the container, External on the host (0 = allocate one). */
export interface PortPair {
  Internal: number;
  External: number;
}

export interface PortRange {
  first: number;
  last: number;
}

export const DEFAULT_PORT_RANGE: PortRange = { first: 4000, last: 60000 };

/**
 * The Fetch standard's "bad ports": browsers (and Node's fetch) refuse to
 * connect to them whatever the service, so a web container given 4045 or
 * 6666 could not be reached from a browser. Allocation skips them; a port
 * asked for by number is still given.
 */
const BROWSER_BLOCKED = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123,
  135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995,
  1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Whether gear may hand out this port when it allocates one (see BROWSER_BLOCKED). */
export const allocatable = (port: number): boolean => !BROWSER_BLOCKED.has(port);

/** Parse the CLI's `-p INTERNAL[:EXTERNAL]`; a missing or 0 EXTERNAL asks gear to allocate one. */
export function parsePortFlag(flag: string): PortPair {
  const m = /^([^:]+)(?::([^:]*))?$/.exec(flag);
  if (!m) throw invalid(`port mapping ${JSON.stringify(flag)} must look like INTERNAL:EXTERNAL, e.g. 8080:0`);
  return {
    Internal: portNumber(m[1], 'internal port', false),
    External: m[2] === undefined || m[2] === '' ? 0 : portNumber(m[2], 'external port', true),
  };
}

/**
 * A port as the API takes it: numbers only (geard's clients send numbers;
 * "8080" is refused, see docs/decisions.md), External 0 or absent = allocate.
 */
export const PortSchema = Type.Object(
  { Internal: Type.Integer({ minimum: 1, maximum: 65535 }), External: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) },
  closed,
);
export const PortsSchema = Type.Array(PortSchema, { maxItems: 64 });
export type PortSpec = Static<typeof PortSchema>;

/** The API's port list (checked against PortsSchema): no internal port twice, no external port asked for twice. */
export function validatePorts(ports: PortSpec[] = []): PortPair[] {
  const seenInternal = new Set<number>();
  const seenExternal = new Set<number>();
  return ports.map(({ Internal, External = 0 }) => {
    if (seenInternal.has(Internal)) throw invalid(`internal port ${Internal} is listed twice`);
    if (External && seenExternal.has(External)) throw invalid(`external port ${External} is listed twice`);
    seenInternal.add(Internal);
    if (External) seenExternal.add(External);
    return { Internal, External };
  });
}

export function parsePortRange(text: string): PortRange {
  const m = /^([0-9]+)-([0-9]+)$/.exec(text);
  if (!m) throw invalid(`port range ${JSON.stringify(text)} must look like FIRST-LAST`);
  const first = portNumber(m[1], 'first port', false);
  const last = portNumber(m[2], 'last port', false);
  if (first > last) throw invalid(`port range ${text} is empty`);
  return { first, last };
}

/** The seed's X-PortMapping header and the CLI's summary: "8080:4000,9090:4001". */
export const formatPortMapping = (ports: PortPair[]) => ports.map((p) => `${p.Internal}:${p.External}`).join(',');

/**
 * Ports in LISTEN state in /proc/net/tcp{,6} text. Column 2 is local
 * address:port in hex, column 4 the state (0A = LISTEN).
 */
export function listeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] !== '0A' || !cols[1]) continue;
    const hex = cols[1].split(':').pop();
    if (hex) ports.add(parseInt(hex, 16));
  }
  return ports;
}
