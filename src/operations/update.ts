import { Type } from '@sinclair/typebox';
import type { Host } from '../host/context.js';
import type { ContainerDefinition } from '../model/definition.js';
import { failed, invalid } from '../model/errors.js';
import { formatDuration } from '../model/health.js';
import { containerNameOf, unitNameOf, validateImage, validateName } from '../model/names.js';
import { closed } from '../model/schema.js';
import { requireDefinition } from './common.js';
import { drain, undrain, type Drained } from './drain.js';
import { updateLockOf } from '../model/drain.js';
import { envIdOf } from './env-ids.js';
import { install, type InstallRequest, type InstallResult } from './install.js';
import { defineOperation, type Progress } from './operation.js';

/**
 * `gear update NAME --image IMAGE`: the container runs another image, or
 * the one it ran before. The new image is pulled (or found here), the
 * container restarted on it through a re-install in place (ports, volumes
 * and their data, environment, links, health check and ordering kept), and
 * its start waits for healthy (the health gate; without a check, for its
 * container to run: the unit's running gate). If it does not get there, the previous definition is
 * installed again, which runs the previous image, and the update fails
 * saying so (rolled back, and to which image id).
 *
 * Behind a link with several targets, the container is first taken out of
 * the links on its host that lead to it and elsewhere too, and the
 * connections it has from outside may end (operations/drain.ts); it is put
 * back once healthy, or rolled back: no connection through such a link
 * meets it while it restarts.
 */
export const UpdateBodySchema = Type.Object({ Image: Type.String({ minLength: 1, maxLength: 255 }), DryRun: Type.Optional(Type.Boolean()) }, closed);

export interface UpdateRequest {
  Id: string;
  Image: string;
  DryRun: boolean;
}

export interface UpdateResult {
  Id: string;
  From: { Image: string; ImageId?: string };
  To: { Image: string; ImageId?: string };
  /** What it waits for before the old image is given up. */
  Gate: string;
  DryRun?: boolean;
  /** DryRun: the image is not on the host and would be pulled. */
  Pull?: boolean;
  /** Taken out of links on this host while it restarted (absent: it did not run, or publishes no port). */
  Drained?: Drained;
}

const short = (id?: string) => (id ? id.replace(/^sha256:/, '').slice(0, 12) : 'not here');

export function updateText(r: UpdateResult): string {
  const what = `${r.Id}: ${r.From.Image} (${short(r.From.ImageId)}) -> ${r.To.Image} (${short(r.To.ImageId)})`;
  return r.DryRun
    ? `would update ${what}${r.Pull ? ', pulling it first' : ''}; restart, wait for ${r.Gate}, roll back if it is not\n`
    : `updated ${what}: ${r.Gate}\n${r.Drained ? drainedText(r.Drained) : ''}`;
}

