import { fieldError } from './fields.js';
import type { Deployment, HostPort, Instance, InstancePort } from './types.js';

/** Where link addresses come from: loopback by default, a private range with nonlocal. */
const LOOPBACK_BASE = '127.0.0.2';
const NONLOCAL_BASE = '192.168.1.1';

interface Requirement {
  nonLocal: boolean;
  match: boolean;
  /** The port the sources see: the target's internal port, or the alias. */
  port: number;
  aliasFrom?: string;
}

/** For each container, which of its ports are linked to and how (the strictest link decides). */
function linkRequirements(d: Deployment): Map<string, Map<number, Requirement>> {
  const reqs = new Map<string, Map<number, Requirement>>();
  d.Containers.forEach((c, i) =>
    c.Links.forEach((l, j) => {
      const target = d.Containers.find((t) => t.Name === l.To)!;
      const ports = l.AliasPorts.length ? l.AliasPorts : target.PublicPorts.map((p) => ({ Internal: p.Internal, External: 0 }));
      const forTarget = reqs.get(target.Name) ?? new Map<number, Requirement>();
      reqs.set(target.Name, forTarget);
      ports.forEach((a, k) => {
        const r = forTarget.get(a.Internal) ?? { nonLocal: false, match: false, port: a.Internal };
        r.nonLocal ||= l.NonLocal;
        r.match ||= l.MatchPort || a.External !== 0;
        if (a.External !== 0) {
          const at = `containers[${i}].links[${j}].aliasports[${k}].external`;
          if (r.aliasFrom && r.port !== a.External)
            throw fieldError(at, `port ${a.Internal} of "${target.Name}" is already seen as ${r.port} by ${r.aliasFrom}; one address per target port`);
          r.port = a.External;
          r.aliasFrom = at;
        }
        forTarget.set(a.Internal, r);
      });
    }),
  );
  return reqs;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
const isLoopback = (ip: string) => ip.startsWith('127.');

/** Link addresses in use, and the next free one for a requirement. */
class AddressTable {
  private readonly taken = new Set<string>();

  has(t: HostPort): boolean {
    return this.taken.has(`${t.Host}:${t.Port}`);
  }
  take(t: HostPort): HostPort {
    this.taken.add(`${t.Host}:${t.Port}`);
    return t;
  }

  /**
   * matchport: the port stays, the address counts up from the base
   * (127.0.0.2, 127.0.0.3, ... or 192.168.1.1, 192.168.1.2, ...);
   * otherwise the address stays and the port counts up from the wanted one.
   */
  next(r: Requirement): HostPort {
    const base = ipToInt(r.nonLocal ? NONLOCAL_BASE : LOOPBACK_BASE);
    if (r.match) {
      for (let n = base; ; n++) {
        if ((n & 255) === 0 || (n & 255) === 255) continue; // no network or broadcast-looking addresses
        const t = { Host: intToIp(n), Port: r.port };
        if (!this.has(t)) return this.take(t);
      }
    }
    for (let n = base; ; n++) {
      for (let i = 0; i < 65535; i++) {
        const port = ((r.port - 1 + i) % 65535) + 1;
        const t = { Host: intToIp(n), Port: port };
        if (!this.has(t)) return this.take(t);
      }
    }
  }
}

function satisfies(t: HostPort, r: Requirement): boolean {
  return isLoopback(t.Host) !== r.nonLocal && (!r.match || t.Port === r.port);
}

/** Give every linked port of every target instance a stable address; kept ones keep theirs when still right. */
export function assignTargets(d: Deployment, instances: Instance[]): void {
  const reqs = linkRequirements(d);
  const table = new AddressTable();
  const wanted = (inst: Instance, p: InstancePort) => reqs.get(inst.From)?.get(p.Internal);
  // First the addresses kept instances already have (first come keeps it), then new ones.
  for (const inst of instances)
    for (const p of inst.Ports) {
      const r = wanted(inst, p);
      if (!r || !p.Target || !satisfies(p.Target, r) || table.has(p.Target)) delete p.Target;
      else table.take(p.Target);
    }
  for (const inst of instances)
    for (const p of inst.Ports) {
      const r = wanted(inst, p);
      if (r && !p.Target) p.Target = table.next(r);
    }
}
