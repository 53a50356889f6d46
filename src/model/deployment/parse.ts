import { isIPv4, portNumber } from '../address.js';
import { validateEnvVar, type EnvVar } from '../env.js';
import { validateHealth } from '../health.js';
import { parseSocketActivation } from '../socket-activation.js';
import { parseMemory, validateCpus, validatePids, type ContainerLimits } from '../limits.js';
import { validatePath } from '../volumes.js';
import { MAX_NAME_LENGTH, validateImage, validateName } from '../names.js';
import { bool, fieldError, fields, list, show, text, wrap, type Warn } from './fields.js';
import { RANDOM_ID_CHARS, numberedId } from './ids.js';
import { afterCycle } from './order.js';
import type { ContainerSpec, Deployment, Instance, InstancePort, PortSpec, StartAfter } from './types.js';

const MAX_COUNT = 1000;

/** A port in a descriptor: a JSON number (text such as "8080" is refused), with the field's path in the error. */
const portField = (value: unknown, path: string, allowZero: boolean) => wrap(path, () => portNumber(value, '', allowZero, { text: false }));

function portSpecs(value: unknown, path: string, warn: Warn): PortSpec[] {
  const seen = new Set<number>();
  return list(value, path).map((p, i) => {
    const at = `${path}[${i}]`;
    const f = fields(p, at, ['internal', 'external'], warn);
    if (!f.has('internal')) throw fieldError(`${at}.internal`, 'is required');
    const spec = { Internal: portField(f.get('internal'), `${at}.internal`, false), External: f.get('external') === undefined ? 0 : portField(f.get('external'), `${at}.external`, true) };
    if (seen.has(spec.Internal)) throw fieldError(`${at}.internal`, `port ${spec.Internal} is listed twice`);
    seen.add(spec.Internal);
    return spec;
  });
}

/** `[{Name, Value}]`, each valid, no name twice. */
function environment(value: unknown, path: string, warn: Warn): EnvVar[] {
  const seen = new Set<string>();
  return list(value, path).map((e, i) => {
    const at = `${path}[${i}]`;
    const ef = fields(e, at, ['name', 'value'], warn);
    const v = wrap(at, () => validateEnvVar(ef.get('name'), ef.get('value') ?? ''));
    if (seen.has(v.Name)) throw fieldError(`${at}.name`, `${v.Name} is given twice`);
    seen.add(v.Name);
    return v;
  });
}

function parseContainer(value: unknown, path: string, warn: Warn): ContainerSpec {
  const f = fields(value, path, ['name', 'image', 'count', 'publicports', 'links', 'environment', 'affinity', ...LIMIT_KEYS, 'health', 'volumes', 'socketactivation', 'idleafter', 'after'], warn);
  const name = wrap(`${path}.name`, () => validateName(f.get('name'), 'name'));
  const count = f.get('count') ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_COUNT)
    throw fieldError(`${path}.count`, `must be a whole number from 0 to ${MAX_COUNT}, not ${show(count)}`);
  const publicPorts = portSpecs(f.get('publicports'), `${path}.publicports`, warn);
  const links = list(f.get('links'), `${path}.links`).map((l, i) => {
    const at = `${path}.links[${i}]`;
    const lf = fields(l, at, ['to', 'nonlocal', 'matchport', 'aliasports', 'ports'], warn);
    if (typeof lf.get('to') !== 'string' || lf.get('to') === '') throw fieldError(`${at}.to`, 'must name a container');
    const aliasPorts = portSpecs(lf.get('aliasports'), `${at}.aliasports`, warn);
    // The seed's Ports [int]: linked as themselves, added to the aliases unless already there.
    const ports = list(lf.get('ports'), `${at}.ports`).map((p, k) => portField(p, `${at}.ports[${k}]`, false));
    ports.forEach((p, k) => {
      if (ports.indexOf(p) !== k) throw fieldError(`${at}.ports[${k}]`, `port ${p} is listed twice`);
      if (!aliasPorts.some((a) => a.Internal === p)) aliasPorts.push({ Internal: p, External: 0 });
    });
    return {
      To: lf.get('to') as string,
      NonLocal: bool(lf.get('nonlocal'), `${at}.nonlocal`),
      MatchPort: bool(lf.get('matchport'), `${at}.matchport`),
      AliasPorts: aliasPorts,
      Ports: ports,
    };
  });
  const spec: ContainerSpec = {
    Name: name,
    Image: wrap(`${path}.image`, () => validateImage(f.get('image'))),
    Count: count,
    PublicPorts: publicPorts,
    Links: links,
    Environment: environment(f.get('environment'), `${path}.environment`, warn),
  };
  const affinity = text(f.get('affinity'), `${path}.affinity`, 64);
  if (affinity) spec.Affinity = affinity;
  const limits = containerLimits(f, path);
  if (limits) spec.Limits = limits;
  const health = healthCheck(f.get('health'), `${path}.health`, warn);
  if (health) spec.Health = health;
  const volumes = list(f.get('volumes'), `${path}.volumes`).map((v, i) => wrap(`${path}.volumes[${i}]`, () => validatePath(v, 'volume path')));
  volumes.forEach((v, i) => {
    if (volumes.indexOf(v) !== i) throw fieldError(`${path}.volumes[${i}]`, `${v} is listed twice`);
  });
  if (volumes.length) spec.Volumes = volumes;
  const activation = socketActivation(f, path, publicPorts);
  if (activation) spec.SocketActivation = activation;
  const after = list(f.get('after'), `${path}.after`).map((a, i) => startAfter(a, `${path}.after[${i}]`, warn));
  if (after.length) spec.After = after;
  return spec;
}

