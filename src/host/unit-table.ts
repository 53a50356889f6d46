/** A unit as a ListUnits row describes it. */
export interface UnitRow {
  Id: string;
  Description: string;
  LoadState: string;
  ActiveState: string;
  SubState: string;
}

/**
 * A unit name glob as systemd's ListUnitsByPatterns reads it, for the
 * patterns gear uses ("*" and "?"; no brackets, no escapes).
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  if (/[[\]\\]/.test(pattern)) throw new Error(`unsupported unit pattern ${pattern}`);
  const source = pattern.replace(/[.+^${}()|]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

/** A unit's name from its object path (/org/freedesktop/systemd1/unit/ctr_2dweb_2eservice). */
export function unitOfPath(path: string): string | undefined {
  const prefix = '/org/freedesktop/systemd1/unit/';
  if (!path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length).replace(/_([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * systemd's loaded units of one pattern, as its signals and our snapshots
 * tell them. The caller applies every event in the order systemd sent it
 * (signals and replies share one connection), so after each one the table
 * holds what systemd had published up to that point.
 *
 * A unit's PropertiesChanged on org.freedesktop.systemd1.Unit carries its
 * ActiveState and SubState, not LoadState or Description (constant for
 * systemd: they change only when the unit is loaded again, at a daemon
 * reload or when a unit not found is retried). Methods return the units
 * whose row must be fetched again for those.
 */
export class UnitTable {
  private readonly rows = new Map<string, UnitRow>();
  readonly watches: (unit: string) => boolean;
  private changes = 0;
  /** The rows as list() last gave them, until the next change. */
  private snapshot?: readonly Readonly<UnitRow>[];
  /** Told of every change (the console's event stream): called at once, before the change is applied, so a listener defers its read. */
  private readonly listeners = new Set<() => void>();

  constructor(readonly pattern: string) {
    this.watches = globMatcher(pattern);
  }

  /** Every loaded unit of the pattern (ListUnitsByPatterns): the rest are not loaded. */
  replaceAll(rows: UnitRow[]): void {
    this.changed();
    this.rows.clear();
    for (const row of rows) if (this.watches(row.Id)) this.rows.set(row.Id, { ...row });
  }

  /** Rows of these units, asked for by name: those without a row are not loaded. */
  replaceSome(names: string[], rows: UnitRow[]): void {
    this.changed();
    for (const name of names) this.rows.delete(name);
    for (const row of rows) if (this.watches(row.Id)) this.rows.set(row.Id, { ...row });
  }

  /** UnitNew: loaded, and nothing is known of it yet. Returns the units to fetch. */
  unitNew(unit: string): string[] {
    return this.watches(unit) ? [unit] : [];
  }

  /** UnitRemoved: no longer loaded. */
  unitRemoved(unit: string): void {
    if (this.rows.delete(unit)) this.changed();
  }

  /**
   * PropertiesChanged on the Unit interface. A unit with no row, or not
   * loaded as of its row (it may just have been loaded again), is fetched.
   */
  unitChanged(unit: string, changed: Record<string, unknown>): string[] {
    if (!this.watches(unit)) return [];
    const row = this.rows.get(unit);
    if (row && typeof changed.ActiveState === 'string' && row.ActiveState !== changed.ActiveState) {
      this.changed();
      row.ActiveState = changed.ActiveState;
    }
    if (row && typeof changed.SubState === 'string' && row.SubState !== changed.SubState) {
      this.changed();
      row.SubState = changed.SubState;
    }
    return !row || row.LoadState !== 'loaded' ? [unit] : [];
  }

  /** Counts the changes applied: equal counts, equal rows. */
  get generation(): number {
    return this.changes;
  }

  private changed(): void {
    this.changes++;
    this.snapshot = undefined;
    for (const l of this.listeners) l();
  }

  /** Call `listener` at each change until the returned function is called. */
  onChange(listener: () => void): () => void {
    const own = () => listener();
    this.listeners.add(own);
    return () => void this.listeners.delete(own);
  }

  /**
   * The rows, frozen copies: the same array at every call until the next
   * change, so that whoever derives an answer from it (the agent's listing)
   * can reuse that answer while it gets the same array.
   */
  list(): readonly Readonly<UnitRow>[] {
    return (this.snapshot ??= Object.freeze([...this.rows.values()].map((row) => Object.freeze({ ...row }))));
  }
}
