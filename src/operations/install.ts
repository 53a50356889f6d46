import type { RuntimeName } from '../model/runtime.js';
import type { Host } from '../host/context.js';
import { validateCallbackUrl } from '../model/callback.js';
import { DEFAULT_SLICE, reservedPortsOf, type ContainerDefinition } from '../model/definition.js';
import { activationUnitsOf, parseSocketActivation, privatePortsOf, socketUnitOf, type SocketActivation } from '../model/socket-activation.js';
import { validateEnvId, validateEnvSource, validateVariables, type EnvVar } from '../model/env.js';
import { GearError, conflict, describeError, failed, invalid } from '../model/errors.js';
import { checkNetworkLinks, type NetworkLink } from '../model/links.js';
import { isGeardSlice, unitNameOf, validateImage, validateName, validateSlice } from '../model/names.js';
import { validatePorts, type PortPair } from '../model/ports.js';
import { validateVolumeConfig, volumesNotIn, type NamedVolume, type VolumeConfig } from '../model/volumes.js';
import type { UnitState } from '../host/systemd.js';
import { attempt, reloadIfNeeded } from './common.js';
import { envIdOf, fetchEnvironment, readersOf } from './env-ids.js';
import { createVolumes, dropVolumes, imageVolumePlan, recordVolumes } from './volumes.js';
import { startUnit } from './lifecycle.js';
import { checkRoom, withRoom } from './capacity.js';
import { defineOperation } from './operation.js';
import { InstallBodySchema, type InstallBody } from './schemas.js';
import { formatPortMapping } from '../model/ports.js';
import { checkOrdering, healthFields, parseHealthRequest, type HealthRequest } from './health.js';
import { applyLimits, parseLimitFields, type LimitChanges } from '../model/limits.js';
import { isolationText, selinuxText, type Isolation, type SelinuxMode } from '../model/isolation.js';
import { checkImageIsolable, hostSelinux, isolationOf, ownVolumes } from './isolation.js';

export interface InstallRequest {
  Id: string;
  Image: string;
  Started: boolean;
  Ports: PortPair[];
  Environment: InstallEnvironment;
  VolumeConfig: VolumeConfig;
  SystemdSlice: string;
  /** Applied in the container's network namespace at every start. */
  NetworkLinks: NetworkLink[];
  /** Where the agent reports the job's outcome (not part of the container; api/callbacks.ts). */
  Callback?: string;
  /** Health check and start ordering (operations/health.ts). */
  Health?: HealthRequest;
  /** Limits to set ("none": remove); absent ones (or no Limits) stay as the container has them. */
  Limits?: LimitChanges;
  /**
   * Run it as a host user of its own (operations/isolation.ts). Absent (or
   * false, which geard's client sends on every install) keeps what an
   * installed container has: isolation is for good, until a delete.
   */
  Isolate?: true;
  /** Socket-activated (model/socket-activation.ts): each published port is a socket of systemd's. */
  SocketActivation?: { IdleAfterMs?: number };
  /** The runtime asked for (install --runtime): it must be the host's. */
  Runtime?: RuntimeName;
}

export interface InstallResult {
  Id: string;
  Ports: PortPair[];
  State?: UnitState;
  /** It was installed already: its definition was updated in place. */
  Updated?: boolean;
  /** It is isolated: as whom it runs, and the host's SELinux mode (whether its label means anything). */
  Isolation?: Isolation;
  SELinux?: SelinuxMode;
}

/**
 * The environment a container reads: Id (its own name unless Environment.Id
 * names another, shared one). Variables given (or fetched from Source, which
 * replaces them, as the seed does) overwrite it; none leave it as it is
 * (created empty if it does not exist): an install never empties an
 * environment other containers may read.
 */
export interface InstallEnvironment {
  Id: string;
  Variables?: EnvVar[];
  Source?: URL;
}

