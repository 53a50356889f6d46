import { failed } from '../model/errors.js';
import { Batch } from '../lib/concurrency.js';
import { MANAGER, MANAGER_PATH, SystemdBus, isNoSuchUnit, signalMatch, withTimeout } from './systemd-bus.js';
import { UnitWatch, unitRow } from './unit-watch.js';
import { bootClock, type SharedReloads } from './shared-reload.js';

/** What gear needs of systemd. Unit names, never paths, cross this interface. */
export interface Systemd {
  /** Start/stop/restart a unit, wait for its job to finish, then return the unit's real state. */
  start(unit: string): Promise<UnitState>;
  /** `wait: false`: return once systemd has the stop job queued, with the unit's state then (usually deactivating). */
  stop(unit: string, opts?: { wait?: boolean }): Promise<UnitState>;
  restart(unit: string): Promise<UnitState>;
  /** Enable/disable unit files by name (symlinks into the [Install] targets' .wants), then reload when links changed, so loaded targets want what is enabled. */
  enable(units: string[]): Promise<void>;
  disable(units: string[]): Promise<void>;
  /** Make systemd re-read unit files; needed when a loaded unit's file changed (enable and disable reload by themselves). */
  reload(): Promise<void>;
  /** True when systemd has a changed file for a loaded unit (NeedDaemonReload). */
  needsReload(unit: string): Promise<boolean>;
  /** A unit's ActiveState alone ("inactive" for a unit systemd does not know). */
  activeState(unit: string): Promise<string>;
  /** State of one unit (LoadState "not-found" when systemd has no such unit). */
  state(unit: string): Promise<UnitState>;
  /**
   * Loaded units whose names match the glob patterns. Read-only: the agent's
   * watched pattern gives the same frozen array until a unit changes.
   */
  list(patterns: string[]): Promise<readonly Readonly<UnitState>[]>;
  resetFailed(unit: string): Promise<void>;
  /** The manager's version ("252.38-1~deb12u1"), for `gear doctor`; absent in fakes. */
  version?(): Promise<string>;
  /** systemd's NRestarts of each loaded service named (one listing, then one property read each), for GET /metrics; absent in fakes. */
  restarts?(units: string[]): Promise<Map<string, number>>;
  /** Each loaded service's NRestarts and ActiveEnterTimestamp (one listing, then two property reads each), for the console's overview; absent in fakes. */
  serviceFacts?(units: string[]): Promise<Map<string, ServiceFacts>>;
  /** The files systemd loaded a unit from (FragmentPath, DropInPaths): what `systemctl cat` shows; absent in fakes. */
  unitFiles?(unit: string): Promise<{ fragment: string; dropIns: string[] }>;
  /** Call `listener` whenever a watched unit changes (the agent's watch), until the returned function is called; absent without a watch. */
  onUnitsChanged?(listener: () => void): () => void;
  /** A unit's LoadState and the units it Wants (its .wants/ included), for `gear doctor`; absent in fakes. */
  wants?(unit: string): Promise<{ loadState: string; wants: string[] }>;
  /** The exit status of a service's last main process (ExecMainStatus; docker run's 125: the daemon refused to create the container); absent in fakes. */
  mainStatus?(unit: string): Promise<number>;
  /** Start a transient service (StartTransientUnit) and wait for its start job; absent in fakes. */
  startTransient?(unit: string, spec: TransientSpec): Promise<void>;
  close(): void;
}

/** A transient service: what `systemd-run` would set, with commands as argv (no shell, no quoting). */
export interface TransientSpec {
  description: string;
  execStart: string[];
  execStop?: string[];
  execStopPost?: string[];
  /** RuntimeMaxSec: stopped (Result "timeout") when it runs longer. */
  runtimeMaxSec?: number;
  /** TimeoutStopSec: how long ExecStop and the stop may take. */
  timeoutStopSec?: number;
}

export interface UnitState {
  Id: string;
  LoadState: string;
  ActiveState: string;
  SubState: string;
  Description?: string;
  MainPID?: number;
  /** Microseconds since the epoch, 0 when never entered. */
  ActiveEnterTimestamp?: number;
  Result?: string;
  NRestarts?: number;
  UnitFileState?: string;
}

/** What the console shows of a service beside its states. */
export interface ServiceFacts {
  NRestarts: number;
  /** Microseconds since the epoch, 0 when never entered. */
  ActiveEnterTimestamp: number;
}

const UNIT = 'org.freedesktop.systemd1.Unit';
const SERVICE = 'org.freedesktop.systemd1.Service';
const PROPS = 'org.freedesktop.DBus.Properties';
const JOB_REMOVED = signalMatch({ path: MANAGER_PATH, interface: MANAGER, member: 'JobRemoved' });

