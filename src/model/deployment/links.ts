import { deployHostAddress } from '../address.js';
import type { NetworkLink } from '../links.js';
import type { Deployment } from './types.js';

export interface InstanceLinks {
  /** The links of every instance whose container links to others (possibly none yet). */
  links: Map<string, NetworkLink[]>;
  /** Links that cannot be made yet: the target's port is not known (its install failed). */
  pending: { Source: string; Target: string; Port: number }[];
}

/**
 * The network links of each instance: for each link of its container, each
 * instance of the target and each linked port, the target's stable address
 * inside the source leads to the target's host and published port.
 */
export function instanceLinks(d: Deployment): InstanceLinks {
  const links = new Map<string, NetworkLink[]>();
  const pending: InstanceLinks['pending'] = [];
  for (const c of d.Containers) {
    if (c.Links.length === 0) continue;
    for (const source of d.Instances.filter((i) => i.From === c.Name && !i.Remove)) {
      const mine: NetworkLink[] = [];
      for (const l of c.Links) {
        const target = d.Containers.find((t) => t.Name === l.To)!;
        const ports = l.AliasPorts.length ? l.AliasPorts.map((a) => a.Internal) : target.PublicPorts.map((p) => p.Internal);
        for (const t of d.Instances.filter((i) => i.From === target.Name && !i.Remove)) {
          for (const internal of ports) {
            const p = t.Ports.find((x) => x.Internal === internal);
            if (!p?.Target || !p.External) {
              pending.push({ Source: source.Id, Target: t.Id, Port: internal });
              continue;
            }
            mine.push({ FromHost: p.Target.Host, FromPort: p.Target.Port, ToHost: deployHostAddress(t.On), ToPort: p.External });
          }
        }
      }
      links.set(source.Id, mine);
    }
  }
  return { links, pending };
}