function drainedText(d: Drained): string {
  const lines: string[] = [];
  if (d.From.length) {
    const conns = d.Open ? `${d.Open} connection${d.Open > 1 ? 's' : ''} still open after ${(d.WaitedMs / 1000).toFixed(1)} s` : `its connections ended in ${(d.WaitedMs / 1000).toFixed(1)} s`;
    lines.push(`  out of the links of ${d.From.join(', ')} while it restarted (${conns}); back in`);
  }
  for (const f of d.Failed) lines.push(`  warning: links of ${f}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** The re-install request that keeps everything of the definition but the image. */
function reinstallOf(def: ContainerDefinition, image: string): InstallRequest {
  return {
    Id: def.Id,
    Image: image,
    Started: false,
    // As asked at install: a port the host picked stays as it is (install keeps it), and stays "any".
    Ports: def.AskedPorts ?? def.Ports,
    Environment: { Id: envIdOf(def) },
    VolumeConfig: def.VolumeConfig,
    SystemdSlice: def.SystemdSlice,
    NetworkLinks: [],
    // Absent would ask for a container that is not socket-activated (refused).
    ...(def.SocketActivation ? { SocketActivation: def.SocketActivation.IdleAfterMs === undefined ? {} : { IdleAfterMs: def.SocketActivation.IdleAfterMs } } : {}),
  };
}

export const update = defineOperation({
  name: 'update',
  method: 'POST',
  path: '/container/:id/update',
  summary: 'Run a container on another image: restart on it, wait for healthy, roll back to the previous image if it is not (DryRun: say what would change)',
  body: UpdateBodySchema,
  mutates: true,
  http: { text: updateText },
  parse({ params, body }): UpdateRequest {
    return { Id: validateName(params.id), Image: validateImage(body.Image), DryRun: body.DryRun === true };
  },
  run(host, req, progress): Promise<UpdateResult> {
    if (req.DryRun) return updateContainer(host, req, progress as Progress);
    // One update of a container at a time, from reading its definition to putting it back in the links:
    // a second one reads what the first left (its image is the one to roll back to) and never takes it
    // back into the links while the first is still restarting it. Install's own lock is per step.
    return host.locks.with(updateLockOf(req.Id), () => updateContainer(host, req, progress as Progress));
  },
});

async function updateContainer(host: Host, req: UpdateRequest, progress: Progress): Promise<UpdateResult> {
  const def = await requireDefinition(host, req.Id);
  const running = await host.docker.inspect(containerNameOf(req.Id));
  const fromId = (await host.images.inspect(running?.Running ? running.Image : def.Image))?.Id;
  const gate = def.Health ? `healthy (${def.Health.Cmd}, every ${formatDuration(def.Health.IntervalMs)})` : 'its container to run (it has no health check)';
  const toBefore = (await host.images.inspect(req.Image))?.Id;
  if (req.DryRun)
    return { Id: req.Id, From: { Image: def.Image, ImageId: fromId }, To: { Image: req.Image, ImageId: toBefore }, Gate: gate, DryRun: true, ...(toBefore ? {} : { Pull: true }) };
  if (req.Image === def.Image)
    throw invalid(`${req.Id} runs ${def.Image} already; an update names another reference (a new tag), so that the previous image stays reachable for a rollback`);
  const active = await host.systemd.activeState(unitNameOf(req.Id));
  const drained = await drain(host, def);
  let failure: Error | undefined;
  let rollbackFailure: Error | undefined;
  try {
    await install.run(host, { ...reinstallOf(def, req.Image), Started: true }, progress);
  } catch (err) {
    failure = err as Error;
    await rollBack(host, def, active, progress).catch((e: Error) => (rollbackFailure = e));
  } finally {
    // Back in the links whatever happened: healthy on the new image, on the old one, or (rollback failed) not running, which links to it fail on as without gear.
    const back = drained ? await undrain(host, req.Id) : [];
    if (drained) drained.Failed.push(...back);
  }
  if (failure) {
    if (rollbackFailure) throw rollbackFailure;
    // One line: the one thing the user must know is that it runs the old image again.
    throw failed(`${req.Image} did not get ${def.Health ? 'healthy' : 'active'} (${failure.message.split('\n')[0]}); rolled back to ${def.Image} (${short(fromId)})`, `see: journalctl -u ${unitNameOf(req.Id)}`);
  }
  const toId = (await host.images.inspect(req.Image))?.Id;
  return {
    Id: req.Id,
    From: { Image: def.Image, ImageId: fromId },
    To: { Image: req.Image, ImageId: toId },
    Gate: def.Health ? 'healthy' : 'active (it has no health check)',
    ...(drained && (drained.From.length || drained.Failed.length) ? { Drained: drained } : {}),
  };
}

/** The previous definition installed again (its image, everything else as it is), started if it was running. */
async function rollBack(host: Host, def: ContainerDefinition, active: string, progress: Progress): Promise<void> {
  const started = active === 'active' || active === 'activating' || active === 'reloading';
  try {
    await install.run(host, { ...reinstallOf(def, def.Image), Started: started }, progress);
  } catch (err) {
    throw failed(`${def.Id}: the update failed and so did the rollback to ${def.Image}: ${(err as Error).message}`, `see: journalctl -u ${unitNameOf(def.Id)}`);
  }
}