function parseEnvironment(name: string, env: InstallBody['Environment'] = {}): InstallEnvironment {
  const Id = env.Id ? validateEnvId(env.Id, 'Environment.Id') : name;
  if (env.Source) return { Id, Source: validateEnvSource(env.Source) };
  const Variables = validateVariables(env.Variables ?? undefined);
  return Variables.length ? { Id, Variables } : { Id };
}

/**
 * geard's flags that gear does not offer: accepted when false or null (its
 * client sends them on every install), refused when they ask for it
 * (Isolate is offered: parse; SocketActivation too: parseSocketActivation).
 * SkipSocketProxy is not here: without socket activation there is no proxy
 * to skip, so true asks for what gear does anyway (with it, it is refused
 * by parseSocketActivation).
 */
function refuseUnsupported(body: InstallBody): void {
  for (const field of ['Simple'] as const)
    if (body[field] === true) throw invalid(`${field} is not supported yet (body/${field} must be false or absent)`);
}

/** The request's Limits, only when it names some. */
function limitChanges(body: InstallBody): Pick<InstallRequest, 'Limits'> {
  const Limits = parseLimitFields(body);
  return Object.keys(Limits).length ? { Limits } : {};
}

/** The definition's Limits field after the request's changes (none when no limit is left). */
function withLimits(old: ContainerDefinition['Limits'], changes: LimitChanges = {}): Pick<ContainerDefinition, 'Limits'> {
  const Limits = applyLimits(old, changes);
  return Limits ? { Limits } : {};
}

/** "It runs as ctr-web-1 (uid 70000, gid 70000), no SELinux label (...)", for an isolated container. */
function isolatedLine(r: InstallResult): string {
  return r.Isolation ? `It runs ${isolationText(r.Isolation)}, ${selinuxText(r.Isolation, r.SELinux)}\n` : '';
}

/** The answer's headers: the published ports, as the seed sent them. */
const installHeaders = (ports: PortPair[]): Record<string, string> => (ports.length ? { 'X-PortMapping': formatPortMapping(ports) } : {});

