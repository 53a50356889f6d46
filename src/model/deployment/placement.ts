import { refusal, taken, type Capacity } from '../capacity.js';
import { full, invalid } from '../errors.js';
import { assignTargets } from './addresses.js';
import { fieldError } from './fields.js';
import { numberedId, randomId } from './ids.js';
import type { ContainerSpec, Deployment, Instance } from './types.js';

/** What a deploy does: instances to add (install), to keep (check, install again if gone) and to remove. */
export interface Plan {
  /** The deployment as it will be: every wanted instance placed, its link targets assigned. */
  next: Deployment;
  add: Instance[];
  keep: Instance[];
  remove: Instance[];
  /**
   * Instances on hosts not named for this deploy: never contacted (gear
   * talks only to the hosts it is given), replaced on the named hosts, and
   * kept marked for removal for a deploy that names their host.
   */
  elsewhere: Instance[];
}

const indexOf = (inst: Instance) => Number(/-([0-9]+)$/.exec(inst.Id)?.[1] ?? Number.MAX_SAFE_INTEGER);
const byIndex = (a: Instance, b: Instance) => indexOf(a) - indexOf(b) || a.Id.localeCompare(b.Id);

/**
 * An instance still matches its container when its published ports are what
 * the container says (its link addresses hang on them). A changed image does
 * not replace it: the deploy re-installs it in place (model/deployment/apply.ts),
 * so its volumes and their data stay.
 */
function matches(inst: Instance, c: ContainerSpec): boolean {
  if (inst.Ports.length !== c.PublicPorts.length) return false;
  return c.PublicPorts.every((p) => inst.Ports.some((ip) => ip.Internal === p.Internal && (p.External === 0 || ip.External === p.External)));
}

/**
 * Plan a deploy of `d` over `hosts` (names as given on the command line,
 * compared exactly). Instances already in `d` stay where they are (and
 * keep their link addresses) while their host is named, their container
 * still exists and still publishes the same ports (on the container's image,
 * which a deploy changes in place); counts are met by removing the highest
 * numbered instances or adding the lowest free numbers; new instances go to
 * the host with the fewest instances of that container, then the fewest
 * overall (round-robin on a fresh deploy). That spreads every container's
 * instances over the hosts, which is what the seed's only Affinity value,
 * "distribute", names (the seed never read Affinity): gear keeps it and
 * writes it back, and places the same way whatever it says.
 * New ids are IdPrefix + NAME-N, or random with RandomizeIds (`pick` is the
 * random source, for tests).
 *
 * With `capacities` (each host's GET /capacity, by host name; a host
 * missing from it has no known limit), a new instance goes only to a host
 * with room for it (one container, its memory limit), in the order above:
 * round-robin among the hosts with room. Instances removed on a host give
 * their place back first (their memory is not known, so it is not). When
 * an instance fits nowhere, the plan fails (a `full` error naming every
 * instance that does not fit and why), so the deploy changes nothing.
 */
