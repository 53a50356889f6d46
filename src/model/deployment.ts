import { validateEnvVar, type EnvVar } from './env.js';
import { invalid } from './errors.js';
import { validateToHost, type NetworkLink } from './links.js';
import { MAX_NAME_LENGTH, validateImage, validateName } from './names.js';

/**
 * Deployment descriptors, in the seed's JSON format: containers (name,
 * image, count, publicports, links, environment) placed as instances
 * NAME-1..NAME-count over a list of hosts and wired together with network
 * links. Everything here is pure: parsing with messages that point at the
 * offending field, placement, stable link addresses, and the links each
 * instance gets once the ports of its targets are known. The CLI
 * (src/cli/deploy.ts) carries a plan out.
 */

export interface PortSpec {
  Internal: number;
  /** 0: the host allocates one. */
  External: number;
}

export interface LinkSpec {
  /** Name of the container linked to (every instance of it is reached). */
  To: string;
  /** The address is in a private range instead of loopback (for software that refuses loopback peers). */
  NonLocal: boolean;
  /** Keep the target's port and vary the address instead (a replica set: every member on its own port). */
  MatchPort: boolean;
  /** Which of the target's ports to link (Internal), and the port the source sees (External, 0 = same). Empty: all. */
  AliasPorts: PortSpec[];
}

export interface ContainerSpec {
  Name: string;
  Image: string;
  Count: number;
  PublicPorts: PortSpec[];
  Links: LinkSpec[];
  Environment: EnvVar[];
}

export interface HostPort {
  Host: string;
  Port: number;
}

/** A port of an instance: published as External on its host, reached by linked containers at Target. */
export interface InstancePort {
  Internal: number;
  /** 0 until the host allocated it (learnt from the install). */
  External: number;
  Target?: HostPort;
}

export interface Instance {
  Id: string;
  /** The container (descriptor entry) it is an instance of. */
  From: string;
  Image: string;
  /** The host it is placed on, as named on the command line. */
  On: string;
  Ports: InstancePort[];
  /** The links it was given (written back for the reader, and to know what to clear). */
  Links?: NetworkLink[];
  /** Its removal failed: removed again by the next deploy. */
  Remove?: boolean;
}

export interface Deployment {
  Containers: ContainerSpec[];
  Instances: Instance[];
}

const MAX_COUNT = 1000;
/** Where link addresses come from: loopback by default, a private range with nonlocal. */
const LOOPBACK_BASE = '127.0.0.2';
const NONLOCAL_BASE = '192.168.1.1';

const show = (v: unknown) => JSON.stringify(v);

/** A field error: "containers[1].links[0].to: no container named "db"". */
const fieldError = (path: string, message: string) => invalid(`${path}: ${message}`);

/**
 * An object's fields by lower-cased name (the seed's keys are
 * case-insensitive); unknown fields are refused, so a typo never passes
 * as a default.
 */
function fields(value: unknown, path: string, known: string[]): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, 'must be an object');
  const out = new Map<string, unknown>();
  for (const [key, v] of Object.entries(value)) {
    const k = key.toLowerCase();
    if (!known.includes(k)) throw fieldError(path ? `${path}.${key}` : key, `unknown field (known: ${known.join(', ')})`);
    if (out.has(k)) throw fieldError(path ? `${path}.${key}` : key, 'is given twice (keys are case-insensitive)');
    out.set(k, v);
  }
  return out;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fieldError(path, 'must be a list');
  return value;
}

function wrap<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fieldError(path, (err as Error).message);
  }
}

function portNumber(value: unknown, path: string, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535)
    throw fieldError(path, `${show(value)} is not a port number (${allowZero ? 0 : 1}-65535)`);
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw fieldError(path, 'must be true or false');
  return value;
}

function portSpecs(value: unknown, path: string): PortSpec[] {
  const seen = new Set<number>();
  return list(value, path).map((p, i) => {
    const at = `${path}[${i}]`;
    const f = fields(p, at, ['internal', 'external']);
    if (!f.has('internal')) throw fieldError(`${at}.internal`, 'is required');
    const spec = { Internal: portNumber(f.get('internal'), `${at}.internal`, false), External: f.get('external') === undefined ? 0 : portNumber(f.get('external'), `${at}.external`, true) };
    if (seen.has(spec.Internal)) throw fieldError(`${at}.internal`, `port ${spec.Internal} is listed twice`);
    seen.add(spec.Internal);
    return spec;
  });
}

