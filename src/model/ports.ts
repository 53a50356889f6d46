import { portNumber } from './address.js';
import { invalid } from './errors.js';

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

/** Parse the CLI's `-p INTERNAL[:EXTERNAL]`; a missing or 0 EXTERNAL asks gear to allocate one. */
export function parsePortFlag(flag: string): PortPair {
  const m = /^([^:]+)(?::([^:]*))?$/.exec(flag);
  if (!m) throw invalid(`port mapping ${JSON.stringify(flag)} must look like INTERNAL:EXTERNAL, e.g. 8080:0`);
  return {
    Internal: portNumber(m[1], 'internal port', false),
    External: m[2] === undefined || m[2] === '' ? 0 : portNumber(m[2], 'external port', true),
  };
}

/** Validate the API's port list: no duplicate internal ports, no external port asked for twice. */
export function validatePorts(ports: unknown): PortPair[] {
  if (ports === undefined || ports === null) return [];
  if (!Array.isArray(ports)) throw invalid('Ports must be a list of {Internal, External}');
  const seenInternal = new Set<number>();
  const seenExternal = new Set<number>();
  return ports.map((p: unknown) => {
    if (typeof p !== 'object' || p === null) throw invalid('each port must be an object {Internal, External}');
    const { Internal, External = 0 } = p as Record<string, unknown>;
    const pair = { Internal: portNumber(Internal, 'internal port', false), External: portNumber(External, 'external port', true) };
    if (seenInternal.has(pair.Internal)) throw invalid(`internal port ${pair.Internal} is listed twice`);
    if (pair.External && seenExternal.has(pair.External)) throw invalid(`external port ${pair.External} is listed twice`);
    seenInternal.add(pair.Internal);
    if (pair.External) seenExternal.add(pair.External);
    return pair;
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
