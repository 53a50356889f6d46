import type { Host } from '../host/context.js';
import { DEFAULT_SLICE, type ContainerDefinition } from '../model/definition.js';
import { validateVariables, type EnvVar } from '../model/env.js';
import { failed, invalid } from '../model/errors.js';
import { checkNetworkLinks, type NetworkLink } from '../model/links.js';
import { unitNameOf, validateImage, validateName, validateSlice } from '../model/names.js';
import { validatePorts, type PortPair } from '../model/ports.js';
import { validateVolumeConfig, volumesNotIn, type NamedVolume, type VolumeConfig } from '../model/volumes.js';
import type { UnitState } from '../host/systemd.js';
import { attempt, reloadIfNeeded } from './common.js';
import { createVolumes, dropVolumes, imageVolumePlan, recordVolumes } from './volumes.js';
import { startUnit } from './lifecycle.js';
import { defineOperation } from './operation.js';
import { InstallBodySchema, type InstallBody } from './schemas.js';
import { formatPortMapping } from '../model/ports.js';

export interface InstallRequest {
  Id: string;
  Image: string;
  Started: boolean;
  Ports: PortPair[];
  Environment: EnvVar[];
  VolumeConfig: VolumeConfig;
  SystemdSlice: string;
  /** Applied in the container's network namespace at every start. */
  NetworkLinks: NetworkLink[];
}

export interface InstallResult {
  Id: string;
  Ports: PortPair[];
  State?: UnitState;
  /** It was installed already: its definition was updated in place. */
  Updated?: boolean;
}

function parseEnvironment(env: InstallBody['Environment'] = {}): EnvVar[] {
  if (env.Source || env.Id) throw invalid('Environment.Source and Environment.Id are not supported yet; send Variables');
  return validateVariables(env.Variables ?? undefined);
}

/**
 * geard's flags that gear does not offer: accepted when false or null (its
 * client sends them on every install), refused when they ask for it.
 * SkipSocketProxy is not here: without socket activation there is no proxy
 * to skip, so true asks for what gear does anyway.
 */
function refuseUnsupported(body: InstallBody): void {
  for (const field of ['Isolate', 'SocketActivation', 'Simple'] as const)
    if (body[field] === true) throw invalid(`${field} is not supported yet (body/${field} must be false or absent)`);
}

