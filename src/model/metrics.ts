/**
 * Metrics in Prometheus's text exposition format (version 0.0.4): counters,
 * gauges and histograms with labels, rendered with HELP and TYPE lines,
 * label values escaped. Small and gear's own: the agent needs a few
 * families, and the format is a page of rules.
 */

export const EXPOSITION_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value inside its quotes: backslash, double quote and newline escaped. */
const escapeValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
/** HELP text: backslash and newline escaped. */
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A sample value: integers as such, +Inf/-Inf/NaN as the format spells them. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

const labelText = (labels: Labels) => {
  const keys = Object.keys(labels);
  return keys.length ? `{${keys.map((k) => `${k}="${escapeValue(labels[k]!)}"`).join(',')}}` : '';
};

/** Labels as a map key, in the family's label order. */
// One label (every per-request series): its value alone, JSON-quoted as in the general form, without an array per call.
const keyOf = (names: readonly string[], labels: Labels) => (names.length === 1 ? `[${JSON.stringify(labels[names[0]!] ?? '')}]` : JSON.stringify(names.map((n) => labels[n] ?? '')));

abstract class Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
    for (const l of labelNames) if (!LABEL.test(l) || l.startsWith('__') || l === 'le') throw new Error(`bad label name ${l}`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected labelsOf(labels: Labels): Labels {
    const out: Labels = {};
    for (const n of this.labelNames) out[n] = labels[n] ?? '';
    return out;
  }
  abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n') + '\n';
  }
}

/** A value per label set; counters only go up (inc), gauges are set. */
class Valued extends Family {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly type: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: readonly string[],
  ) {
    super(name, help, labelNames);
  }
  protected entry(labels: Labels) {
    const key = keyOf(this.labelNames, labels);
    let e = this.values.get(key);
    if (!e) this.values.set(key, (e = { labels: this.labelsOf(labels), value: 0 }));
    return e;
  }
  /** Forget every label set (a family read afresh at each scrape). */
  clear(): void {
    this.values.clear();
  }
  samples(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatValue(e.value)}`);
  }
}

export class Counter extends Valued {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super('counter', name, help, labelNames);
  }
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error('a counter only goes up');
    this.entry(labels).value += by;
  }
  /** A counter whose value is read from elsewhere (systemd's NRestarts): set as it is there. */
  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }
}

export class Gauge extends Valued {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super('gauge', name, help, labelNames);
  }
  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram extends Family {
  readonly type = 'histogram' as const;
  private readonly series = new Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
    if (bounds.some((b, i) => i > 0 && b <= bounds[i - 1]!)) throw new Error('histogram bounds must increase');
  }
  observe(labels: Labels, value: number): void {
    const key = keyOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: this.labelsOf(labels), buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }
  samples(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.bounds.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: formatValue(b) })} ${s.buckets[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** The exposition of every family, in the order given. */
export const exposition = (families: Family[]) => families.map((f) => f.render()).join('');