/** An After entry: {To, Wait} (Wait "started", the default, or "healthy"), or a container's name alone (started). */
function startAfter(value: unknown, path: string, warn: Warn): StartAfter {
  if (typeof value === 'string') return { To: value, Wait: 'started' };
  const f = fields(value, path, ['to', 'wait'], warn);
  if (typeof f.get('to') !== 'string' || f.get('to') === '') throw fieldError(`${path}.to`, 'must name a container');
  const wait = f.get('wait') ?? 'started';
  if (wait !== 'started' && wait !== 'healthy') throw fieldError(`${path}.wait`, `must be "started" or "healthy", not ${show(wait)}`);
  return { To: f.get('to') as string, Wait: wait };
}

/** Every After names another container of the descriptor, once; healthy only of one with a health check; no cycle. */
function checkAfter(containers: ContainerSpec[], byName: Map<string, number>): void {
  containers.forEach((c, i) =>
    (c.After ?? []).forEach((a, j) => {
      const at = `containers[${i}].after[${j}]`;
      const target = containers[byName.get(a.To) ?? -1];
      if (!target) throw fieldError(`${at}.to`, `no container named ${show(a.To)}`);
      if (target === c) throw fieldError(`${at}.to`, `${c.Name} cannot start after itself`);
      // Idle, its unit is inactive until a connection wakes it: a start order would wait for that forever.
      if (target.SocketActivation)
        throw fieldError(`${at}.to`, `"${target.Name}" is socket-activated: it starts on its first connection, so nothing can wait for it to start (a link to it wakes it)`);
      if (c.After!.findIndex((o) => o.To === a.To) !== j) throw fieldError(`${at}.to`, `${show(a.To)} is named twice`);
      if (a.Wait === 'healthy' && !target.Health) throw fieldError(`${at}.wait`, `container "${target.Name}" has no health check, so nothing can wait for it to be healthy (give it one, or wait "started")`);
    }),
  );
  const cycle = afterCycle(containers);
  if (cycle) throw fieldError(`containers[${byName.get(cycle[0]!)}].after`, `${cycle.join(' -> ')}: these containers wait for each other, so none could start`);
}

/** gear's SocketActivation (true/false) and IdleAfter ("10m") of a container, checked as install checks them. */
function socketActivation(f: Map<string, unknown>, path: string, ports: PortSpec[]) {
  const on = f.get('socketactivation');
  if (on !== undefined && on !== null && typeof on !== 'boolean') throw fieldError(`${path}.socketactivation`, `must be true or false, not ${show(on)}`);
  const idle = f.get('idleafter');
  if (idle !== undefined && idle !== null && (typeof idle !== 'string' || idle.length > 32)) throw fieldError(`${path}.idleafter`, `must be a duration such as "10m", not ${show(idle)}`);
  const names = { activation: `${path}.socketactivation`, idle: `${path}.idleafter`, skip: 'skipsocketproxy', ports: `${path}.publicports` };
  return parseSocketActivation({ SocketActivation: on as boolean | null | undefined, IdleAfter: idle as string | null | undefined }, ports, names);
}