function parseContainer(value: unknown, path: string): ContainerSpec {
  const f = fields(value, path, ['name', 'image', 'count', 'publicports', 'links', 'environment']);
  const name = wrap(`${path}.name`, () => validateName(f.get('name'), 'name'));
  const count = f.get('count') ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_COUNT)
    throw fieldError(`${path}.count`, `must be a whole number from 0 to ${MAX_COUNT}, not ${show(count)}`);
  // Instance names are NAME-COUNT: they must be valid container names too.
  if (`${name}-${count}`.length > MAX_NAME_LENGTH) throw fieldError(`${path}.name`, `"${name}-${count}" would be longer than ${MAX_NAME_LENGTH} characters`);
  const publicPorts = portSpecs(f.get('publicports'), `${path}.publicports`);
  const links = list(f.get('links'), `${path}.links`).map((l, i) => {
    const at = `${path}.links[${i}]`;
    const lf = fields(l, at, ['to', 'nonlocal', 'matchport', 'aliasports']);
    if (typeof lf.get('to') !== 'string' || lf.get('to') === '') throw fieldError(`${at}.to`, 'must name a container');
    return {
      To: lf.get('to') as string,
      NonLocal: bool(lf.get('nonlocal'), `${at}.nonlocal`),
      MatchPort: bool(lf.get('matchport'), `${at}.matchport`),
      AliasPorts: portSpecs(lf.get('aliasports'), `${at}.aliasports`),
    };
  });
  const seenEnv = new Set<string>();
  const environment = list(f.get('environment'), `${path}.environment`).map((e, i) => {
    const at = `${path}.environment[${i}]`;
    const ef = fields(e, at, ['name', 'value']);
    const v = wrap(at, () => validateEnvVar(ef.get('name'), ef.get('value') ?? ''));
    if (seenEnv.has(v.Name)) throw fieldError(`${at}.name`, `${v.Name} is given twice`);
    seenEnv.add(v.Name);
    return v;
  });
  return {
    Name: name,
    Image: wrap(`${path}.image`, () => validateImage(f.get('image'))),
    Count: count,
    PublicPorts: publicPorts,
    Links: links,
    Environment: environment,
  };
}

function parseInstance(value: unknown, path: string): Instance {
  const f = fields(value, path, ['id', 'from', 'image', 'on', 'ports', 'links', 'remove']);
  const on = f.get('on');
  if (typeof on !== 'string' || on === '' || on.length > 300 || /[\s/]/.test(on)) throw fieldError(`${path}.on`, 'must name the host the instance is on');
  const ports = list(f.get('ports'), `${path}.ports`).map((p, i) => {
    const at = `${path}.ports[${i}]`;
    const pf = fields(p, at, ['internal', 'external', 'target']);
    const port: InstancePort = { Internal: portNumber(pf.get('internal'), `${at}.internal`, false), External: portNumber(pf.get('external') ?? 0, `${at}.external`, true) };
    if (pf.get('target') !== undefined) {
      const tf = fields(pf.get('target'), `${at}.target`, ['host', 'port']);
      const host = tf.get('host');
      if (typeof host !== 'string' || !/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(host)) throw fieldError(`${at}.target.host`, 'must be an IPv4 address');
      port.Target = { Host: host, Port: portNumber(tf.get('port'), `${at}.target.port`, false) };
    }
    return port;
  });
  const links = list(f.get('links'), `${path}.links`).map((l, i) => {
    const lf = fields(l, `${path}.links[${i}]`, ['fromhost', 'fromport', 'tohost', 'toport']);
    return { FromHost: String(lf.get('fromhost')), FromPort: Number(lf.get('fromport')), ToHost: String(lf.get('tohost')), ToPort: Number(lf.get('toport')) };
  });
  const instance: Instance = {
    Id: wrap(`${path}.id`, () => validateName(f.get('id'), 'id')),
    From: String(f.get('from') ?? ''),
    Image: typeof f.get('image') === 'string' ? (f.get('image') as string) : '',
    On: on,
    Ports: ports,
  };
  if (links.length) instance.Links = links;
  if (bool(f.get('remove'), `${path}.remove`)) instance.Remove = true;
  return instance;
}

