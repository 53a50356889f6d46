import { parseDocument } from 'yaml';
import { afterCycle } from './deployment/order.js';
import { parseDeployment } from './deployment/parse.js';
import type { ContainerSpec } from './deployment/types.js';
import { validateEnvVar, type EnvVar } from './env.js';
import { invalid } from './errors.js';
import { formatDuration } from './health.js';
import { MAX_NAME_LENGTH, validateName } from './names.js';
import { validatePath } from './volumes.js';

/**
 * `gear import compose.yml`: a Compose file turned into a gear deployment
 * descriptor (the seed's JSON format with gear's own fields: Memory, Cpus,
 * Pids, Health, Volumes). Pure: the caller reads the files (the Compose
 * file, its env_files, the `.env` beside it for interpolation). What has an
 * equivalent is converted; every key without one is named in a warning
 * (never dropped silently); a value gear cannot honour (a UDP port, a bind
 * mount of a host path, a variable without a value) is an error that names
 * the key. The mapping is in docs/decisions.md, "Compose import".
 */

export interface ComposeInput {
  /** The Compose file's text, and how to name it in messages. */
  text: string;
  file: string;
  /** An env_file's text, by the path the Compose file gives (relative to the Compose file's directory); undefined: missing. */
  readEnvFile(path: string): string | undefined;
  /** Variables for ${NAME} interpolation (the caller's environment and the .env beside the file, as Compose does). */
  variables: Record<string, string | undefined>;
}

export interface ComposeResult {
  /** The descriptor, as gear deploy reads it. */
  descriptor: Record<string, unknown>;
  warnings: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const err = (path: string, message: string) => invalid(`${path}: ${message}`);

/** Service keys gear converts; the rest are warned about. */
const SERVICE_KEYS = new Set(['image', 'build', 'ports', 'expose', 'environment', 'env_file', 'volumes', 'depends_on', 'healthcheck', 'deploy', 'scale', 'mem_limit', 'cpus', 'pids_limit', 'links']);
const TOP_KEYS = new Set(['services', 'volumes', 'version', 'name']);

/** Compose's ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME and $$. */
export function interpolate(text: string, vars: Record<string, string | undefined>, at: string, warn: (m: string) => void): string {
  return text.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])((?:[^}])*))?\}|([A-Za-z_][A-Za-z0-9_]*)|\{[^}]*\}?)/g, (whole, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const key = name ?? bare;
    if (key === undefined) throw err(at, `${whole} is not a variable reference Compose reads`);
    const value = vars[key];
    const unset = value === undefined || (colon === ':' && value === '');
    if (op === '-') return unset ? (arg ?? '') : value!;
    if (op === '?') {
      if (unset) throw err(at, `${key} is required${arg ? `: ${arg}` : ''} (set it in the environment or in .env)`);
      return value!;
    }
    if (value === undefined) {
      warn(`${at}: ${key} is not set, an empty value is used (as Compose does)`);
      return '';
    }
    return value;
  });
}

/** Every string in the parsed file interpolated (keys too: Compose does not, but keys never hold references in practice). */
function interpolateAll(v: unknown, vars: ComposeInput['variables'], at: string, warn: (m: string) => void): unknown {
  if (typeof v === 'string') return interpolate(v, vars, at, warn);
  if (Array.isArray(v)) return v.map((x, i) => interpolateAll(x, vars, `${at}[${i}]`, warn));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateAll(x, vars, at ? `${at}.${k}` : k, warn)]));
  return v;
}

/** Compose's durations ("1m30s", "10s", "500ms", "1h") in milliseconds. */
export function composeDuration(v: unknown, at: string): number {
  const text = String(v);
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 };
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(h|ms|m|s|us|ns)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) throw err(at, `${JSON.stringify(text)} is not a duration (e.g. 30s, 1m30s, 500ms)`);
  const ms = parts.reduce((n, p) => n + Number(p[1]) * units[p[2]!]!, 0);
  if (!Number.isInteger(ms)) throw err(at, `${text} is not a whole number of milliseconds`);
  return ms;
}

