import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { canonicalDeployHost as canonicalHost, validateDeployHost } from '../model/address.js';
import { installBody, planText, removalWhy, stepFor, type Step } from '../model/deployment/apply.js';
import { renderDeployment } from '../model/deployment/format.js';
import { resolvedName } from '../model/deployment/files.js';
import { instanceLinks } from '../model/deployment/links.js';
import { instanceOrder, orderLines } from '../model/deployment/order.js';
import { parseDeployment } from '../model/deployment/parse.js';
import { planDeployment } from '../model/deployment/placement.js';
import type { Deployment, Instance } from '../model/deployment/types.js';
import type { Capacity } from '../model/capacity.js';
import { GearError, describeError, invalid } from '../model/errors.js';
import type { NetworkLink } from '../model/links.js';
import { operations, type Progress } from '../operations/index.js';
import type { Backend } from './backend.js';
import { readText } from './files.js';
import { LOCAL_DEPLOY_HOST } from './syntax.js';
import { spreadImages, type SpreadFailures, type SpreadOptions } from './spread.js';
import { linkCount, portsText } from '../operations/text.js';

/**
 * `gear deploy FILE|URL [HOST...]`, run by the CLI against each host's
 * backend (an agent, or this host): plan (nothing is touched when the
 * descriptor or the hosts are bad), ask each host what it has of each
 * instance (its resolved definition; `--plan` stops here and says what
 * would be done: model/deployment/apply.ts), remove what is gone, spread
 * the images the installs need over the hosts (cli/spread.ts; when asked),
 * install what is missing or differs and learn its ports (an unchanged
 * instance gets no request), set every instance's links (one request per
 * host), start what is not running, and write the resolved deployment to
 * FILE.<timestamp>. Steps that fail do not stop the others; what was not
 * done is reported, the resolved file is written anyway, and deploying it
 * again finishes the job. No host: this host, named "localhost" in the
 * resolved file (as the seed names it).
 */


export interface DeployOptions {
  /** A file, or an http(s):// or file:// URL. */
  file: string;
  /** Empty: this host only (LOCAL_DEPLOY_HOST). */
  hosts: string[];
  backendFor(host: string): Backend;
  progress: Progress;
  /** A line of what was done (stdout). */
  done(line: string): void;
  /** A descriptor's unknown field, ignored (stderr). */
  warn?(line: string): void;
  /** Seconds to wait for a URL descriptor (default 300). */
  timeout?: number;
  /** Each install's Callback (the agent calls it when the install ends). */
  callback?: string;
  /** Install every new instance isolated (deploy --isolate: Isolate true, as geard's deploy sent it). */
  isolate?: boolean;
  now?: Date;
  /**
   * Spread the images the installs need over the hosts first (cli/spread.ts):
   * one pull per image at most, then host to host. Without it (or with one
   * host), each host pulls what it lacks at install, as before.
   */
  spread?: SpreadOptions;
  /** deploy --plan: ask the hosts what they have and say what a deploy would do; change nothing, write nothing. */
  plan?: boolean;
  /** Seconds an instance waits for the ones on other hosts it starts after (its container's After) to be ready (default 300). */
  waitTimeout?: number;
  /** Between two status requests while waiting (default 1000 ms; tests use less). */
  pollMs?: number;
}

interface DeployOutcome {
  /** The resolved file written ("" with `plan`). */
  written: string;
  notDone: string[];
  /** With `plan`: what the deploy would do, per host and instance (model/deployment/apply.ts). */
  plan?: string;
}

/** The external ports a host reports for an instance, into the resolved file's entry. */
function takePorts(inst: { Ports: { Internal: number; External: number }[] }, reported: { Internal: number; External: number }[]): void {
  for (const p of inst.Ports) p.External = reported.find((x) => x.Internal === p.Internal)?.External ?? 0;
}