/**
 * Parse a descriptor (the seed's format, or a resolved one gear wrote):
 * every field checked, names unique, every link's target a container that
 * publishes the linked ports. Throws an invalid-kind error naming the field.
 */
export function parseDeployment(value: unknown): Deployment {
  const f = fields(value, '', ['containers', 'instances', 'hosts', 'deployed']);
  const containersRaw = list(f.get('containers'), 'containers');
  const containers = containersRaw.map((c, i) => parseContainer(c, `containers[${i}]`));
  const byName = new Map<string, number>();
  containers.forEach((c, i) => {
    const first = byName.get(c.Name);
    if (first !== undefined) throw fieldError(`containers[${i}].name`, `"${c.Name}" is used twice (also containers[${first}])`);
    byName.set(c.Name, i);
  });
  containers.forEach((c, i) => {
    c.Links.forEach((l, j) => {
      const at = `containers[${i}].links[${j}]`;
      const target = containers[byName.get(l.To) ?? -1];
      if (!target) throw fieldError(`${at}.to`, `no container named ${show(l.To)}`);
      if (target.PublicPorts.length === 0) throw fieldError(`${at}.to`, `container "${target.Name}" publishes no ports to link to`);
      l.AliasPorts.forEach((a, k) => {
        if (!target.PublicPorts.some((p) => p.Internal === a.Internal))
          throw fieldError(`${at}.aliasports[${k}].internal`, `container "${target.Name}" publishes no port ${a.Internal}`);
      });
      if (c.Links.findIndex((o) => o.To === l.To) !== j) throw fieldError(`${at}.to`, `"${l.To}" is linked twice`);
    });
  });
  const instances = list(f.get('instances'), 'instances').map((v, i) => parseInstance(v, `instances[${i}]`));
  const ids = new Map<string, number>();
  instances.forEach((inst, i) => {
    const first = ids.get(inst.Id);
    if (first !== undefined) throw fieldError(`instances[${i}].id`, `"${inst.Id}" is listed twice (also instances[${first}])`);
    ids.set(inst.Id, i);
  });
  return { Containers: containers, Instances: instances };
}

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

/** An instance still matches its container when the image and the published ports are what the container says. */
function matches(inst: Instance, c: ContainerSpec): boolean {
  if (inst.Image !== c.Image || inst.Ports.length !== c.PublicPorts.length) return false;
  return c.PublicPorts.every((p) => inst.Ports.some((ip) => ip.Internal === p.Internal && (p.External === 0 || ip.External === p.External)));
}

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

/**
 * Plan a deploy of `d` over `hosts` (names as given on the command line,
 * compared exactly). Instances already in `d` stay where they are (and
 * keep their link addresses) while their host is named, their container
 * still exists and still matches; counts are met by removing the highest
 * numbered instances or adding the lowest free numbers; new instances go to
 * the host with the fewest instances of that container, then the fewest
 * overall (round-robin on a fresh deploy).
 */
export function planDeployment(d: Deployment, hosts: string[]): Plan {
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
    keep.push(...mine.map((i) => structuredClone(i)));
  }
  const kept = new Map(d.Containers.map((c) => [c.Name, keep.filter((i) => i.From === c.Name)]));
  const perHost = new Map(hosts.map((h) => [h, keep.filter((i) => i.On === h).length]));
  // Ids still in use: by kept instances, and by instances on hosts not named (still there, as far as gear knows).
  const usedIds = new Set([...keep, ...elsewhere].map((i) => i.Id));
  const add: Instance[] = [];
  for (const c of d.Containers) {
    const mine = kept.get(c.Name)!;
    const perHostMine = new Map(hosts.map((h) => [h, mine.filter((i) => i.On === h).length]));
    for (let n = 1; mine.length < c.Count; n++) {
      const id = `${c.Name}-${n}`;
      if (usedIds.has(id)) continue;
      const on = [...hosts].sort((a, b) => perHostMine.get(a)! - perHostMine.get(b)! || perHost.get(a)! - perHost.get(b)! || hosts.indexOf(a) - hosts.indexOf(b))[0]!;
      const inst: Instance = { Id: id, From: c.Name, Image: c.Image, On: on, Ports: c.PublicPorts.map((p) => ({ Internal: p.Internal, External: p.External })) };
      usedIds.add(id);
      mine.push(inst);
      add.push(inst);
      perHostMine.set(on, perHostMine.get(on)! + 1);
      perHost.set(on, perHost.get(on)! + 1);
    }
    mine.sort(byIndex);
  }
  const instances = d.Containers.flatMap((c) => kept.get(c.Name)!);
  checkFixedPorts(d.Containers, instances);
  assignTargets(d, instances);
  return { next: { Containers: d.Containers, Instances: instances }, add, keep, remove, elsewhere };
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