export const install = defineOperation({
  name: 'install',
  method: 'PUT',
  path: '/container/:id',
  summary: 'Install a container as a systemd unit (and start it when Started is true)',
  body: InstallBodySchema,
  mutates: true,
  http: {
    headers: (r: InstallResult) => installHeaders(r.Ports),
    text: (r: InstallResult) => `Container ${r.Id} is ${r.Updated ? 'updated' : 'installed'}${r.State ? ` and ${r.State.ActiveState}` : ''}\n${isolatedLine(r)}`,
  },
  parse({ params, body }): InstallRequest {
    const id = validateName(params.id);
    // geard's client repeats the path's id in the body; one that names another container is a mistake.
    if (body.Id !== undefined && body.Id !== '' && body.Id !== id) throw invalid(`body/Id ${JSON.stringify(body.Id)} is not the id in the path (${id})`);
    refuseUnsupported(body);
    const slice = body.SystemdSlice;
    const ports = validatePorts(body.Ports ?? undefined);
    const activation = parseSocketActivation(body, ports);
    return {
      Id: id,
      Image: validateImage(body.Image),
      Started: body.Started === true,
      Ports: ports,
      Environment: parseEnvironment(id, body.Environment),
      VolumeConfig: validateVolumeConfig(body.VolumeConfig ?? undefined),
      SystemdSlice: slice === undefined || slice === '' || isGeardSlice(slice) ? DEFAULT_SLICE : validateSlice(slice),
      NetworkLinks: checkNetworkLinks(body.NetworkLinks ?? undefined),
      ...(body.Callback ? { Callback: validateCallbackUrl(body.Callback) } : {}),
      ...parseHealthRequest(id, body),
      ...limitChanges(body),
      ...(body.Isolate === true ? { Isolate: true as const } : {}),
      ...(activation ? { SocketActivation: activation } : {}),
      ...(body.Runtime ? { Runtime: body.Runtime } : {}),
    };
  },
  async run(host, req, progress): Promise<InstallResult> {
    const runtime = host.config.runtime ?? 'docker';
    if (req.Runtime && req.Runtime !== runtime)
      throw invalid(`this host runs its containers with ${runtime}, not ${req.Runtime}`, "a host's runtime is its agent's GEAR_RUNTIME, one per host");
    // Fetched first: a failure changes nothing. The values are secrets: never in a note or log.
    if (req.Environment.Source) req = { ...req, Environment: { Id: req.Environment.Id, Variables: await fetchEnvironment(req.Environment.Source) } };
    // A host without room refuses before it pulls (checked again under the lock, below).
    const before = await host.store.read(req.Id);
    await checkRoom(host, req.Id, applyLimits(before?.Limits, req.Limits ?? {}), before);
    // Pull before taking the lock: it can take long and touches nothing of the container's.
    // One inspect tells both whether the image is here and which VOLUMEs it declares.
    let volumes = await imageVolumePlan(host, req.Id, req);
    if (!volumes) {
      progress.note?.(`pulling ${req.Image}`);
      await host.docker.pull(req.Image, (p) => progress.pull?.(req.Image, p));
      volumes = await imageVolumePlan(host, req.Id, req);
      if (!volumes) throw failed(`image ${req.Image} is not on this host after pulling it`);
    }
    const planned = volumes;
    // An image that cannot run as the container's uid is refused before anything changes.
    if (req.Isolate || before?.Isolation) await checkImageIsolable(host, req.Image);
    // One lock for writing and starting: taking it is a handful of file operations.
    return host.locks.with(req.Id, async () => {
      const old = await host.store.read(req.Id);
      if (old && !old.SocketActivation !== !req.SocketActivation)
        throw conflict(`container ${req.Id} is ${old.SocketActivation ? '' : 'not '}socket-activated; a re-install does not change that: delete it and install it again`);
      if (req.Health) await checkOrdering(host, req.Id, req.Health);
      const unit = unitNameOf(req.Id);
      // A running container is restarted (below), so that what runs is what its definition says.
      // (Socket-activated: its socket; restarting it stops what runs, and the next connection runs the new definition.)
      // Asked before the update: it may stop the sockets of ports no longer published.
      const running = old !== undefined && ['active', 'activating', 'reloading'].includes(await host.systemd.activeState(old.SocketActivation ? socketUnitOf(old.Id) : unit));
      // Refused (412) before anything changes when the host has no room for it.
      const limits = applyLimits(old?.Limits, req.Limits ?? {});
      const def = await withRoom(host, req.Id, limits, old, () => (old ? updateContainer(host, req, planned, old) : writeContainer(host, req, planned)));
      const result: InstallResult = {
        Id: def.Id,
        Ports: def.Ports,
        ...(old ? { Updated: true } : {}),
        ...(def.Isolation ? { Isolation: def.Isolation, SELinux: await hostSelinux(host) } : {}),
      };
      progress.headers?.(installHeaders(def.Ports));
      if (req.Started || running) {
        try {
          result.State = await startUnit(host, def, running);
        } catch (err) {
          throw failed(`container ${def.Id} is ${old ? 'updated' : 'installed'} but did not start: ${(err as Error).message}`, `see: journalctl -u ${unit}`);
        }
      }
      return result;
    });
  },
});

/**
 * Everything an installed container consists of, written so that a crash at
 * any point leaves it installed or absent: ports, volume record, volumes,
 * env file and unit first, the definition last (the commit point; `gear
 * clean` removes leftovers of an install that never reached it). On an
 * error everything is undone, except volumes this install did not create
 * (kept by `delete --keep-volumes`, which it takes back on success).
 */