/** A port: "8080", "80:8080", "8080/tcp", {target, published}; ranges, UDP and host addresses refused. */
function port(v: unknown, at: string): { Internal: number; External: number } {
  const num = (x: unknown, what: string) => {
    const n = typeof x === 'number' ? x : /^[0-9]{1,5}$/.test(String(x)) ? Number(x) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw err(at, `${what} ${JSON.stringify(x)} is not a port number (ranges are not supported: list each port)`);
    return n;
  };
  if (isObj(v)) {
    for (const k of Object.keys(v)) if (!['target', 'published', 'protocol', 'mode', 'host_ip', 'name', 'app_protocol'].includes(k)) throw err(at, `unknown port field ${k}`);
    if (v.protocol !== undefined && v.protocol !== 'tcp') throw err(`${at}.protocol`, `${JSON.stringify(v.protocol)}: gear publishes TCP ports only`);
    if (v.host_ip !== undefined) throw err(`${at}.host_ip`, 'gear publishes on every address of a host; binding to one is not supported');
    if (v.mode !== undefined && v.mode !== 'host' && v.mode !== 'ingress') throw err(`${at}.mode`, `${JSON.stringify(v.mode)} is not a port mode`);
    return { Internal: num(v.target, 'target'), External: v.published === undefined || v.published === '' ? 0 : num(v.published, 'published') };
  }
  if (typeof v !== 'string' && typeof v !== 'number') throw err(at, 'must be "[HOST:]CONTAINER[/tcp]" or {target, published}');
  let text = String(v);
  const proto = /\/([a-z]+)$/.exec(text);
  if (proto) {
    if (proto[1] !== 'tcp') throw err(at, `${JSON.stringify(text)}: gear publishes TCP ports only`);
    text = text.slice(0, -proto[0].length);
  }
  const parts = text.split(':');
  if (parts.length > 2) throw err(at, `${JSON.stringify(String(v))}: gear publishes on every address of a host; binding to one is not supported`);
  if (parts.some((p) => p.includes('-'))) throw err(at, `${JSON.stringify(String(v))}: port ranges are not supported; list each port`);
  return parts.length === 2 ? { Internal: num(parts[1], 'container port'), External: parts[0] === '' ? 0 : num(parts[0], 'host port') } : { Internal: num(parts[0], 'container port'), External: 0 };
}

/** environment: ["A=1", ...] or {A: 1}; a name without a value (taken from the shell by Compose) is refused. */
function environment(v: unknown, at: string): EnvVar[] {
  const pairs: [string, unknown][] = Array.isArray(v)
    ? v.map((e, i) => {
        const text = String(e);
        const eq = text.indexOf('=');
        if (eq < 0) throw err(`${at}[${i}]`, `${text} has no value (Compose takes it from the shell): write ${text}=VALUE`);
        return [text.slice(0, eq), text.slice(eq + 1)];
      })
    : isObj(v)
      ? Object.entries(v)
      : (() => {
          throw err(at, 'must be a list of NAME=VALUE or a map');
        })();
  return pairs.map(([name, value]) => {
    if (value === null || value === undefined) throw err(`${at}.${name}`, `has no value (Compose takes it from the shell): give it one`);
    if (typeof value === 'object') throw err(`${at}.${name}`, 'must be text, a number or true/false');
    try {
      return validateEnvVar(name, String(value));
    } catch (e) {
      throw err(`${at}.${name}`, (e as Error).message);
    }
  });
}