export function planDeployment(d: Deployment, hosts: string[], pick?: (n: number) => number, capacities?: ReadonlyMap<string, Capacity>): Plan {
  if (hosts.length === 0) throw invalid('name at least one host to deploy to');
  const remove: Instance[] = [];
  const keep: Instance[] = [];
  const elsewhere: Instance[] = [];
  const byContainer = new Map<string, Instance[]>(d.Containers.map((c) => [c.Name, []]));
  for (const inst of d.Instances) {
    const c = d.Containers.find((x) => x.Name === inst.From);
    if (!hosts.includes(inst.On)) elsewhere.push({ ...structuredClone(inst), Remove: true });
    else if (inst.Remove || !c || !matches(inst, c)) remove.push(inst);
    else byContainer.get(c.Name)!.push(inst);
  }
  for (const c of d.Containers) {
    const mine = byContainer.get(c.Name)!.sort(byIndex);
    // Scale down: the highest numbers go first.
    remove.push(...mine.splice(c.Count));
    // Kept on the container's image: a new one is a change the deploy makes in place.
    keep.push(...mine.map((i) => ({ ...structuredClone(i), Image: c.Image })));
  }
  const kept = new Map(d.Containers.map((c) => [c.Name, keep.filter((i) => i.From === c.Name)]));
  const perHost = new Map(hosts.map((h) => [h, keep.filter((i) => i.On === h).length]));
  // Ids still in use: by kept instances, and by instances on hosts not named (still there, as far as gear knows).
  const usedIds = new Set([...keep, ...elsewhere].map((i) => i.Id));
  const add: Instance[] = [];
  const room = roomAfterRemoval(capacities, remove);
  const noRoom: string[] = [];
  for (const c of d.Containers) {
    const mine = kept.get(c.Name)!;
    const perHostMine = new Map(hosts.map((h) => [h, mine.filter((i) => i.On === h).length]));
    for (let n = 1; mine.length < c.Count; n++) {
      const id = d.RandomizeIds ? randomId(d.IdPrefix, pick) : numberedId(d.IdPrefix, c.Name, n);
      if (usedIds.has(id)) continue;
      const demand = { Memory: c.Limits?.Memory ?? 0 };
      const open = hosts.filter((h) => !room.has(h) || refusal(room.get(h)!, demand) === undefined);
      const on = open.sort((a, b) => perHostMine.get(a)! - perHostMine.get(b)! || perHost.get(a)! - perHost.get(b)! || hosts.indexOf(a) - hosts.indexOf(b))[0];
      if (on === undefined) {
        // Named anyway (no place taken), so the next instances get their own numbers in the message.
        noRoom.push(`${id} (${hosts.map((h) => `${h}: ${refusal(room.get(h)!, demand)}`).join('; ')})`);
        usedIds.add(id);
        mine.push({ Id: id, From: c.Name, Image: c.Image, On: '', Ports: [] });
        continue;
      }
      if (room.has(on)) room.set(on, taken(room.get(on)!, demand));
      const inst: Instance = { Id: id, From: c.Name, Image: c.Image, On: on, Ports: c.PublicPorts.map((p) => ({ Internal: p.Internal, External: p.External })) };
      // As in the seed, an instance keeps the environment it was made with.
      if (c.Environment.length) inst.Environment = c.Environment.map((v) => ({ ...v }));
      usedIds.add(id);
      mine.push(inst);
      add.push(inst);
      perHostMine.set(on, perHostMine.get(on)! + 1);
      perHost.set(on, perHost.get(on)! + 1);
    }
    mine.sort(byIndex);
  }
  if (noRoom.length) throw full(`the deployment does not fit: no host has room for ${noRoom.join(', ')}`);
  const instances = d.Containers.flatMap((c) => kept.get(c.Name)!);
  checkFixedPorts(d.Containers, instances);
  assignTargets(d, instances);
  return { next: { ...d, Instances: instances }, add, keep, remove, elsewhere };
}

/** The hosts' capacities once the instances removed on them are gone: each gives its container's place back. */
function roomAfterRemoval(capacities: ReadonlyMap<string, Capacity> | undefined, remove: Instance[]): Map<string, Capacity> {
  const room = new Map(capacities ?? []);
  for (const inst of remove) {
    const c = room.get(inst.On);
    if (!c) continue;
    const k = c.Containers;
    room.set(inst.On, { ...c, Containers: { ...k, Installed: Math.max(0, k.Installed - 1), ...(k.Limit !== undefined ? { Free: Math.min(k.Limit, (k.Free ?? 0) + 1) } : {}) } });
  }
  return room;
}

/** A fixed external port can be published once per host. */
function checkFixedPorts(containers: ContainerSpec[], instances: Instance[]): void {
  const owners = new Map<string, string>();
  containers.forEach((c, i) =>
    c.PublicPorts.forEach((p, j) => {
      if (p.External === 0) return;
      for (const inst of instances.filter((x) => x.From === c.Name)) {
        const key = `${inst.On} ${p.External}`;
        const owner = owners.get(key);
        if (owner)
          throw fieldError(`containers[${i}].publicports[${j}].external`, `port ${p.External} is fixed, but ${owner} and ${inst.Id} would both publish it on ${inst.On}`);
        owners.set(key, inst.Id);
      }
    }),
  );
}