/** geard's slice names (its memory classes, without `.slice`): gear runs them in its own slice. */
const GEARD_SLICES = new Set(['container', 'container-small', 'container-large']);

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
    text: (r: InstallResult) => `Container ${r.Id} is ${r.Updated ? 'updated' : 'installed'}${r.State ? ` and ${r.State.ActiveState}` : ''}\n`,
  },
  parse({ params, body }): InstallRequest {
    const id = validateName(params.id);
    // geard's client repeats the path's id in the body; one that names another container is a mistake.
    if (body.Id !== undefined && body.Id !== '' && body.Id !== id) throw invalid(`body/Id ${JSON.stringify(body.Id)} is not the id in the path (${id})`);
    refuseUnsupported(body);
    const slice = body.SystemdSlice;
    return {
      Id: id,
      Image: validateImage(body.Image),
      Started: body.Started === true,
      Ports: validatePorts(body.Ports ?? undefined),
      Environment: parseEnvironment(body.Environment),
      VolumeConfig: validateVolumeConfig(body.VolumeConfig ?? undefined),
      SystemdSlice: slice === undefined || slice === '' || GEARD_SLICES.has(slice) ? DEFAULT_SLICE : validateSlice(slice),
      NetworkLinks: checkNetworkLinks(body.NetworkLinks ?? undefined),
    };
  },
  async run(host, req, progress): Promise<InstallResult> {
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
    // One lock for writing and starting: taking it is a handful of file operations.
    return host.locks.with(req.Id, async () => {
      const old = await host.store.read(req.Id);
      const unit = unitNameOf(req.Id);
      const def = old ? await updateContainer(host, req, planned, old) : await writeContainer(host, req, planned);
      const result: InstallResult = { Id: def.Id, Ports: def.Ports, ...(old ? { Updated: true } : {}) };
      progress.headers?.(installHeaders(def.Ports));
      // A running container is restarted, so that what runs is what its definition says.
      const running = old !== undefined && ['active', 'activating', 'reloading'].includes(await host.systemd.activeState(unit));
      if (req.Started || running) {
        try {
          result.State = await startUnit(host, def.Id, running);
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
  const ports = await host.ports.reserve(req.Id, req.Ports);
  const def: ContainerDefinition = {
    Id: req.Id,
    Image: req.Image,
    Ports: ports,
    VolumeConfig: req.VolumeConfig,
    NamedVolumes: volumes,
    SystemdSlice: req.SystemdSlice,
    ...(req.NetworkLinks.length ? { Linked: true } : {}),
    Created: new Date().toISOString(),
  };
  // Recorded before they are created: after a crash, `gear clean` knows them as gear's.
  const record = host.store.volumesFile(req.Id);
  const created: NamedVolume[] = [];
  let earlier: NamedVolume[] | undefined;
  try {
    earlier = await recordVolumes(host, record, req.Id, volumes);
    await createVolumes(host, req.Id, volumes, created);
    await host.store.writeEnv(req.Id, req.Environment);
    if (req.NetworkLinks.length) await host.store.writeLinks(req.Id, req.NetworkLinks);
    await units.write(def);
    await reloadIfNeeded(host, unitNameOf(req.Id));
    await host.store.write(def);
  } catch (err) {
    // Undo in reverse; each step on its own, so one failing does not skip the rest.
    await attempt(() => host.store.remove(req.Id)); // definition, env and links files
    await attempt(() => units.remove(req.Id));
    await attempt(() => dropVolumes(host, req.Id, created));
    if (earlier) await attempt(() => host.store.writeVolumes(record, req.Id, earlier!));
    await attempt(() => host.ports.release(req.Id, ports.map((p) => p.External)));
    throw err;
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
 * removes it); its env file and links are replaced only when the request
 * carries some (they have their own routes: set-env, link). The new
 * definition is the commit point: before it, every step is undone on an
 * error; after it (unit file, ports no longer used), running the same
 * install again finishes the job, as it releases every port the container
 * holds beyond its definition. The caller holds the lock.
 */
async function updateContainer(host: Host, req: InstallRequest, volumes: NamedVolume[], old: ContainerDefinition): Promise<ContainerDefinition> {
  const id = req.Id;
  const held = await portsOf(host, id);
  const wanted = req.Ports.map((p) => ({ Internal: p.Internal, External: p.External || (old.Ports.find((o) => o.Internal === p.Internal)?.External ?? 0) }));
  const mine = (p: PortPair) => p.External !== 0 && held.includes(p.External);
  // Only what it does not hold yet is reserved: a failing reservation must never give back a port it holds.
  const reserved = await host.ports.reserve(id, wanted.filter((p) => !mine(p)));
  const ports = wanted.map((p) => (mine(p) ? p : reserved.find((r) => r.Internal === p.Internal)!));
  const def: ContainerDefinition = {
    ...old,
    Image: req.Image,
    Ports: ports,
    VolumeConfig: req.VolumeConfig,
    NamedVolumes: volumes,
    SystemdSlice: req.SystemdSlice,
    ...(old.Linked || req.NetworkLinks.length ? { Linked: true } : {}),
    Updated: new Date().toISOString(),
  };
  const record = host.store.volumesFile(id);
  const created: NamedVolume[] = [];
  const oldEnv = req.Environment.length ? await host.store.readEnv(id) : undefined;
  const oldLinks = req.NetworkLinks.length ? await host.store.readLinks(id) : undefined;
  let earlier: NamedVolume[] | undefined;
  try {
    // Added to its record: the volumes it had stay the container's, mounted or not.
    earlier = await recordVolumes(host, record, id, volumes);
    await createVolumes(host, id, volumes, created);
    if (req.Environment.length) await host.store.writeEnv(id, req.Environment);
    if (req.NetworkLinks.length) await host.store.writeLinks(id, req.NetworkLinks);
    await host.store.write(def);
  } catch (err) {
    await attempt(() => dropVolumes(host, id, created));
    if (earlier) await attempt(() => host.store.writeVolumes(record, id, earlier!));
    if (oldEnv) await attempt(() => host.store.writeEnv(id, oldEnv));
    if (oldLinks) await attempt(() => host.store.writeLinks(id, oldLinks));
    await attempt(() => host.ports.release(id, reserved.map((p) => p.External)));
    throw err;
  }
  await host.units.write(def);
  await reloadIfNeeded(host, unitNameOf(id));
  const keep = new Set(ports.map((p) => p.External));
  await host.ports.release(id, held.filter((p) => !keep.has(p)));
  return def;
}