async function writeContainer(host: Host, req: InstallRequest, volumes: NamedVolume[]): Promise<ContainerDefinition> {
  // Templates load (and may fail) before anything is reserved.
  const units = host.units;
  const { iso, undo: undoIsolation } = await isolationOf(host, req.Id, req.Isolate === true);
  let ports: PortPair[];
  let activation: SocketActivation | undefined;
  try {
    ports = await host.ports.reserve(req.Id, req.Ports);
    try {
      activation = await socketActivationOf(host, req, undefined, ports);
    } catch (err) {
      await attempt(() => host.ports.release(req.Id, ports.map((p) => p.External)));
      throw err;
    }
  } catch (err) {
    await undoIsolation();
    throw err;
  }
  const def: ContainerDefinition = {
    Id: req.Id,
    Image: req.Image,
    Ports: ports,
    AskedPorts: req.Ports,
    VolumeConfig: req.VolumeConfig,
    NamedVolumes: volumes,
    SystemdSlice: req.SystemdSlice,
    ...(req.Environment.Id === req.Id ? {} : { EnvId: req.Environment.Id }),
    ...(req.NetworkLinks.length ? { Linked: true } : {}),
    ...healthFields(req.Health),
    ...withLimits(undefined, req.Limits),
    ...(iso ? { Isolation: iso } : {}),
    ...(activation ? { SocketActivation: activation } : {}),
    ...(host.config.runtime === 'podman' ? { Runtime: 'podman' as const } : {}),
    Created: new Date().toISOString(),
  };
  // Recorded before they are created: after a crash, `gear clean` knows them as gear's.
  const record = host.store.volumesFile(req.Id);
  const created: NamedVolume[] = [];
  let earlier: NamedVolume[] | undefined;
  try {
    earlier = await recordVolumes(host, record, req.Id, volumes);
    await createVolumes(host, req.Id, volumes, created);
    await ownVolumes(host, def, volumes);
    // The environment's lock is held until the definition is written: a delete
    // or clean deciding whether anyone reads it sees this container once it does.
    await host.envLocks.with(req.Environment.Id, async () => {
      const restoreEnv = await writeEnvironment(host, req);
      try {
        if (req.NetworkLinks.length) await host.store.writeLinks(req.Id, req.NetworkLinks);
        await units.write(def);
        await reloadIfNeeded(host, unitNameOf(req.Id));
        await host.store.write(def);
      } catch (err) {
        await attempt(restoreEnv);
        throw err;
      }
    });
  } catch (err) {
    // Undo in reverse; each step on its own, so one failing does not skip the rest.
    await attempt(() => host.store.remove(req.Id)); // definition and links files
    await attempt(() => units.remove(req.Id));
    // Volumes it created that Docker would not remove (it stopped answering) stay recorded, for `gear clean`.
    let left: NamedVolume[] = [];
    await attempt(async () => (left = (await dropVolumes(host, req.Id, created)).failed.map((f) => f.volume)));
    if (earlier) await attempt(() => host.store.writeVolumes(record, req.Id, [...earlier!, ...volumesNotIn(left, earlier!)]));
    await attempt(() => host.ports.release(req.Id, reservedPortsOf(def)));
    await undoIsolation();
    throw left.length ? withLeftVolumes(err, left) : err;
  }
  // Kept volumes it mounts are the container's again (recorded in its volume record above).
  // Installed already: a failure here leaves them listed as kept, which clean and delete tolerate.
  await attempt(async () => {
    const keptFile = host.store.keptVolumesFile(req.Id);
    const kept = await host.store.readVolumes(keptFile, req.Id);
    if (kept.length) await host.store.writeVolumes(keptFile, req.Id, volumesNotIn(kept, volumes));
  });
  return def;
}

/** The install's error, saying which of its volumes are left and what removes them once Docker answers. */
function withLeftVolumes(err: unknown, left: NamedVolume[]): Error {
  const note = `; its new volume${left.length > 1 ? 's' : ''} ${left.map((v) => v.Name).join(', ')} could not be removed: once Docker runs, \`gear clean\` removes ${left.length > 1 ? 'them' : 'it'}`;
  if (err instanceof GearError) return new GearError(err.kind, `${err.message}${note}`, err.hint);
  return failed(`${describeError(err)}${note}`);
}

/**
 * Check the env id (below), then write the environment the container reads
 * (under its lock): the variables given, or an empty one if it does not
 * exist. Returns what undoes that write.
 */