/** gear's Health of a container: install's body form ({Cmd, Interval, Timeout, Retries, StartPeriod}, durations as text). */
function healthCheck(value: unknown, path: string, warn: Warn) {
  if (value === undefined || value === null) return undefined;
  const f = fields(value, path, ['cmd', 'interval', 'timeout', 'retries', 'startperiod'], warn);
  const str = (k: string) => {
    const v = f.get(k);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v.length > 1024) throw fieldError(`${path}.${k}`, `must be text, not ${show(v)}`);
    return v;
  };
  const cmd = str('cmd');
  if (cmd === undefined) throw fieldError(`${path}.cmd`, 'is required');
  const retries = f.get('retries');
  if (retries !== undefined && retries !== null && (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 1 || retries > 100))
    throw fieldError(`${path}.retries`, `must be a whole number from 1 to 100, not ${show(retries)}`);
  const body = {
    Cmd: cmd,
    ...(str('interval') !== undefined ? { Interval: str('interval')! } : {}),
    ...(str('timeout') !== undefined ? { Timeout: str('timeout')! } : {}),
    ...(typeof retries === 'number' ? { Retries: retries } : {}),
    ...(str('startperiod') !== undefined ? { StartPeriod: str('startperiod')! } : {}),
  };
  return wrap(path, () => validateHealth(body, 'health'));
}

const LIMIT_KEYS = ['memory', 'cpus', 'pids'];

/** gear's Memory ("256M" or bytes), Cpus and Pids of a container, as install takes them. */
function containerLimits(f: Map<string, unknown>, path: string): ContainerLimits | undefined {
  const out: ContainerLimits = {};
  const given = (k: string) => f.get(k) !== undefined && f.get(k) !== null;
  if (given('memory')) out.Memory = wrap(`${path}.memory`, () => parseMemory(f.get('memory'), 'memory'));
  if (given('cpus')) out.Cpus = wrap(`${path}.cpus`, () => validateCpus(f.get('cpus'), 'cpus'));
  if (given('pids')) out.Pids = wrap(`${path}.pids`, () => validatePids(f.get('pids'), 'pids'));
  return Object.keys(out).length ? out : undefined;
}

/** A port's link address: `{}` (the seed writes that for an unlinked port) is none. */
function target(value: unknown, path: string, warn: Warn): InstancePort['Target'] {
  if (value === undefined || value === null) return undefined;
  const tf = fields(value, path, ['host', 'port'], warn);
  const host = tf.get('host') ?? '';
  const port = tf.get('port') ?? 0;
  if (host === '' && port === 0) return undefined;
  if (typeof host !== 'string' || !isIPv4(host)) throw fieldError(`${path}.host`, 'must be an IPv4 address');
  return { Host: host, Port: portField(port, `${path}.port`, false) };
}