/** A job (start/stop) may take as long as the unit's own timeouts allow. */
const JOB_TIMEOUT_MS = 6 * 60_000;

interface JobResult {
  unit: string;
  result: string;
}

/** dbus-next hands 64-bit integers over as BigInt; gear's JSON wants numbers. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'signature' in value && 'value' in value) return plain(value.value);
  return value;
}

export interface DbusSystemdOptions {
  /**
   * Keep the loaded units of this pattern in memory, fed by systemd's
   * signals, and answer list([pattern]) from there (the agent: see UnitWatch).
   */
  watch?: string;
  /** Share Reloads with the host's other gear processes (host/shared-reload.ts); without it, each process reloads for itself. */
  reloads?: SharedReloads;
}

/** systemd over the DBus system bus (dbus-next), at a configurable bus address. */
export class DbusSystemd implements Systemd {
  private readonly bus: SystemdBus;
  /**
   * Finished jobs by path: JobRemoved may arrive before the StartUnit reply
   * does. Kept only while such a call awaits its reply (every job on the
   * host is announced to a subscriber, most of them not ours).
   */
  private readonly finished = new Map<string, JobResult>();
  private jobCalls = 0;
  private readonly waiting = new Map<string, (r: JobResult) => void>();
  private readonly watch?: UnitWatch;

  private readonly reloads?: SharedReloads;

  constructor(busAddress: string, opts: DbusSystemdOptions = {}) {
    this.bus = new SystemdBus(busAddress);
    this.reloads = opts.reloads;
    // One long-lived listener for every job: adding and removing a match per
    // call would leak match rules in the bus.
    this.bus.onSignal((s) => {
      if (s.interface !== MANAGER || s.member !== 'JobRemoved') return;
      const [, job, unit, result] = s.body as [number, string, string, string];
      const waiter = this.waiting.get(job);
      if (waiter) {
        this.waiting.delete(job);
        waiter({ unit, result });
      } else if (this.jobCalls > 0) {
        this.finished.set(job, { unit, result });
      }
    });
    if (opts.watch) this.watch = new UnitWatch(this.bus, opts.watch);
  }

  /** Listings answered from the watch, and the Pings they took (the daemon logs them when it stops). */
  get watchCounts(): { listings: number; pings: number } | undefined {
    return this.watch && { listings: this.watch.barrier.counts.callers, pings: this.watch.barrier.counts.calls };
  }

  onUnitsChanged(listener: () => void): () => void {
    return this.watch ? this.watch.onChange(listener) : () => undefined;
  }

  /** Sync the watched units now (the agent at start) rather than at the first listing. */
  async startWatching(): Promise<void> {
    await this.watch?.sync();
  }

  private call(path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    return this.bus.call(path, iface, member, signature, body);
  }

  private async subscribe(): Promise<void> {
    await this.bus.subscribe([JOB_REMOVED]);
  }

  private waitForJob(job: string): Promise<JobResult> {
    const done = this.finished.get(job);
    if (done) {
      this.finished.delete(job);
      return Promise.resolve(done);
    }
    return withTimeout(
      new Promise<JobResult>((resolve) => this.waiting.set(job, resolve)),
      JOB_TIMEOUT_MS,
      `job ${job}`,
    ).finally(() => this.waiting.delete(job));
  }

  private async runJob(method: 'StartUnit' | 'StopUnit' | 'RestartUnit' | 'StartTransientUnit', unit: string, wait = true, transient?: unknown[]): Promise<UnitState> {
    await this.subscribe();
    this.jobCalls++;
    let finished: Promise<JobResult>;
    try {
      const [job] = (await (transient
        ? this.call(MANAGER_PATH, MANAGER, method, 'ssa(sv)a(sa(sv))', [unit, 'fail', transient, []])
        : this.call(MANAGER_PATH, MANAGER, method, 'ss', [unit, 'replace']))) as [string];
      if (!wait) return await this.state(unit);
      finished = this.waitForJob(job);
    } finally {
      if (--this.jobCalls === 0) this.finished.clear();
    }
    const { result } = await finished;
    const state = await this.state(unit);
    // "done" only says the job finished; a service can fail right after.
    if (result !== 'done') {
      throw failed(`${method.replace('Unit', '').toLowerCase()} of ${unit} ${result}: unit is ${state.ActiveState} (${state.SubState})`, `see: journalctl -u ${unit}`);
    }
    return state;
  }

