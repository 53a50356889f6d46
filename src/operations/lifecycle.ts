import type { Host } from '../host/context.js';
import type { UnitState } from '../host/systemd.js';
import { busy, failed } from '../model/errors.js';
import { containerNameOf, nameOfUnit, unitNameOf } from '../model/names.js';
import type { ContainerDefinition } from '../model/definition.js';
import { reloadIfNeeded, requireDefinition } from './common.js';
import { prepareVolumes } from './volumes.js';
import { backoffFile } from '../model/backoff.js';
import { defineOperation, parseId, queryFlag, type IdRequest } from './operation.js';
import { querySchema } from './schemas.js';
import { activatedPorts, activationUnitsOf, socketUnitOf } from '../model/socket-activation.js';

/**
 * Start (or restart) a container's unit and enable it, so that it comes back
 * after a reboot. Resolves only once systemd's job is done and the unit is
 * really active. The caller holds the container's lock.
 */
export async function startUnit(host: Host, def: ContainerDefinition, restart = false): Promise<UnitState> {
  const id = def.Id;
  const unit = unitNameOf(id);
  if (def.SocketActivation) return startSocket(host, def, restart);
  await host.ensureTarget();
  await host.systemd.enable([unit]);
  await reloadIfNeeded(host, unit);
  await removeStaleContainer(host, id);
  // A start someone asks for does not wait out the restart backoff (model/backoff.ts).
  await host.fs.remove(backoffFile(id));
  let state: UnitState;
  try {
    state = restart ? await host.systemd.restart(unit) : await host.systemd.start(unit);
  } catch (err) {
    // A `docker run` killed while dockerd was creating its container (the start this job replaced:
    // systemd's own Restart= of a failed run, racing a rollback under load) leaves that container
    // behind, created after removeStaleContainer looked. This start's `docker run` then fails on the
    // name (125) and its ExecStopPost removes the leftover: once more, as Restart= would, but answered.
    if ((await host.systemd.mainStatus?.(unit)) !== 125) throw err;
    await host.fs.remove(backoffFile(id));
    state = await host.systemd.restart(unit);
  }
  if (state.ActiveState !== 'active')
    throw failed(`${unit} is ${state.ActiveState} (${state.SubState}) after ${restart ? 'restart' : 'start'}`, `see: journalctl -u ${unit}`);
  return state;
}

/**
 * A socket-activated container is started by starting its socket (enabled
 * in gear.target instead of the container's unit): its container runs on
 * the first connection. A restart stops what runs (proxy, container), so
 * the next connection runs what the definition says now, and restarts the
 * socket (its port may have changed). The answer is the socket's state.
 */
async function startSocket(host: Host, def: ContainerDefinition, restart: boolean): Promise<UnitState> {
  const id = def.Id;
  const ports = activatedPorts(def);
  const socket = socketUnitOf(id);
  await host.ensureTarget();
  // Only the first port's socket is enabled: it Requires= the others (model/socket-activation.ts).
  await host.systemd.enable([socket]);
  await reloadIfNeeded(host, unitNameOf(id), ...activationUnitsOf(def));
  await host.fs.remove(backoffFile(id));
  if (restart) {
    for (const p of ports) await host.systemd.stop(p.Proxy);
    await host.systemd.stop(unitNameOf(id));
  }
  await removeStaleContainer(host, id);
  const state = restart ? await host.systemd.restart(socket) : await host.systemd.start(socket);
  if (state.ActiveState !== 'active') {
    // Several ports: the one that could not listen (its port taken?) says why.
    const others = ports.slice(1).map((p) => p.Socket);
    const down = [];
    for (const unit of others) if ((await host.systemd.activeState(unit)) !== 'active') down.push(unit);
    const which = down.length ? `; ${down.join(', ')} did not listen` : '';
    throw failed(`${socket} is ${state.ActiveState} (${state.SubState}) after ${restart ? 'restart' : 'start'}${which}`, `see: journalctl -u ${down[0] ?? socket}`);
  }
  return state;
}

/**
 * The unit runs no cleanup before its `docker run` (it would cost a docker
 * process on every start). A stopped container of the same name, left when
 * dockerd died during a stop, would make the run fail on the name clash; the
 * unit heals that itself (ExecStopPost removes it, Restart= runs again), but
 * only after RestartSec, and this start would report the failure. So a
 * start or restart through gear removes such a leftover first: one cheap
 * API call when there is none. A container of an active unit is the unit's
 * own, even when it is only "created" yet, and stays.
 */
async function removeStaleContainer(host: Host, id: string): Promise<void> {
  const ctr = await host.docker.inspect(containerNameOf(id));
  if (!ctr || ctr.Running) return;
  const active = await host.systemd.activeState(unitNameOf(id));
  if (active === 'inactive' || active === 'failed') await host.docker.remove(containerNameOf(id));
}