async function writeEnvironment(host: Host, req: InstallRequest): Promise<() => Promise<void>> {
  const { Id: envId, Variables } = req.Environment;
  await checkEnvId(host, req.Id, envId);
  const file = host.store.envFile(envId);
  const before = await host.fs.read(file);
  if (!Variables && before !== undefined) return async () => undefined;
  await host.store.writeEnv(envId, Variables ?? []);
  return () => (before === undefined ? host.store.removeEnv(envId) : host.fs.writeAtomic(file, before, 0o600));
}

/**
 * Every environment stays reachable by /environment/:id, which takes a
 * container's name for the environment that container reads: a container
 * named N may read another environment only if no other container reads
 * environment N, and an env id that is a container's name must be the one
 * that container reads.
 */
async function checkEnvId(host: Host, name: string, envId: string): Promise<void> {
  if (envId === name) return;
  const owner = await host.store.read(envId);
  if (owner && envIdOf(owner) !== envId)
    throw conflict(`Environment.Id ${envId} is the name of container ${envId}, which reads environment ${envIdOf(owner)}: use ${envIdOf(owner)}, or another id`);
  const readers = await readersOf(host, name, name);
  if (readers.length)
    throw conflict(`environment ${name} is read by ${readers.join(', ')}: container ${name} must read it too (no Environment.Id), or take another name`);
}

/** The ports reserved for a container now. */
async function portsOf(host: Host, id: string): Promise<number[]> {
  return [...(await host.ports.all())].filter(([, owner]) => owner === id).map(([port]) => port);
}

/**
 * Re-install of an installed container: its definition is replaced by the
 * request, keeping what it has that the request does not change. A port
 * whose Internal it had keeps its External (unless the request names
 * another); its volumes and their data stay (a volume the new definition
 * no longer mounts stays recorded as the container's: `gear delete`
 * removes it); the environment it reads stays unless the request names
 * another (Environment.Id), and is overwritten only when the request
 * carries variables; its links are replaced only when the request carries
 * some (environment and links have their own routes: set-env, link). The new
 * definition is the commit point: before it, every step is undone on an
 * error; after it (unit file, ports no longer used), running the same
 * install again finishes the job, as it releases every port the container
 * holds beyond its definition. The caller holds the lock.
 */