function parseText(file: string, text: string, warn: (line: string) => void = () => {}): Deployment {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`${file} is not valid JSON: ${describeError(err)}`);
  }
  try {
    return parseDeployment(json, (m) => warn(`${file}: ${m}`));
  } catch (err) {
    if (err instanceof GearError) throw new GearError(err.kind, `${file}: ${err.message}`, err.hint);
    throw err;
  }
}

export const readDeployment = (file: string, warn?: (line: string) => void): Deployment => parseText(file, readText(file), warn);

const MAX_DESCRIPTOR = 10 * 1024 * 1024;

/**
 * A descriptor from a URL, as the seed fetched it: GET with `Accept:
 * application/json`, 200 only, within `timeout` seconds. file:// is a file.
 */
async function fetchDescriptor(url: URL, timeout: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, redirect: 'follow', signal: AbortSignal.timeout(timeout * 1000) });
  } catch (err) {
    const cause = (err as Error).name === 'TimeoutError' ? `no answer within ${timeout} s` : describeError((err as { cause?: unknown }).cause ?? err);
    throw invalid(`cannot fetch ${url.href}: ${cause}`);
  }
  if (res.status !== 200) throw invalid(`cannot fetch ${url.href}: ${res.status} ${res.statusText}`);
  const body = await res.text();
  if (body.length > MAX_DESCRIPTOR) throw invalid(`${url.href} is larger than ${MAX_DESCRIPTOR} bytes`);
  return body;
}

/** Where a descriptor comes from, and where its resolved file goes (a URL's: its base name, in the working directory, as the seed did). */
async function loadSource(source: string, timeout: number, warn?: (line: string) => void): Promise<{ d: Deployment; base: string; mode?: number }> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(source)?.[1]?.toLowerCase();
  if (scheme === undefined) return { d: readDeployment(source, warn), base: source, mode: statSync(source).mode & 0o666 };
  if (scheme === 'file') {
    const path = fileURLToPath(source);
    return { d: readDeployment(path, warn), base: path, mode: statSync(path).mode & 0o666 };
  }
  if (scheme !== 'http' && scheme !== 'https') throw invalid(`${source}: deploy reads a file, or an http://, https:// or file:// URL`);
  const url = new URL(source);
  const name = url.pathname.split('/').pop() ?? '';
  const base = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) ? name : 'deployment.json';
  return { d: parseText(source, await fetchDescriptor(url, timeout), warn), base };
}

/**
 * The targets (HOST/NAME) of a deployment's instances on the hosts named,
 * for `start/stop/... --with FILE HOST...`, and the instances elsewhere,
 * which are not contacted: the file does not choose where gear connects
 * (and sends its token), the command line does.
 */
export function deploymentTargets(file: string, named: string[]): { targets: string[]; elsewhere: string[] } {
  const d = readDeployment(file);
  if (d.Instances.length === 0) throw invalid(`${file} has no instances: it is not a deployed (resolved) file`, `use the FILE.<timestamp> gear deploy wrote`);
  const wanted = d.Instances.filter((i) => !i.Remove);
  const hosts = named.map((h) => canonicalHost(validateDeployHost(h)));
  if (hosts.length === 0) {
    const all = [...new Set(wanted.map((i) => canonicalHost(i.On)))];
    throw invalid(`name the hosts to contact after --with ${file}`, `its instances are on: ${all.join(' ')}`);
  }
  const on = (i: Instance) => hosts.includes(canonicalHost(i.On));
  return {
    targets: wanted.filter(on).map((i) => `${i.On}/${i.Id}`),
    elsewhere: wanted.filter((i) => !on(i)).map((i) => `${i.On}/${i.Id}`),
  };
}

/**
 * Each host's capacity, for placement. A host that cannot say (unreachable,
 * or an agent without /capacity) is placed on as if it had room, as before
 * gear had capacity; its installs then say what is wrong.
 */
