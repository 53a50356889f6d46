import { isIPv4, portNumber } from '../address.js';
import { validateEnvVar } from '../env.js';
import { MAX_NAME_LENGTH, validateImage, validateName } from '../names.js';
import { bool, fieldError, fields, list, show, wrap } from './fields.js';
import type { ContainerSpec, Deployment, Instance, InstancePort, PortSpec } from './types.js';

const MAX_COUNT = 1000;

/** A port in a descriptor: a JSON number (text such as "8080" is refused), with the field's path in the error. */
const portField = (value: unknown, path: string, allowZero: boolean) => wrap(path, () => portNumber(value, '', allowZero, { text: false }));

function portSpecs(value: unknown, path: string): PortSpec[] {
  const seen = new Set<number>();
  return list(value, path).map((p, i) => {
    const at = `${path}[${i}]`;
    const f = fields(p, at, ['internal', 'external']);
    if (!f.has('internal')) throw fieldError(`${at}.internal`, 'is required');
    const spec = { Internal: portField(f.get('internal'), `${at}.internal`, false), External: f.get('external') === undefined ? 0 : portField(f.get('external'), `${at}.external`, true) };
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
    const port: InstancePort = { Internal: portField(pf.get('internal'), `${at}.internal`, false), External: portField(pf.get('external') ?? 0, `${at}.external`, true) };
    if (pf.get('target') !== undefined) {
      const tf = fields(pf.get('target'), `${at}.target`, ['host', 'port']);
      const host = tf.get('host');
      if (typeof host !== 'string' || !isIPv4(host)) throw fieldError(`${at}.target.host`, 'must be an IPv4 address');
      port.Target = { Host: host, Port: portField(tf.get('port'), `${at}.target.port`, false) };
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