/** An env_file in Compose's format: NAME=VALUE lines, # comments, values in matching quotes unquoted. */
export function composeEnvFile(text: string, at: string): EnvVar[] {
  const out: EnvVar[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw err(`${at}, line ${i + 1}`, `${JSON.stringify(line.slice(0, 40))} is not NAME=VALUE (a name without a value is taken from the shell by Compose: give it one)`);
    let value = m[2]!;
    const q = /^(["'])(.*)\1$/.exec(value);
    if (q) value = q[1] === '"' ? q[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1') : q[2]!;
    else value = value.replace(/\s+#.*$/, '');
    try {
      out.push(validateEnvVar(m[1], value));
    } catch (e) {
      throw err(`${at}, line ${i + 1}`, (e as Error).message);
    }
  });
  return out;
}

/** healthcheck → gear's Health: test as a shell command, durations as gear writes them. */
function healthcheck(v: unknown, at: string, warn: (m: string) => void): Obj | undefined {
  if (!isObj(v)) throw err(at, 'must be a map');
  for (const k of Object.keys(v)) if (!['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable'].includes(k)) warn(`${at}.${k}: no equivalent in gear, ignored`);
  if (v.disable === true) return undefined;
  if (v.start_interval !== undefined) warn(`${at}.start_interval: gear checks at the same interval during the start period, ignored`);
  const t = v.test;
  let cmd: string;
  if (typeof t === 'string') cmd = t;
  else if (Array.isArray(t) && t.length && t.every((x) => typeof x === 'string')) {
    const [kind, ...args] = t as string[];
    if (kind === 'NONE') return undefined;
    if (kind === 'CMD-SHELL') cmd = args.join(' ');
    else if (kind === 'CMD') cmd = args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
    else throw err(`${at}.test`, `must start with CMD, CMD-SHELL or NONE, not ${JSON.stringify(kind)}`);
  } else throw err(`${at}.test`, 'must be a command: a string, or ["CMD", ...] / ["CMD-SHELL", "..."]');
  if (cmd.trim() === '') throw err(`${at}.test`, 'has no command');
  const d = (k: string) => (v[k] === undefined ? {} : { [k === 'start_period' ? 'StartPeriod' : k[0]!.toUpperCase() + k.slice(1)]: formatDuration(composeDuration(v[k], `${at}.${k}`)) });
  return { Cmd: cmd, ...d('interval'), ...d('timeout'), ...(v.retries !== undefined ? { Retries: v.retries } : {}), ...d('start_period') };
}

/** Compose's memory ("512m", "1g", bytes) as gear's Memory ("512M"). */
function memory(v: unknown, at: string): string | number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+)([bkmg]?)b?$/i.exec(String(v).trim());
  if (!m) throw err(at, `${JSON.stringify(v)} is not an amount of memory (e.g. 512m, 1g)`);
  const unit = m[2]!.toUpperCase();
  return unit === 'B' || unit === '' ? Number(m[1]) : `${m[1]}${unit}`;
}

/** A number Compose gives as a number or text ("0.50"); anything else names the key. */
function numeric(v: unknown, at: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw err(at, `${JSON.stringify(v)} is not a number`);
  return n;
}

interface Service {
  name: string;
  at: string;
  container: Obj;
  dependsOn: string[];
}

function service(name: string, s: unknown, input: ComposeInput, namedVolumes: Map<string, string[]>, warn: (m: string) => void): Service {
  const at = `services.${name}`;
  if (!isObj(s)) throw err(at, 'must be a map');
  try {
    validateName(name, 'service name');
  } catch (e) {
    throw err(at, (e as Error).message);
  }
  for (const k of Object.keys(s)) if (!SERVICE_KEYS.has(k) && !k.startsWith('x-')) warn(`${at}.${k}: no equivalent in a gear deployment, ignored`);
  if (typeof s.image !== 'string' || s.image === '') {
    if (s.build !== undefined) throw err(at, 'builds its image (build:) and names none: build it, push it where the hosts can pull it, and name it with image:');
    throw err(`${at}.image`, 'is required');
  }
  if (s.build !== undefined) warn(`${at}.build: gear does not build; the image ${s.image} is pulled`);
  const c: Obj = { Name: name, Image: s.image };

  let count = 1;
  if (s.scale !== undefined) count = numeric(s.scale, `${at}.scale`);
  const deploy = s.deploy;
  const limits: Obj = {};
  if (deploy !== undefined) {
    if (!isObj(deploy)) throw err(`${at}.deploy`, 'must be a map');
    for (const k of Object.keys(deploy)) if (k !== 'replicas' && k !== 'resources') warn(`${at}.deploy.${k}: no equivalent in a gear deployment, ignored`);
    if (deploy.replicas !== undefined) count = numeric(deploy.replicas, `${at}.deploy.replicas`);
    if (deploy.resources !== undefined) {
      const r = deploy.resources;
      if (!isObj(r)) throw err(`${at}.deploy.resources`, 'must be a map');
      for (const k of Object.keys(r)) if (k !== 'limits') warn(`${at}.deploy.resources.${k}: gear sets limits only, ignored`);
      if (r.limits !== undefined) {
        if (!isObj(r.limits)) throw err(`${at}.deploy.resources.limits`, 'must be a map');
        for (const [k, v] of Object.entries(r.limits)) {
          if (k === 'memory') limits.Memory = memory(v, `${at}.deploy.resources.limits.memory`);
          else if (k === 'cpus') limits.Cpus = numeric(v, `${at}.deploy.resources.limits.cpus`);
          else if (k === 'pids') limits.Pids = numeric(v, `${at}.deploy.resources.limits.pids`);
          else warn(`${at}.deploy.resources.limits.${k}: no equivalent in gear, ignored`);
        }
      }
    }
  }
  if (!Number.isInteger(count) || count < 0) throw err(`${at}.deploy.replicas`, `must be a whole number, not ${JSON.stringify(deploy && isObj(deploy) ? deploy.replicas : s.scale)}`);
  c.Count = count;
  if (s.mem_limit !== undefined) limits.Memory = memory(s.mem_limit, `${at}.mem_limit`);
  if (s.cpus !== undefined) limits.Cpus = numeric(s.cpus, `${at}.cpus`);
  if (s.pids_limit !== undefined) limits.Pids = numeric(s.pids_limit, `${at}.pids_limit`);

  const ports = [...(Array.isArray(s.ports) ? s.ports : s.ports === undefined ? [] : [null])].map((p, i) => port(p, `${at}.ports[${i}]`));
  // Exposed ports are published on a port the host picks: a gear link reaches only published ports.
  const expose = (Array.isArray(s.expose) ? s.expose : s.expose === undefined ? [] : [null]).map((p, i) => port(p, `${at}.expose[${i}]`));
  for (const e of expose) if (!ports.some((p) => p.Internal === e.Internal)) ports.push({ Internal: e.Internal, External: 0 });
  for (const [i, p] of ports.entries()) if (ports.findIndex((q) => q.Internal === p.Internal) !== i) throw err(`${at}.ports[${i}]`, `container port ${p.Internal} is published twice; gear publishes each once`);
  if (ports.length) c.PublicPorts = ports.map((p) => (p.External ? p : { Internal: p.Internal }));

  // env_file first, environment over it (Compose's order).
  const files = s.env_file === undefined ? [] : Array.isArray(s.env_file) ? s.env_file : [s.env_file];
  const env = new Map<string, string>();
  files.forEach((f, i) => {
    const path = isObj(f) ? f.path : f;
    const required = isObj(f) ? f.required !== false : true;
    if (typeof path !== 'string') throw err(`${at}.env_file[${i}]`, 'must be a path');
    const text = input.readEnvFile(path);
    if (text === undefined) {
      if (required) throw err(`${at}.env_file[${i}]`, `${path} cannot be read`);
      warn(`${at}.env_file[${i}]: ${path} is missing (required: false), skipped`);
      return;
    }
    for (const v of composeEnvFile(text, path)) env.set(v.Name, v.Value);
  });
  if (s.environment !== undefined) for (const v of environment(s.environment, `${at}.environment`)) env.set(v.Name, v.Value);
  if (env.size) c.Environment = [...env].map(([Name, Value]) => ({ Name, Value }));

  const volumes: string[] = [];
  (Array.isArray(s.volumes) ? s.volumes : s.volumes === undefined ? [] : [null]).forEach((v, i) => {
    const vat = `${at}.volumes[${i}]`;
    let source: string | undefined;
    let target: unknown;
    if (isObj(v)) {
      if (v.type !== undefined && v.type !== 'volume') throw err(`${vat}.type`, `${JSON.stringify(v.type)} is not supported: gear mounts volumes of its own (type: volume)`);
      source = typeof v.source === 'string' ? v.source : undefined;
      target = v.target;
      for (const k of Object.keys(v)) if (!['type', 'source', 'target', 'volume'].includes(k)) warn(`${vat}.${k}: no equivalent in gear, ignored`);
    } else if (typeof v === 'string') {
      const parts = v.split(':');
      if (parts.length > 3) throw err(vat, `${JSON.stringify(v)} is not [SOURCE:]TARGET[:MODE]`);
      if (parts.length === 1) target = parts[0];
      else {
        source = parts[0];
        target = parts[1];
        if (parts[2] !== undefined && parts[2] !== 'rw') throw err(vat, `mode ${parts[2]}: gear's volumes are read-write`);
      }
    } else throw err(vat, 'must be "[SOURCE:]TARGET" or {type, source, target}');
    if (source !== undefined && (source.startsWith('/') || source.startsWith('.') || source.startsWith('~')))
      throw err(vat, `${source} is a path on the machine running Compose; a deployment's hosts do not have it (use a named volume, or copy the data in an image)`);
    const path = (() => {
      try {
        return validatePath(target, 'volume target');
      } catch (e) {
        throw err(vat, (e as Error).message);
      }
    })();
    if (volumes.includes(path)) throw err(vat, `${path} is mounted twice`);
    volumes.push(path);
    if (source !== undefined) namedVolumes.set(source, [...(namedVolumes.get(source) ?? []), name]);
  });
  if (volumes.length) {
    c.Volumes = volumes;
    if (count > 1) warn(`${at}.volumes: each of the ${count} instances gets volumes of its own (Compose's replicas share a named volume)`);
  }

  if (Object.keys(limits).length) Object.assign(c, limits);
  if (s.healthcheck !== undefined) {
    const h = healthcheck(s.healthcheck, `${at}.healthcheck`, warn);
    if (h) c.Health = h;
  }

  // depends_on → a link (below, when the dependency publishes a port) and a start order (After).
  const dependsOn: string[] = [];
  const after: { To: string; Wait: 'started' | 'healthy' }[] = [];
  const order = (to: string, wait: 'started' | 'healthy') => {
    if (!after.some((a) => a.To === to)) after.push({ To: to, Wait: wait });
  };
  const deps = s.depends_on;
  if (Array.isArray(deps))
    for (const dep of deps.map(String)) {
      dependsOn.push(dep);
      order(dep, 'started'); // the short form is service_started
    }
  else if (isObj(deps))
    for (const [dep, spec] of Object.entries(deps)) {
      dependsOn.push(dep);
      const dat = `${at}.depends_on.${dep}`;
      if (spec !== null && !isObj(spec)) throw err(dat, 'must be a map ({condition: ...})');
      for (const k of Object.keys(spec ?? {})) if (k !== 'condition') warn(`${dat}.${k}: no equivalent in gear, ignored`);
      const cond = isObj(spec) ? (spec.condition ?? 'service_started') : 'service_started';
      if (cond === 'service_healthy') order(dep, 'healthy');
      else if (cond === 'service_started') order(dep, 'started');
      else if (cond === 'service_completed_successfully') {
        warn(
          `${dat}.condition: service_completed_successfully: gear runs every container as a service that systemd restarts when it exits, so there is no run that completes to wait for (run one-off tasks with gear run-job before deploying); ordered after ${dep} started instead`,
        );
        order(dep, 'started');
      } else throw err(`${dat}.condition`, `${JSON.stringify(cond)} is not a Compose condition (service_started, service_healthy, service_completed_successfully)`);
    }
  else if (deps !== undefined) throw err(`${at}.depends_on`, 'must be a list or a map');
  // The old links: start after their targets too, as Compose does.
  if (Array.isArray(s.links))
    for (const l of s.links) {
      const dep = String(l).split(':')[0]!;
      dependsOn.push(dep);
      order(dep, 'started');
    }
  if (after.length) c.After = after;
  return { name, at, container: c, dependsOn: [...new Set(dependsOn)] };
}

/**
 * Convert a Compose file. Services become containers; depends_on (and the
 * old links:) become gear links to every port the dependency publishes
 * (a dependency that publishes none: a warning, it cannot be linked) and a
 * start order (After: service_healthy waits for healthy, the rest for
 * started; deployment/order.ts says how deploy keeps it).
 * The result is checked by gear's own descriptor parser before it is given.
 */
export function importCompose(input: ComposeInput): ComposeResult {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const doc = parseDocument(input.text, { merge: true, uniqueKeys: true });
  if (doc.errors.length) throw invalid(`${input.file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const wrapErr = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw invalid(`${input.file}: ${(e as Error).message}`);
    }
  };
  const top = wrapErr(() => interpolateAll(doc.toJS({ maxAliasCount: 1000 }), input.variables, '', warn));
  if (!isObj(top)) throw invalid(`${input.file}: not a Compose file (a map with services:)`);
  for (const k of Object.keys(top)) if (!TOP_KEYS.has(k) && !k.startsWith('x-')) warn(`${k}: no equivalent in a gear deployment, ignored`);
  if (!isObj(top.services) || Object.keys(top.services).length === 0) throw invalid(`${input.file}: services: has no service`);
  const namedVolumes = new Map<string, string[]>();
  const services = wrapErr(() => Object.entries(top.services as Obj).map(([name, s]) => service(name, s, input, namedVolumes, warn)));
  // A named volume is one per instance in gear: one that two services share cannot be.
  for (const [vol, users] of namedVolumes)
    if (new Set(users).size > 1) throw invalid(`${input.file}: volume ${vol} is shared by ${[...new Set(users)].join(' and ')}; gear's volumes belong to one container each`);
  if (isObj(top.volumes))
    for (const [vol, spec] of Object.entries(top.volumes))
      if (isObj(spec)) for (const k of Object.keys(spec)) warn(`volumes.${vol}.${k}: gear's volumes are local named volumes, ignored`);
  for (const s of services) {
    const links: Obj[] = [];
    for (const dep of s.dependsOn) {
      const target = services.find((t) => t.name === dep);
      if (!target) throw invalid(`${input.file}: ${s.at}.depends_on: no service named ${JSON.stringify(dep)}`);
      if (!target.container.PublicPorts) warn(`${s.at}.depends_on: ${dep} publishes no port (ports: or expose:), so no link to it is made`);
      else links.push({ To: dep });
    }
    if (links.length) s.container.Links = links;
    for (const a of (s.container.After ?? []) as { To: string; Wait: string }[]) {
      const target = services.find((t) => t.name === a.To)!;
      if (a.Wait === 'healthy' && !target.container.Health)
        throw invalid(`${input.file}: ${s.at}.depends_on.${a.To}.condition: service_healthy, but ${a.To} has no healthcheck (Compose refuses this too)`);
    }
  }
  const cycle = afterCycle(services.map((s) => s.container as unknown as ContainerSpec));
  if (cycle) throw invalid(`${input.file}: services.${cycle[0]}.depends_on: ${cycle.join(' -> ')}: these services wait for each other, so none could start`);
  const descriptor: Obj = { Containers: services.map((s) => s.container) };
  if (typeof top.name === 'string' && top.name !== '') {
    const prefix = `${top.name}-`;
    if (prefix.length < MAX_NAME_LENGTH && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(prefix)) descriptor.IdPrefix = prefix;
    else warn(`name: ${JSON.stringify(top.name)} cannot start instance ids, not used as IdPrefix`);
  }
  // gear's own check: what deploy will read (ports, limits, health, names) is valid now, not at deploy time.
  wrapErr(() => parseDeployment(descriptor));
  return { descriptor, warnings };
}