async function capacities(hosts: string[], opts: DeployOptions): Promise<Map<string, Capacity>> {
  const out = new Map<string, Capacity>();
  await Promise.all(
    hosts.map(async (h) => {
      try {
        out.set(h, await opts.backendFor(h).call(operations.capacity, { params: {}, query: {} }, opts.progress));
      } catch (err) {
        opts.warn?.(`${h}: capacity unknown (${describeError(err)}); placing on it as if it had room`);
      }
    }),
  );
  return out;
}

const isNotFound = (err: unknown) => err instanceof GearError && err.kind === 'not-found';

export async function deploy(opts: DeployOptions): Promise<DeployOutcome> {
  const { d, base, mode } = await loadSource(opts.file, opts.timeout ?? 300, opts.warn);
  const hosts = opts.hosts.length ? opts.hosts.map((h) => canonicalHost(validateDeployHost(h))) : [LOCAL_DEPLOY_HOST];
  const dup = hosts.find((h, i) => hosts.indexOf(h) !== i);
  if (dup) throw invalid(`host ${dup} is named twice`);
  for (const i of d.Instances) i.On = canonicalHost(i.On);
  // Placed by what each host can still take; nothing is changed when the deployment does not fit.
  const plan = planDeployment(d, hosts, undefined, await capacities(hosts, opts));
  const specOf = (inst: Instance) => d.Containers.find((c) => c.Name === inst.From)!;
  const backendOf = (inst: Instance) => opts.backendFor(inst.On);
  const notDone: string[] = [];
  const fail = (what: string, err: unknown) => notDone.push(`${what}: ${describeError(err)}`);
  const call = opts.progress;
  // Start order (model/deployment/order.ts): on its own host, install's After/Wait; elsewhere, deploy waits.
  const orderOf = (inst: Instance) => instanceOrder(inst, specOf(inst), plan.next.Instances);
  const applyOpts = { isolate: opts.isolate === true, localOrder: (inst: Instance) => orderOf(inst).local };
  // Never contacted: the hosts named are the only ones gear talks to (and sends the token to).
  for (const inst of plan.elsewhere)
    notDone.push(`${inst.Id} on ${inst.On}: not contacted, ${inst.On} is not among the hosts named; kept in the resolved file to be removed by a deploy that names it`);

  // What each host has of every instance placed on it: its resolved definition, or nothing.
  // An instance that replaces one removed first (same id, same host) is not asked: it will be gone.
  const replaced = new Set(plan.remove.map((i) => `${i.On}/${i.Id}`));
  const isNew = new Set(plan.add);
  const steps: Step[] = plan.remove.map((inst) => ({ Do: 'remove' as const, Inst: inst, Why: removalWhy(inst, d) }));
  const placed = await Promise.all(
    [...plan.keep, ...plan.add].map(async (inst): Promise<Step> => {
      const spec = specOf(inst);
      if (replaced.has(`${inst.On}/${inst.Id}`)) return { Do: 'install', Inst: inst, Why: 'replaces the instance removed above' };
      try {
        const r = await backendOf(inst).call(operations.definition, { params: { id: inst.Id }, query: {} }, call);
        return stepFor(inst, spec, r, applyOpts, '');
      } catch (err) {
        if (isNotFound(err)) return stepFor(inst, spec, undefined, applyOpts, isNew.has(inst) ? `new instance of ${spec.Name}` : `gone from ${inst.On}: installed again`);
        // A new one is installed anyway (as before plan/apply); a kept one is left as the file has it.
        if (isNew.has(inst)) return { Do: 'install', Inst: inst, Why: `new instance of ${spec.Name} (${inst.On} could not say whether it has it: ${describeError(err)})` };
        return { Do: 'unknown', Inst: inst, Why: `${inst.On} could not say what it has: ${describeError(err)}; left as it is` };
      }
    }),
  );
  steps.push(...placed);
  if (opts.plan) {
    const specs = new Map(d.Containers.map((c) => [c.Name, c]));
    return { written: '', notDone, plan: planText(steps, hosts, specs, applyOpts, orderLines(d.Containers, plan.next.Instances)) };
  }
  for (const s of steps) if (s.Do === 'unknown') notDone.push(`check ${s.Inst.Id} on ${s.Inst.On}: ${s.Why}`);

  // Remove first: a replaced instance may come back under its own name.
  const failedRemovals: Instance[] = [];
  await Promise.all(
    plan.remove.map(async (inst) => {
      try {
        const r = await opts.backendFor(inst.On).call(operations.remove, { params: { id: inst.Id }, query: {} }, call);
        // Deleted false: it was not there (an older agent answered 404 instead).
        opts.done(`removed ${inst.Id} from ${inst.On}${r && !r.Deleted ? ' (it was gone already)' : ''}`);
      } catch (err) {
        if (isNotFound(err)) return opts.done(`removed ${inst.Id} from ${inst.On} (it was gone already)`);
        failedRemovals.push({ ...inst, Remove: true });
        fail(`remove ${inst.Id} from ${inst.On}`, err);
      }
    }),
  );

  // Unchanged instances: nothing is sent to them (but their links); their ports are what the host says.
  const present = new Set<Instance>();
  for (const s of steps)
    if (s.Do === 'leave') {
      takePorts(s.Inst, s.Installed.Ports);
      present.add(s.Inst);
      opts.done(`unchanged ${s.Inst.Id} on ${s.Inst.On}`);
    }

  // The images the installs need: spread over the hosts first, when asked (and there are two hosts or more).
  const installs = steps.filter((s): s is Extract<Step, { Do: 'install' | 'change' }> => s.Do === 'install' || s.Do === 'change');
  let lacking: SpreadFailures = new Map();
  if (opts.spread && hosts.length > 1) {
    const wanted = new Map<string, string[]>();
    for (const { Inst: inst } of installs) {
      const on = wanted.get(inst.Image) ?? [];
      if (!on.includes(inst.On)) on.push(inst.On);
      wanted.set(inst.Image, on);
    }
    lacking = await spreadImages(wanted, hosts, opts.backendFor, opts.spread);
  }
  // A host an image did not reach installs none of the instances that need it: one line per host and image.
  for (const [on, images] of lacking)
    for (const [image, reason] of images) {
      const ids = installs.filter((s) => s.Inst.On === on && s.Inst.Image === image).map((s) => s.Inst.Id);
      notDone.push(`install ${ids.join(', ')} on ${on}: image ${image} did not reach ${on}: ${reason}; nothing that needs it installed there`);
    }

  // Install what is new, went missing or differs; the host allocates ports and says which.
  // A changed instance that runs is restarted by its re-install (install's rule): no start after it.
  // One that starts after instances of its own host is installed after them (its unit names them).
  const restarted = new Set<Instance>();
  const byId = new Map(plan.next.Instances.map((i) => [i.Id, i]));
  const toInstall = new Map(installs.filter((s) => !lacking.get(s.Inst.On)?.has(s.Inst.Image)).map((s) => [s.Inst, s]));
  const installing = new Map<Instance, Promise<void>>();
  const installOne = async (s: Extract<Step, { Do: 'install' | 'change' }>) => {
    const inst = s.Inst;
    const order = orderOf(inst);
    await Promise.all(order.local.After.map((id) => byId.get(id)!).filter((dep) => toInstall.has(dep)).map(installed));
    if (s.Do === 'change' && s.Restart) {
      // Its re-install restarts it now: after what it waits for elsewhere is ready again (what runs, or restarts before it).
      const why = await firstFailure(order.remote.filter((r) => isRunning(r.Inst)).map((r) => installed(r.Inst).then(() => ready(r.Inst, r.Wait))));
      if (why) return void notDone.push(`change ${inst.Id} on ${inst.On}: not installed (it would restart now): ${why}`);
    }
    const installedDef = s.Do === 'change' ? s.Installed.Definition : undefined;
    const body = { ...installBody(inst, specOf(inst), applyOpts, installedDef), ...(opts.callback ? { Callback: opts.callback } : {}) };
    try {
      const r = await backendOf(inst).call(operations.install, { params: { id: inst.Id }, query: {}, body }, call);
      takePorts(inst, r.Ports);
      present.add(inst);
      const ports = portsText(r.Ports);
      if (s.Do === 'change') {
        if (s.Restart) restarted.add(inst);
        opts.done(`changed ${inst.Id} on ${inst.On} (${s.Fields.join(', ')})${s.Restart ? ': restarted' : ''}`);
      } else opts.done(`installed ${inst.Id} on ${inst.On}${ports ? ` (${ports})` : ''}`);
    } catch (err) {
      // (An instance whose id is installed already is updated in place, so a conflict here is a port, volume or environment.)
      fail(`install ${inst.Id} on ${inst.On}`, describeError(err));
    }
  };
  function installed(inst: Instance): Promise<void> {
    const s = toInstall.get(inst);
    if (!s) return Promise.resolve();
    let p = installing.get(inst);
    if (!p) installing.set(inst, (p = installOne(s)));
    return p;
  }

  // Readiness of an instance something waits for, asked once of its host's agent until it is (or the wait ends).
  const waitMs = (opts.waitTimeout ?? 300) * 1000;
  const pollMs = opts.pollMs ?? 1000;
  const running = new Set(steps.filter((s) => s.Do === 'leave' && !s.Start).map((s) => s.Inst));
  const isRunning = (inst: Instance) => {
    const s = toInstall.get(inst);
    return running.has(inst) || (s?.Do === 'change' && s.Restart);
  };
  // What this deploy starts (known once the installs are done; empty while they run).
  let starting = new Set<Instance>();
  const readiness = new Map<string, Promise<string | undefined>>();
  function ready(dep: Instance, wait: 'started' | 'healthy'): Promise<string | undefined> {
    const key = `${dep.Id} ${wait}`;
    let p = readiness.get(key);
    if (!p) readiness.set(key, (p = pollReady(dep, wait)));
    return p;
  }
  async function pollReady(dep: Instance, wait: 'started' | 'healthy'): Promise<string | undefined> {
    if (!present.has(dep)) return `${dep.Id} is not installed on ${dep.On}`;
    if (starting.has(dep) && !(await startOf(dep))) return `${dep.Id} on ${dep.On} did not start`;
    const deadline = Date.now() + waitMs;
    let last = '';
    for (;;) {
      try {
        const st = await backendOf(dep).call(operations.status, { params: { id: dep.Id }, query: {} }, call);
        const active = st.Unit.ActiveState === 'active';
        if (active && (wait === 'started' || st.Container?.Health === 'healthy')) return undefined;
        last = `${st.Unit.ActiveState}${st.Container?.Health ? `, ${st.Container.Health}` : ''}`;
      } catch (err) {
        last = describeError(err);
      }
      if (Date.now() + pollMs > deadline) return `${dep.Id} on ${dep.On} was not ${wait} within ${waitMs / 1000} s (last: ${last})`;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  await Promise.all([...toInstall.keys()].map(installed));

  // Links, now that every target's port is known: one request per host.
  const { links, pending } = instanceLinks(plan.next);
  for (const p of pending)
    if (plan.next.Instances.some((i) => i.Id === p.Source && present.has(i))) notDone.push(`link ${p.Source} to ${p.Target}:${p.Port}: ${p.Target} is not installed`);
  const byHost = new Map<string, { inst: Instance; links: NetworkLink[] }[]>();
  for (const inst of plan.next.Instances) {
    const mine = links.get(inst.Id) ?? [];
    // Instances that had links and have none now get an empty list: their old links go.
    if (!present.has(inst) || (mine.length === 0 && !inst.Links?.length)) continue;
    const list = byHost.get(inst.On) ?? [];
    list.push({ inst, links: mine });
    byHost.set(inst.On, list);
  }
  await Promise.all(
    [...byHost].map(async ([on, entries]) => {
      const body = { Links: entries.map((e) => ({ Id: e.inst.Id, NetworkLinks: e.links })) };
      try {
        await opts.backendFor(on).call(operations.link, { params: {}, query: {}, body }, call);
        for (const e of entries) {
          if (e.links.length) e.inst.Links = e.links;
          else delete e.inst.Links;
          opts.done(`linked ${e.inst.Id} (${linkCount(e.links.length)})`);
        }
      } catch (err) {
        fail(`link ${entries.map((e) => e.inst.Id).join(', ')} on ${on}`, err);
      }
    }),
  );

  // Start what is there and not running: an unchanged running instance is left alone, a restarted one runs.
  // One that starts after others starts once they did: on its host its unit orders it too (After=, Wants=);
  // instances elsewhere are waited for through their agents until they are started or healthy.
  starting = new Set(plan.next.Instances.filter((i) => present.has(i) && !running.has(i) && !restarted.has(i)));
  const startResults = new Map<Instance, Promise<boolean>>();
  function startOf(inst: Instance): Promise<boolean> {
    let p = startResults.get(inst);
    if (!p) startResults.set(inst, (p = startOne(inst)));
    return p;
  }
  async function startOne(inst: Instance): Promise<boolean> {
    const order = orderOf(inst);
    const local = order.local.After.map((id) => byId.get(id)!);
    const why = await firstFailure([
      ...local.filter((dep) => starting.has(dep)).map(async (dep) => ((await startOf(dep)) ? undefined : `${dep.Id} on ${dep.On} did not start`)),
      ...local.filter((dep) => !present.has(dep)).map(async (dep) => `${dep.Id} is not installed on ${dep.On}`),
      ...order.remote.map((r) => ready(r.Inst, r.Wait)),
    ]);
    if (why) {
      notDone.push(`start ${inst.Id} on ${inst.On}: not started, it starts after ${why}`);
      return false;
    }
    try {
      await backendOf(inst).call(operations.start, { params: { id: inst.Id }, query: {} }, call);
      opts.done(`started ${inst.Id} on ${inst.On}`);
      return true;
    } catch (err) {
      fail(`start ${inst.Id} on ${inst.On}`, err);
      return false;
    }
  }
  await Promise.all([...starting].map(startOf));

  const written = writeResolved(base, mode, { ...plan.next, Instances: [...plan.next.Instances, ...failedRemovals, ...plan.elsewhere] }, hosts, opts.now ?? new Date());
  return { written, notDone };
}

/** The first failure of some waits (all of them end first), or undefined when none failed. */
async function firstFailure(waits: Promise<string | undefined>[]): Promise<string | undefined> {
  return (await Promise.all(waits)).find((w) => w !== undefined);
}

/**
 * Written next to FILE, never over an existing file, whole or not at all
 * (a temp file, fsync, hard-linked into place: link fails on an existing
 * name), with FILE's mode: what FILE keeps from other users, its resolved
 * copy keeps too (0644 for a URL's). One that holds environment values is
 * 0600 whatever FILE's mode (they are often secrets).
 */
function writeResolved(file: string, fileMode: number | undefined, d: Deployment, hosts: string[], now: Date): string {
  const base = resolvedName(file, now);
  const text = renderDeployment(d, { Hosts: hosts, Deployed: now.toISOString() });
  const secret = d.Containers.some((c) => c.Environment.length) || d.Instances.some((i) => i.Environment?.length);
  const mode = secret ? 0o600 : (fileMode ?? 0o644);
  const temp = `${base}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let n = 1; ; n++) {
      const name = n === 1 ? base : `${base}-${n}`;
      try {
        linkSync(temp, name);
        return name;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } finally {
    rmSync(temp, { force: true });
  }
}