function parseInstance(value: unknown, path: string, warn: Warn): Instance | undefined {
  const f = fields(value, path, ['id', 'from', 'image', 'on', 'ports', 'links', 'remove', 'environment'], warn);
  const on = f.get('on');
  if (on === undefined || on === null) {
    // The seed leaves On out for an instance it never placed, and skips it.
    warn(`${path}: not placed on any host (no "On"), ignored`);
    return undefined;
  }
  if (typeof on !== 'string' || on === '' || on.length > 300 || /[\s/]/.test(on)) throw fieldError(`${path}.on`, 'must name the host the instance is on');
  const ports = list(f.get('ports'), `${path}.ports`).map((p, i) => {
    const at = `${path}.ports[${i}]`;
    const pf = fields(p, at, ['internal', 'external', 'target'], warn);
    const port: InstancePort = { Internal: portField(pf.get('internal'), `${at}.internal`, false), External: portField(pf.get('external') ?? 0, `${at}.external`, true) };
    const t = target(pf.get('target'), `${at}.target`, warn);
    if (t) port.Target = t;
    return port;
  });
  const links = list(f.get('links'), `${path}.links`).map((l, i) => {
    const lf = fields(l, `${path}.links[${i}]`, ['fromhost', 'fromport', 'tohost', 'toport'], warn);
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
  if (f.get('environment') !== undefined && f.get('environment') !== null) instance.Environment = environment(f.get('environment'), `${path}.environment`, warn);
  return instance;
}

/** IdPrefix: the start of every new instance's id, so made of a name's characters. */
function idPrefix(value: unknown): string {
  const prefix = text(value, 'idprefix', MAX_NAME_LENGTH);
  if (prefix) wrap('idprefix', () => validateName(prefix, 'id prefix'));
  return prefix;
}

/**
 * Parse a descriptor (the seed's format, one the seed wrote, or a resolved
 * one gear wrote): every field checked, names unique, every link's target a
 * container that publishes the linked ports, every new id a valid name, no
 * link address used twice. Throws an invalid-kind error naming the field;
 * unknown fields are ignored and reported through `warn`.
 */
export function parseDeployment(value: unknown, warn: Warn = () => {}): Deployment {
  const f = fields(value, '', ['containers', 'instances', 'idprefix', 'randomizeids', 'hosts', 'deployed'], warn);
  const prefix = idPrefix(f.get('idprefix'));
  const randomize = bool(f.get('randomizeids'), 'randomizeids');
  const containersRaw = list(f.get('containers'), 'containers');
  const containers = containersRaw.map((c, i) => parseContainer(c, `containers[${i}]`, warn));
  const byName = new Map<string, number>();
  containers.forEach((c, i) => {
    const first = byName.get(c.Name);
    if (first !== undefined) throw fieldError(`containers[${i}].name`, `"${c.Name}" is used twice (also containers[${first}])`);
    byName.set(c.Name, i);
    // New instances' ids must be valid container names too.
    const longest = numberedId(prefix, c.Name, c.Count);
    if (!randomize && longest.length > MAX_NAME_LENGTH)
      throw fieldError(prefix ? 'idprefix' : `containers[${i}].name`, `instance id "${longest}" would be longer than ${MAX_NAME_LENGTH} characters`);
  });
  if (randomize && prefix.length + RANDOM_ID_CHARS > MAX_NAME_LENGTH)
    throw fieldError('idprefix', `with randomizeids, ids are the prefix and ${RANDOM_ID_CHARS} random characters: "${prefix}" leaves no room within ${MAX_NAME_LENGTH} characters`);
  containers.forEach((c, i) => {
    c.Links.forEach((l, j) => {
      const at = `containers[${i}].links[${j}]`;
      const target = containers[byName.get(l.To) ?? -1];
      if (!target) throw fieldError(`${at}.to`, `no container named ${show(l.To)}`);
      if (target.PublicPorts.length === 0) throw fieldError(`${at}.to`, `container "${target.Name}" publishes no ports to link to`);
      l.Ports.forEach((p, k) => {
        if (!target.PublicPorts.some((x) => x.Internal === p)) throw fieldError(`${at}.ports[${k}]`, `container "${target.Name}" publishes no port ${p}`);
      });
      // The ports folded in from Ports come after the given aliases, and were checked just above.
      l.AliasPorts.forEach((a, k) => {
        if (!target.PublicPorts.some((p) => p.Internal === a.Internal))
          throw fieldError(`${at}.aliasports[${k}].internal`, `container "${target.Name}" publishes no port ${a.Internal}`);
      });
      if (c.Links.findIndex((o) => o.To === l.To) !== j) throw fieldError(`${at}.to`, `"${l.To}" is linked twice`);
    });
  });
  checkAfter(containers, byName);
  // Indexes as in the file (instances without a host are left out only at the end).
  const parsed = list(f.get('instances'), 'instances').map((v, i) => parseInstance(v, `instances[${i}]`, warn));
  const ids = new Map<string, number>();
  parsed.forEach((inst, i) => {
    if (!inst) return;
    const first = ids.get(inst.Id);
    if (first !== undefined) throw fieldError(`instances[${i}].id`, `"${inst.Id}" is listed twice (also instances[${first}])`);
    ids.set(inst.Id, i);
  });
  checkTargets(parsed);
  const instances = parsed.filter((i): i is Instance => i !== undefined);
  return { Containers: containers, Instances: instances, IdPrefix: prefix, RandomizeIds: randomize };
}

/** A link address leads to one instance's port (the seed refused a file that gave one twice, too). */
function checkTargets(instances: (Instance | undefined)[]): void {
  const owners = new Map<string, string>();
  instances.forEach((inst, i) => {
    if (!inst || inst.Remove) return;
    inst.Ports.forEach((p, k) => {
      if (!p.Target) return;
      const key = `${p.Target.Host}:${p.Target.Port}`;
      const owner = owners.get(key);
      if (owner) throw fieldError(`instances[${i}].ports[${k}].target`, `${key} is also the link address of ${owner}`);
      owners.set(key, `${inst.Id} port ${p.Internal}`);
    });
  });
}