async function updateContainer(host: Host, req: InstallRequest, volumes: NamedVolume[], old: ContainerDefinition): Promise<ContainerDefinition> {
  const id = req.Id;
  const { iso, undo: undoIsolation } = await isolationOf(host, id, req.Isolate === true, old.Isolation);
  const held = await portsOf(host, id);
  const wanted = req.Ports.map((p) => ({ Internal: p.Internal, External: p.External || (old.Ports.find((o) => o.Internal === p.Internal)?.External ?? 0) }));
  const mine = (p: PortPair) => p.External !== 0 && held.includes(p.External);
  for (const priv of old.SocketActivation ? privatePortsOf(old.SocketActivation) : [])
    if (wanted.some((p) => p.External === priv)) throw conflict(`port ${priv} is container ${id}'s private port (its socket's proxy connects to it): publish another`);
  // Only what it does not hold yet is reserved: a failing reservation must never give back a port it holds.
  let reserved: PortPair[];
  try {
    reserved = await host.ports.reserve(id, wanted.filter((p) => !mine(p)));
  } catch (err) {
    await undoIsolation();
    throw err;
  }
  const ports = wanted.map((p) => (mine(p) ? p : reserved.find((r) => r.Internal === p.Internal)!));
  let activation: SocketActivation | undefined;
  try {
    activation = await socketActivationOf(host, req, old.SocketActivation, ports, old.Ports);
  } catch (err) {
    await attempt(() => host.ports.release(id, reserved.map((p) => p.External)));
    throw err;
  }
  // Without an Environment.Id of its own, it keeps reading the environment it reads.
  const envId = req.Environment.Id === id ? envIdOf(old) : req.Environment.Id;
  const { EnvId: _earlierEnv, Health: _h, After: _a, WaitHealthy: _w, Limits: earlierLimits, Isolation: _i, SocketActivation: _s, ...kept } = old;
  const def: ContainerDefinition = {
    ...kept,
    ...healthFields(req.Health, old),
    ...(envId === id ? {} : { EnvId: envId }),
    Image: req.Image,
    Ports: ports,
    AskedPorts: req.Ports,
    VolumeConfig: req.VolumeConfig,
    NamedVolumes: volumes,
    SystemdSlice: req.SystemdSlice,
    ...(old.Linked || req.NetworkLinks.length ? { Linked: true } : {}),
    ...withLimits(earlierLimits, req.Limits),
    ...(iso ? { Isolation: iso } : {}),
    ...(activation ? { SocketActivation: activation } : {}),
    Updated: new Date().toISOString(),
  };
  const record = host.store.volumesFile(id);
  const created: NamedVolume[] = [];
  const oldLinks = req.NetworkLinks.length ? await host.store.readLinks(id) : undefined;
  let earlier: NamedVolume[] | undefined;
  try {
    // Added to its record: the volumes it had stay the container's, mounted or not.
    earlier = await recordVolumes(host, record, id, volumes);
    await createVolumes(host, id, volumes, created);
    await ownVolumes(host, def, volumes);
    // As at a first install: the environment's lock is held until the definition is written.
    await host.envLocks.with(envId, async () => {
      const restoreEnv = await writeEnvironment(host, { ...req, Environment: { ...req.Environment, Id: envId } });
      try {
        if (req.NetworkLinks.length) await host.store.writeLinks(id, req.NetworkLinks);
        await host.store.write(def);
      } catch (err) {
        await attempt(restoreEnv);
        throw err;
      }
    });
  } catch (err) {
    await attempt(() => dropVolumes(host, id, created));
    if (earlier) await attempt(() => host.store.writeVolumes(record, id, earlier!));
    if (oldLinks) await attempt(() => host.store.writeLinks(id, oldLinks));
    // What it reserved now: published ports and (socket-activated) private ones of new ports.
    await attempt(() => host.ports.release(id, reservedPortsOf(def).filter((p) => !held.includes(p))));
    await undoIsolation();
    throw err;
  }
  // Sockets and proxies of ports it no longer publishes stop before their files go
  // (stopping one stops the first socket too, through its Requires= on it: the caller restarts what ran).
  const units = activationUnitsOf(def);
  for (const unit of activationUnitsOf(old).filter((u) => !units.includes(u)).reverse()) await host.systemd.stop(unit);
  await host.units.write(def);
  await reloadIfNeeded(host, unitNameOf(id), ...units);
  const keep = new Set(reservedPortsOf(def));
  await host.ports.release(id, held.filter((p) => !keep.has(p)));
  return def;
}

/**
 * A socket-activated container's stored activation: each published port's
 * private port, the one it had (a re-install; by Internal), or one reserved
 * now from gear's range (released by the caller's undo with the others; one
 * it had for a port no longer published is released with the ports it no
 * longer holds), and the request's idle time.
 */
async function socketActivationOf(host: Host, req: InstallRequest, old: SocketActivation | undefined, ports: PortPair[], oldPorts: PortPair[] = []): Promise<SocketActivation | undefined> {
  if (!req.SocketActivation) return undefined;
  const idle = req.SocketActivation.IdleAfterMs === undefined ? {} : { IdleAfterMs: req.SocketActivation.IdleAfterMs };
  const had = new Map<number, number>();
  if (old) {
    had.set(oldPorts[0]?.Internal ?? 0, old.PrivatePort);
    for (const p of old.PrivatePorts ?? []) had.set(p.Internal, p.Private);
  }
  const missing = ports.filter((p) => !had.has(p.Internal));
  const reserved = await host.ports.reserve(req.Id, missing.map((p) => ({ Internal: p.Internal, External: 0 })));
  for (const r of reserved) had.set(r.Internal, r.External);
  const privates = ports.map((p) => ({ Internal: p.Internal, Private: had.get(p.Internal)! }));
  return { PrivatePort: privates[0]!.Private, ...(privates.length > 1 ? { PrivatePorts: privates } : {}), ...idle };
}