  start(unit: string) {
    return this.runJob('StartUnit', unit);
  }
  async stop(unit: string, opts: { wait?: boolean } = {}) {
    try {
      return await this.runJob('StopUnit', unit, opts.wait !== false);
    } catch (err) {
      // A unit systemd has not loaded is stopped already: it unloads only inactive units (one whose
      // file was removed and systemd reloaded since, say: repair's stale socket of a dropped port).
      if (isNoSuchUnit(err)) return this.state(unit);
      throw err;
    }
  }
  restart(unit: string) {
    return this.runJob('RestartUnit', unit);
  }

  async startTransient(unit: string, spec: TransientSpec): Promise<void> {
    const mod = await import('dbus-next');
    // The bundle's chunk of a CommonJS module may carry it only as its default export.
    const { Variant } = (mod.default as typeof mod | undefined) ?? mod;
    const exec = (argv: string[]) => new Variant('a(sasb)', [[argv[0]!, argv, false]]);
    const props: [string, unknown][] = [
      ['Description', new Variant('s', spec.description)],
      ['ExecStart', exec(spec.execStart)],
    ];
    if (spec.execStop) props.push(['ExecStop', exec(spec.execStop)]);
    if (spec.execStopPost) props.push(['ExecStopPost', exec(spec.execStopPost)]);
    if (spec.runtimeMaxSec) props.push(['RuntimeMaxUSec', new Variant('t', BigInt(spec.runtimeMaxSec) * 1_000_000n)]);
    if (spec.timeoutStopSec) props.push(['TimeoutStopUSec', new Variant('t', BigInt(spec.timeoutStopSec) * 1_000_000n)]);
    await this.runJob('StartTransientUnit', unit, true, props);
  }

  // Concurrent operations (a CLI call with many names, the agent's jobs)
  // share these calls; see Batch.
  //
  // EnableUnitFiles and DisableUnitFiles only make or remove the symlinks:
  // a target systemd has loaded keeps the Wants= it read at its load. So,
  // as `systemctl enable` does, a call that changed links is followed by a
  // Reload, or a `systemctl start gear.target` would skip a container
  // enabled since and start one stopped since. The Reload is batched too:
  // it waits for the links of every call before it, not for later ones.
  // Its items are when each caller's change was done (bootClock): across
  // processes, a Reload that began after the latest of them is enough.
  private readonly reloading = new Batch<number>(async (since) => {
    const reload = () => this.call(MANAGER_PATH, MANAGER, 'Reload');
    await (this.reloads ? this.reloads.after(Math.max(...since), reload) : reload());
  });
  private readonly enabling = new Batch<string>(async (units) => {
    const [, changes] = (await this.call(MANAGER_PATH, MANAGER, 'EnableUnitFiles', 'asbb', [units, false, true])) as [boolean, unknown[]];
    if (changes.length > 0) await this.reloading.add([await bootClock()]);
  });
  private readonly disabling = new Batch<string>(async (units) => {
    const [changes] = (await this.call(MANAGER_PATH, MANAGER, 'DisableUnitFiles', 'asb', [units, false])) as [unknown[]];
    if (changes.length > 0) await this.reloading.add([await bootClock()]);
  });

  enable(units: string[]): Promise<void> {
    return this.enabling.add(units);
  }
  disable(units: string[]): Promise<void> {
    return this.disabling.add(units);
  }
  async reload(): Promise<void> {
    await this.reloading.add([await bootClock()]);
  }
  async resetFailed(unit: string): Promise<void> {
    await this.call(MANAGER_PATH, MANAGER, 'ResetFailedUnit', 's', [unit]).catch(() => undefined);
  }

  private async unitPath(unit: string): Promise<string> {
    // LoadUnit answers for units systemd has never seen too (LoadState not-found).
    const [path] = (await this.call(MANAGER_PATH, MANAGER, 'LoadUnit', 's', [unit])) as [string];
    return path;
  }

  /**
   * Named properties of one interface, asked for one by one (pipelined on the
   * connection). GetAll would answer with hundreds of properties, about 200
   * for a service; building and parsing those was a large CPU cost of
   * starting many containers, in systemd and in gear alike.
   */
  private async properties(path: string, iface: string, names: readonly string[]): Promise<Record<string, unknown>> {
    const values = await Promise.all(names.map((name) => this.call(path, PROPS, 'Get', 'ss', [iface, name])));
    return Object.fromEntries(names.map((name, i) => [name, plain(values[i]![0])]));
  }

  async needsReload(unit: string): Promise<boolean> {
    const { NeedDaemonReload } = await this.properties(await this.unitPath(unit), UNIT, ['NeedDaemonReload']);
    return NeedDaemonReload === true;
  }

