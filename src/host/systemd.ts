import type * as DBus from 'dbus-next';
import { failed } from '../model/errors.js';
import { Batch, ConcurrencyLimit } from '../lib/concurrency.js';

/** What gear needs of systemd. Unit names, never paths, cross this interface. */
export interface Systemd {
  /** Start/stop/restart a unit, wait for its job to finish, then return the unit's real state. */
  start(unit: string): Promise<UnitState>;
  stop(unit: string): Promise<UnitState>;
  restart(unit: string): Promise<UnitState>;
  /** Enable/disable unit files by name (symlinks into the [Install] targets' .wants). */
  enable(units: string[]): Promise<void>;
  disable(units: string[]): Promise<void>;
  /** Make systemd re-read unit files; only needed when a loaded unit's file changed. */
  reload(): Promise<void>;
  /** True when systemd has a changed file for a loaded unit (NeedDaemonReload). */
  needsReload(unit: string): Promise<boolean>;
  /** A unit's ActiveState alone ("inactive" for a unit systemd does not know). */
  activeState(unit: string): Promise<string>;
  /** State of one unit (LoadState "not-found" when systemd has no such unit). */
  state(unit: string): Promise<UnitState>;
  /** Loaded units whose names match the glob patterns. */
  list(patterns: string[]): Promise<UnitState[]>;
  resetFailed(unit: string): Promise<void>;
  close(): void;
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

const DEST = 'org.freedesktop.systemd1';
const PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT = 'org.freedesktop.systemd1.Unit';
const SERVICE = 'org.freedesktop.systemd1.Service';
const PROPS = 'org.freedesktop.DBus.Properties';

/** dbus-next has no call timeouts; a wedged systemd must not hang gear forever. */
const CALL_TIMEOUT_MS = 30_000;
/** A job (start/stop) may take as long as the unit's own timeouts allow. */
const JOB_TIMEOUT_MS = 6 * 60_000;
/**
 * Calls awaiting their reply at once. The system bus refuses more than
 * max_replies_per_connection (128 on Debian) pending replies per connection:
 * 30 concurrent starts asking five properties each went past it.
 */
const MAX_PENDING_CALLS = 64;

interface JobResult {
  unit: string;
  result: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(failed(`systemd did not answer ${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** dbus-next hands 64-bit integers over as BigInt; gear's JSON wants numbers. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'signature' in value && 'value' in value) return plain(value.value);
  return value;
}

/** A row of ListUnits*: (ssssssouso) name, description, load, active, sub, following, path, job id, job type, job path. */
function unitRow(r: unknown[]): UnitState {
  return { Id: String(r[0]), Description: String(r[1]), LoadState: String(r[2]), ActiveState: String(r[3]), SubState: String(r[4]) };
}

/** dbus-next, loaded on first use so that commands without systemd work start faster. */
type DBusModule = typeof DBus;
interface Connection {
  dbus: DBusModule;
  bus: DBus.MessageBus;
}

/** systemd over the DBus system bus (dbus-next), at a configurable bus address. */
export class DbusSystemd implements Systemd {
  private connection?: Promise<Connection>;
  /** Finished jobs by path: JobRemoved may arrive before the StartUnit reply does. */
  private readonly finished = new Map<string, JobResult>();
  private readonly waiting = new Map<string, (r: JobResult) => void>();
  private readonly pending = new ConcurrencyLimit(MAX_PENDING_CALLS);
  private subscribed?: Promise<void>;

  constructor(private readonly busAddress: string) {}

  private connect(): Promise<Connection> {
    return (this.connection ??= import('dbus-next').then((mod) => {
      const dbus = ((mod as { default?: DBusModule }).default ?? mod) as DBusModule;
      const bus = dbus.sessionBus({ busAddress: this.busAddress });
      bus.on('error', () => {
        // Surfaces through the pending calls; without a listener node would crash.
      });
      // One long-lived listener for every job: adding and removing a match per
      // call would leak match rules in the bus.
      bus.on('message', (msg: DBus.Message) => {
        if (msg.type !== dbus.MessageType.SIGNAL || msg.interface !== MANAGER || msg.member !== 'JobRemoved') return;
        const [, job, unit, result] = msg.body as [number, string, string, string];
        const waiter = this.waiting.get(job);
        if (waiter) {
          this.waiting.delete(job);
          waiter({ unit, result });
        } else {
          this.finished.set(job, { unit, result });
        }
      });
      return { dbus, bus };
    }));
  }

  private async call(path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    const { dbus, bus } = await this.connect();
    const msg = new dbus.Message({ destination: DEST, path, interface: iface, member, signature, body });
    const reply = await this.pending.run(() => withTimeout(bus.call(msg), CALL_TIMEOUT_MS, `${member}`)).catch((err: unknown) => {
      if (err instanceof dbus.DBusError) throw failed(`systemd: ${member} failed: ${err.text || err.type}`);
      throw err;
    });
    return (reply?.body ?? []) as unknown[];
  }

  private subscribe(): Promise<void> {
    this.subscribed ??= (async () => {
      const { dbus, bus } = await this.connect();
      await bus.call(
        new dbus.Message({
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'AddMatch',
          signature: 's',
          body: [`type='signal',sender='${DEST}',path='${PATH}',interface='${MANAGER}',member='JobRemoved'`],
        }),
      );
      await this.call(PATH, MANAGER, 'Subscribe');
    })();
    return this.subscribed;
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

  private async runJob(method: 'StartUnit' | 'StopUnit' | 'RestartUnit', unit: string): Promise<UnitState> {
    await this.subscribe();
    const [job] = (await this.call(PATH, MANAGER, method, 'ss', [unit, 'replace'])) as [string];
    const { result } = await this.waitForJob(job);
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
  stop(unit: string) {
    return this.runJob('StopUnit', unit);
  }
  restart(unit: string) {
    return this.runJob('RestartUnit', unit);
  }

  // Concurrent operations (a CLI call with many names, the agent's jobs)
  // share these calls; see Batch.
  private readonly enabling = new Batch<string>((units) => this.call(PATH, MANAGER, 'EnableUnitFiles', 'asbb', [units, false, true]));
  private readonly disabling = new Batch<string>((units) => this.call(PATH, MANAGER, 'DisableUnitFiles', 'asb', [units, false]));

  enable(units: string[]): Promise<void> {
    return this.enabling.add(units);
  }
  disable(units: string[]): Promise<void> {
    return this.disabling.add(units);
  }
  async reload(): Promise<void> {
    await this.call(PATH, MANAGER, 'Reload');
  }
  async resetFailed(unit: string): Promise<void> {
    await this.call(PATH, MANAGER, 'ResetFailedUnit', 's', [unit]).catch(() => undefined);
  }

  private async unitPath(unit: string): Promise<string> {
    // LoadUnit answers for units systemd has never seen too (LoadState not-found).
    const [path] = (await this.call(PATH, MANAGER, 'LoadUnit', 's', [unit])) as [string];
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
    const [rows] = (await this.call(PATH, MANAGER, 'ListUnitsByNames', 'as', [[unit]])) as [unknown[][]];
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

  async list(patterns: string[]): Promise<UnitState[]> {
    const [rows] = (await this.call(PATH, MANAGER, 'ListUnitsByPatterns', 'asas', [[], patterns])) as [unknown[][]];
    return rows.map(unitRow);
  }

  close(): void {
    void this.connection?.then(({ bus }) => bus.disconnect());
  }
}