/** Give every linked port of every target instance a stable address; kept ones keep theirs when still right. */
function assignTargets(d: Deployment, instances: Instance[]): void {
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

/** The host part of a host as named on the command line ("10.0.0.2:43273" -> "10.0.0.2"): where linked containers connect to. */
function linkHostOf(on: string): string {
  return on.replace(/:[0-9]+$/, '');
}

/** Check that hosts named for a deploy can be link targets (an IPv4 address or a DNS name, with an optional agent port). */
export function validateDeployHost(host: string): string {
  const m = /^([^:]+)(?::([0-9]{1,5}))?$/.exec(host);
  if (!m) throw invalid(`host ${show(host)} must look like HOST[:PORT] (IPv4 address or name)`);
  wrap(`host ${show(host)}`, () => validateToHost(m[1]));
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) throw invalid(`host ${show(host)}: port out of range`);
  return host;
}

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
            mine.push({ FromHost: p.Target.Host, FromPort: p.Target.Port, ToHost: linkHostOf(t.On), ToPort: p.External });
          }
        }
      }
      links.set(source.Id, mine);
    }
  }
  return { links, pending };
}

/** The descriptor as gear writes it back: PascalCase like the seed's resolved files, defaults left out. */
export function renderDeployment(d: Deployment, extra: { Hosts: string[]; Deployed: string }): string {
  const port = (p: PortSpec) => (p.External ? { Internal: p.Internal, External: p.External } : { Internal: p.Internal });
  const out = {
    Containers: d.Containers.map((c) => ({
      Name: c.Name,
      Image: c.Image,
      Count: c.Count,
      ...(c.PublicPorts.length ? { PublicPorts: c.PublicPorts.map(port) } : {}),
      ...(c.Links.length
        ? {
            Links: c.Links.map((l) => ({
              To: l.To,
              ...(l.NonLocal ? { NonLocal: true } : {}),
              ...(l.MatchPort ? { MatchPort: true } : {}),
              ...(l.AliasPorts.length ? { AliasPorts: l.AliasPorts.map(port) } : {}),
            })),
          }
        : {}),
      ...(c.Environment.length ? { Environment: c.Environment } : {}),
    })),
    Instances: d.Instances.map((i) => ({
      Id: i.Id,
      From: i.From,
      Image: i.Image,
      On: i.On,
      Ports: i.Ports.map((p) => ({ Internal: p.Internal, External: p.External, ...(p.Target ? { Target: p.Target } : {}) })),
      ...(i.Links?.length ? { Links: i.Links } : {}),
      ...(i.Remove ? { Remove: true } : {}),
    })),
    Hosts: extra.Hosts,
    Deployed: extra.Deployed,
  };
  return `${readableJson(out, '')}\n`;
}

/** JSON with one line per port, link or variable: small objects stay on one line, the rest is indented. */
function readableJson(v: unknown, indent: string): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const flat = (x: unknown): boolean => x === null || typeof x !== 'object' || (!Array.isArray(x) && Object.values(x).every(flat));
  const inline = (x: unknown): string =>
    x === null || typeof x !== 'object' ? JSON.stringify(x) : `{ ${Object.entries(x).map(([k, y]) => `${JSON.stringify(k)}: ${inline(y)}`).join(', ')} }`;
  if (!Array.isArray(v) && flat(v) && inline(v).length <= 120) return inline(v);
  const next = `${indent}  `;
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => `${next}${readableJson(x, next)}`).join(',\n')}\n${indent}]` : '[]';
  const entries = Object.entries(v).map(([k, x]) => `${next}${JSON.stringify(k)}: ${readableJson(x, next)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

/** FILE.<timestamp> for a descriptor FILE; a resolved file's own timestamp is replaced, not stacked. */
export function resolvedName(file: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]+Z$/, '').replace('T', '-');
  return `${file.replace(/\.[0-9]{8}-[0-9]{6}(?:-[0-9]+)?$/, '')}.${stamp}`;
}