/**
 * Stop a container's unit and disable it: a stopped container stays stopped
 * across reboots. `wait: false` (the seed's `stop --no-wait`): return once
 * systemd has queued the stop.
 */
export async function stopUnit(host: Host, def: ContainerDefinition, wait = true): Promise<UnitState> {
  const id = def.Id;
  const unit = unitNameOf(id);
  if (def.SocketActivation) {
    // The socket first, so that no connection wakes the container while it stops; its answer is the container's.
    // Every port's socket and proxy (stopping the first socket stops the others too, PartOf=; named all the same).
    await host.systemd.disable([socketUnitOf(id)]);
    const ports = activatedPorts(def);
    for (const p of ports) await host.systemd.stop(p.Socket);
    for (const p of ports) await host.systemd.stop(p.Proxy);
    return forgetFailures(host, id, wait, await host.systemd.stop(unit, { wait }));
  }
  await host.systemd.disable([unit]);
  return forgetFailures(host, id, wait, await host.systemd.stop(unit, { wait }));
}

/**
 * A stop forgets the restart backoff's failures. The unit's ExecStopPost
 * does so after a clean stop, but a unit stopped while it waits out
 * RestartSec (auto-restart) runs no ExecStopPost, and its count stayed
 * (seen in tests/integration/health.test.ts under load). Once the stop is
 * done (not with wait false: the unit's own ExecStopPost may still write).
 */
async function forgetFailures(host: Host, id: string, wait: boolean, state: UnitState): Promise<UnitState> {
  if (wait && state.ActiveState !== 'active' && state.ActiveState !== 'activating') await host.fs.remove(backoffFile(id));
  return state;
}

/** A socket's state (a socket-activated container's start) says what it means. */
const stateText = (s: UnitState) => {
  const socket = /^ctr-(.+)\.socket$/.exec(s.Id)?.[1];
  if (socket !== undefined) return `Container ${socket} is socket-activated: its socket is ${s.ActiveState} (${s.SubState}); it runs on the first connection\n`;
  return `Container ${nameOfUnit(s.Id) ?? s.Id} is ${s.ActiveState} (${s.SubState})\n`;
};

const lifecycle = (
  name: string,
  method: 'PUT' | 'POST',
  path: string,
  summary: string,
  act: (host: Host, id: string, def: ContainerDefinition) => Promise<UnitState>,
) =>
  defineOperation({
    name,
    method,
    path,
    summary,
    mutates: true,
    http: { text: stateText },
    parse: parseId,
    run: (host, req): Promise<UnitState> =>
      host.locks.with(req.Id, async () => act(host, req.Id, await requireDefinition(host, req.Id))),
  });

export const start = lifecycle('start', 'PUT', '/container/:id/started', 'Start a container and enable it at boot', async (host, id, def) => {
  await prepareVolumes(host, def);
  return startUnit(host, def);
});
/** A stop's answer: the unit's state, or (Installed false) that there was nothing to stop. */
export type StopResult = UnitState & { Installed?: false };

/** A stop of a container that is not installed succeeds, as in the seed (scripts stop what may not be there): nothing to do. */
export const stop = defineOperation({
  name: 'stop',
  method: 'PUT',
  path: '/container/:id/stopped',
  summary: 'Stop a container and disable it at boot (?wait=0: answer once the stop is queued; one that is not installed: nothing to do)',
  query: querySchema('wait'),
  mutates: true,
  http: {
    text: (s: StopResult) => (s.Installed === false ? `Container ${nameOfUnit(s.Id) ?? s.Id} is not installed, nothing to stop\n` : stateText(s)),
  },
  parse: (req): IdRequest & { Wait: boolean } => ({ ...parseId(req), Wait: req.query.wait === undefined || queryFlag(req.query.wait, 'wait') }),
  run: (host, req): Promise<StopResult> =>
    host.locks.with(req.Id, async () => {
      const def = await host.store.read(req.Id);
      if (!def) return { Id: unitNameOf(req.Id), LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead', Installed: false };
      return stopUnit(host, def, req.Wait);
    }),
});
export const restart = lifecycle('restart', 'POST', '/container/:id/restart', 'Restart a container', async (host, id, def) => {
  // As in the seed: a restart while the unit is changing state is refused (429), not queued.
  const now = await host.systemd.activeState(unitNameOf(id));
  if (now === 'activating' || now === 'deactivating') throw busy(`container ${id} is ${now}; retry when that is done`);
  await prepareVolumes(host, def);
  return startUnit(host, def, true);
});
