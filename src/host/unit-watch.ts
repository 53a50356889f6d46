import { failed } from '../model/errors.js';
import { RoundTrip } from '../lib/round-trip.js';
import { MANAGER, MANAGER_PATH, signalMatch, type Signal, type SystemdBus } from './systemd-bus.js';
import { UnitTable, unitOfPath, type UnitRow } from './unit-table.js';

const UNIT = 'org.freedesktop.systemd1.Unit';

/** A row of ListUnits*: (ssssssouso) name, description, load, active, sub, ... */
export const unitRow = (r: unknown[]): UnitRow => ({
  Id: String(r[0]),
  Description: String(r[1]),
  LoadState: String(r[2]),
  ActiveState: String(r[3]),
  SubState: String(r[4]),
});

/**
 * Signals the table is fed from. PropertiesChanged is matched for every
 * unit (dbus-daemon matches whole path components, so not for "ctr-*" alone)
 * but only on the Unit interface (arg0): one rule, where a rule per unit
 * would cost the bus a rule per container (and hit its per-connection limit)
 * and dbus-next nothing less, as it parses every message it gets anyway.
 */
const RULES = [
  signalMatch({ path: MANAGER_PATH, interface: MANAGER, member: 'UnitNew' }),
  signalMatch({ path: MANAGER_PATH, interface: MANAGER, member: 'UnitRemoved' }),
  signalMatch({ path: MANAGER_PATH, interface: MANAGER, member: 'Reloading' }),
  signalMatch({ interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', path_namespace: '/org/freedesktop/systemd1/unit', arg0: UNIT }),
  // systemd's own connection changes when it re-executes.
  "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.freedesktop.systemd1'",
];

/** How often list() starts over when the connection was lost under it. */
const ATTEMPTS = 3;

/**
 * systemd's loaded units of one pattern, kept in memory from systemd's own
 * signals (the agent's `GET /containers`), and never staler than the request:
 *
 * - synced at the first listing and after every new connection (a closed
 *   connection lost signals): match rules, Subscribe, then one
 *   ListUnitsByPatterns;
 * - UnitNew and PropertiesChanged of a unit not known as loaded fetch its
 *   row; UnitRemoved drops it; Reloading(false) (after a daemon-reload,
 *   which may change LoadState and Description) and a new owner of systemd's
 *   bus name (a re-exec) fetch them all again;
 * - every reply is applied in its place among the signals (callInOrder);
 * - each listing first makes a round trip to systemd (a Ping sent after the
 *   listing arrived, shared by the listings of one event-loop turn and by
 *   those that arrived while the previous one was in flight: RoundTrip,
 *   which never lets a listing ride on a Ping sent before it arrived), then
 *   waits for the fetches that signals before its reply started: the answer includes
 *   every change systemd had published before it read the ping, and so
 *   every change a client could have seen before it asked.
 *
 * systemd publishes a change at its next main-loop iteration, before it
 * reads another message, unless its outgoing bus queue holds more than
 * 1024 messages; only then can a listing miss a change systemd already made.
 */
export class UnitWatch {
  private readonly table: UnitTable;
  private syncedGeneration = -1;
  private syncing?: Promise<void>;
  /** Fetches and syncs in flight: a listing waits for those started before its barrier returned. */
  private readonly inflight = new Set<Promise<void>>();
  private readonly toFetch = new Set<string>();
  /** The Ping before each listing, shared only by listings that arrived before it was sent (lib/round-trip.ts). */
  readonly barrier: RoundTrip;

  constructor(
    private readonly bus: SystemdBus,
    readonly pattern: string,
  ) {
    this.table = new UnitTable(pattern);
    this.barrier = new RoundTrip(() => bus.ping());
    bus.onSignal((s) => this.signal(s));
  }

  private get synced(): boolean {
    return this.syncedGeneration === this.bus.generation;
  }

  /** The loaded units of the pattern, as systemd has them now (the same frozen array while nothing changed: UnitTable.list). */
  async list(): Promise<readonly Readonly<UnitRow>[]> {
    for (let attempt = 1; ; attempt++) {
      if (!this.synced) await this.sync();
      const generation = this.bus.generation;
      await this.barrier.after();
      await this.settled();
      if (this.synced && this.bus.generation === generation) return this.table.list();
      if (attempt >= ATTEMPTS) throw failed('lost the connection to systemd while listing units');
    }
  }

  /** Told of every change of the table (it is read afterwards, by list()). */
  onChange(listener: () => void): () => void {
    return this.table.onChange(listener);
  }

  /** Subscribe and take a full snapshot on the current connection (shared by concurrent callers). */
  sync(): Promise<void> {
    return (this.syncing ??= (async () => {
      try {
        const generation = await this.bus.subscribe(RULES);
        // Synced from the reply on, in the listener: signals read right after it count.
        await this.track(this.fetchAll(() => {
          if (this.bus.generation === generation) this.syncedGeneration = generation;
        }));
      } finally {
        this.syncing = undefined;
      }
    })());
  }

  private signal(s: Signal): void {
    if (s.interface === 'org.freedesktop.DBus.Properties') {
      if (s.body[0] !== UNIT) return;
      const unit = unitOfPath(s.path);
      if (unit === undefined) return;
      const changed = s.body[1] as Record<string, { value?: unknown }>;
      this.fetch(this.table.unitChanged(unit, { ActiveState: changed.ActiveState?.value, SubState: changed.SubState?.value }));
    } else if (s.interface === MANAGER) {
      if (s.member === 'UnitNew') this.fetch(this.table.unitNew(String(s.body[0])));
      else if (s.member === 'UnitRemoved') this.table.unitRemoved(String(s.body[0]));
      else if (s.member === 'Reloading' && s.body[0] === false) this.resync();
    } else if (s.member === 'NameOwnerChanged' && s.body[0] === 'org.freedesktop.systemd1' && s.body[2]) {
      void this.bus.resubscribe();
      this.resync();
    }
  }

  /** Fetch all again, in order after the signal that asked for it. */
  private resync(): void {
    if (this.synced) void this.track(this.fetchAll()).catch(() => undefined);
  }

  private fetchAll(then?: () => void): Promise<void> {
    return this.bus.callInOrder(MANAGER_PATH, MANAGER, 'ListUnitsByPatterns', 'asas', [[], [this.pattern]], ([rows]) => {
      this.table.replaceAll((rows as unknown[][]).map(unitRow));
      then?.();
    });
  }

  /** Fetch these units' rows; the names of one read of the socket go in one call. */
  private fetch(units: string[]): void {
    if (units.length === 0 || !this.synced) return;
    const first = this.toFetch.size === 0;
    for (const u of units) this.toFetch.add(u);
    if (!first) return;
    const fetched = Promise.resolve().then(() => {
      const names = [...this.toFetch];
      this.toFetch.clear();
      // By pattern, not ListUnitsByNames: that would load a unit to answer,
      // and loading it sends UnitNew again. Unit names hold no glob characters.
      return this.bus.callInOrder(MANAGER_PATH, MANAGER, 'ListUnitsByPatterns', 'asas', [[], names], ([rows]) =>
        this.table.replaceSome(names, (rows as unknown[][]).map(unitRow)),
      );
    });
    void this.track(fetched).catch(() => undefined);
  }

  /** Keep a call in flight in view; a failed one leaves the table unsynced. */
  private track(call: Promise<void>): Promise<void> {
    const generation = this.bus.generation;
    const tracked = call.catch((err: unknown) => {
      if (this.syncedGeneration === generation) this.syncedGeneration = -1;
      throw err;
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked)).catch(() => undefined);
    return tracked;
  }

  /** Until every fetch started so far is applied (or failed, leaving the table unsynced). */
  private async settled(): Promise<void> {
    if (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
