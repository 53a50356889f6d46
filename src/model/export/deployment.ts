import type { Deployment } from '../deployment/types.js';
import { numberedId } from '../deployment/ids.js';
import { instanceOrder } from '../deployment/order.js';
import type { ExportedContainer } from './container.js';

/** gear's state directory on a host unless its agent was told otherwise: where each instance's env file is. */
export const DEFAULT_STATE_DIR = '/var/lib/gear';

/**
 * Each instance of a deployment as an exported container (one Quadlet file
 * each): the resolved file's instances as placed, or, for a descriptor not
 * deployed yet, NAME-1..NAME-Count with ports the host picks. The env file
 * is the one gear deploy writes on the instance's host (referenced, never
 * copied). Links are gear's iptables: a note, not carried over.
 */
export function exportedInstances(d: Deployment, stateDir = DEFAULT_STATE_DIR): ExportedContainer[] {
  const placed = d.Instances.filter((i) => !i.Remove);
  const instances = placed.length
    ? placed
    : d.Containers.flatMap((c) =>
        Array.from({ length: c.Count }, (_, n) => ({ Id: numberedId(d.IdPrefix, c.Name, n + 1), From: c.Name, Image: c.Image, On: '', Ports: c.PublicPorts, Links: undefined })),
      );
  return instances.map((i) => {
    const spec = d.Containers.find((c) => c.Name === i.From);
    // Its start order: the instances of its host in its unit (as install does), the others a note (gear deploy waits for them).
    const order = spec ? instanceOrder(i, spec, instances) : { local: { After: [] }, remote: [] };
    const notes = [
      ...order.remote.map((r) => `it starts after ${r.Inst.Id} on ${r.Inst.On} is ${r.Wait}: another host, ordered by gear deploy only`),
      ...(i.Links ?? []).map((l) => `gear's network link ${l.FromHost}:${l.FromPort} -> ${l.ToHost}:${l.ToPort} (iptables in the container)`),
      ...(i.Links ? [] : (spec?.Links ?? []).map((l) => `gear's network links to ${l.To} (iptables in the container)`)),
    ];
    return {
      Name: i.Id,
      Image: i.Image,
      Ports: i.Ports.map((p) => ({ Internal: p.Internal, External: p.External })),
      EnvFile: `${stateDir}/env/${i.Id}.env`,
      Volumes: [],
      BindMounts: [],
      Slice: 'gear.slice',
      ...(spec?.Limits ? { Limits: spec.Limits } : {}),
      After: order.local.After,
      Notes: notes,
    };
  });
}