  /** The unit's ListUnits row, with its object path; systemd loads the unit to answer. */
  private async unitRowOf(unit: string): Promise<{ state: UnitState; path: string }> {
    const [rows] = (await this.call(MANAGER_PATH, MANAGER, 'ListUnitsByNames', 'as', [[unit]])) as [unknown[][]];
    const row = rows[0];
    if (!row) throw failed(`systemd: no answer for ${unit}`);
    return { state: unitRow(row), path: String(row[6]) };
  }

  async activeState(unit: string): Promise<string> {
    return (await this.unitRowOf(unit)).state.ActiveState;
  }

  async state(unit: string): Promise<UnitState> {
    // One consistent snapshot of the unit's states, then the rest.
    const { state, path } = await this.unitRowOf(unit);
    const service = state.LoadState === 'loaded' && unit.endsWith('.service');
    const [u, s] = await Promise.all([
      this.properties(path, UNIT, ['ActiveEnterTimestamp', 'UnitFileState']),
      service ? this.properties(path, SERVICE, ['MainPID', 'Result', 'NRestarts']) : undefined,
    ]);
    state.ActiveEnterTimestamp = Number(u.ActiveEnterTimestamp ?? 0);
    state.UnitFileState = String(u.UnitFileState ?? '');
    if (s) {
      state.MainPID = Number(s.MainPID ?? 0);
      state.Result = String(s.Result ?? '');
      state.NRestarts = Number(s.NRestarts ?? 0);
    }
    return state;
  }

  async mainStatus(unit: string): Promise<number> {
    const { path } = await this.unitRowOf(unit);
    return Number((await this.properties(path, SERVICE, ['ExecMainStatus'])).ExecMainStatus ?? 0);
  }

  async version(): Promise<string> {
    const [v] = (await this.call(MANAGER_PATH, PROPS, 'Get', 'ss', [MANAGER, 'Version'])) as [unknown];
    return String(plain(v));
  }

  async restarts(units: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!units.length) return out;
    const [rows] = (await this.call(MANAGER_PATH, MANAGER, 'ListUnitsByNames', 'as', [units])) as [unknown[][]];
    const loaded = rows.filter((r) => r[2] === 'loaded');
    const values = await Promise.all(loaded.map((r) => this.properties(String(r[6]), SERVICE, ['NRestarts']).catch(() => undefined)));
    loaded.forEach((r, i) => {
      const v = values[i]?.NRestarts;
      if (v !== undefined) out.set(String(r[0]), Number(v));
    });
    return out;
  }

  async serviceFacts(units: string[]): Promise<Map<string, ServiceFacts>> {
    const out = new Map<string, ServiceFacts>();
    if (!units.length) return out;
    const [rows] = (await this.call(MANAGER_PATH, MANAGER, 'ListUnitsByNames', 'as', [units])) as [unknown[][]];
    const loaded = rows.filter((r) => r[2] === 'loaded');
    const facts = await Promise.all(
      loaded.map((r) =>
        Promise.all([this.properties(String(r[6]), SERVICE, ['NRestarts']), this.properties(String(r[6]), UNIT, ['ActiveEnterTimestamp'])]).catch(() => undefined),
      ),
    );
    loaded.forEach((r, i) => {
      const f = facts[i];
      if (f) out.set(String(r[0]), { NRestarts: Number(f[0].NRestarts ?? 0), ActiveEnterTimestamp: Number(f[1].ActiveEnterTimestamp ?? 0) });
    });
    return out;
  }

  async unitFiles(unit: string): Promise<{ fragment: string; dropIns: string[] }> {
    const { FragmentPath, DropInPaths } = await this.properties(await this.unitPath(unit), UNIT, ['FragmentPath', 'DropInPaths']);
    return { fragment: String(FragmentPath ?? ''), dropIns: Array.isArray(DropInPaths) ? DropInPaths.map(String) : [] };
  }

  async wants(unit: string): Promise<{ loadState: string; wants: string[] }> {
    const { LoadState, Wants } = await this.properties(await this.unitPath(unit), UNIT, ['LoadState', 'Wants']);
    return { loadState: String(LoadState ?? ''), wants: Array.isArray(Wants) ? Wants.map(String) : [] };
  }

  async list(patterns: string[]): Promise<readonly Readonly<UnitState>[]> {
    if (this.watch && patterns.length === 1 && patterns[0] === this.watch.pattern) return this.watch.list();
    const [rows] = (await this.call(MANAGER_PATH, MANAGER, 'ListUnitsByPatterns', 'asas', [[], patterns])) as [unknown[][]];
    return rows.map(unitRow);
  }

  close(): void {
    this.bus.close();
  }
}
