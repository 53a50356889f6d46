import type { Host } from '../host/context.js';
import { Counter, Gauge, Histogram, exposition } from '../model/metrics.js';
import { CONTAINER_UNITS, unitNameOf } from '../model/names.js';
import type { JobQueue } from './jobs.js';

/** GET /metrics in /openapi.json (an agent route, not an operation: docs/decisions.md). */
export const metricsOpenApi = {
  '/metrics': {
    get: {
      operationId: 'metrics',
      summary: "The agent's metrics in Prometheus's text format 0.0.4: containers by state, restarts, operations and their durations, job queue, link rules, image transfer bytes",
      responses: { 200: { description: 'the exposition', content: { 'text/plain; version=0.0.4': {} } }, 401: { description: 'authentication required (TCP listeners with a token)' } },
    },
  },
};

/** systemd's ActiveStates: each is in the exposition, 0 when no container is in it (a series that vanishes reads as "no data"). */
const ACTIVE_STATES = ['active', 'activating', 'deactivating', 'failed', 'inactive', 'reloading'];

/** Operation durations, seconds: from a listing answered from memory (ms) to an install that pulls an image (minutes). */
const DURATION_BOUNDS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The agent's metrics (GET /metrics): what it counts as requests run
 * (operations, image transfers), and what it reads at each scrape (the
 * containers' states and restarts from systemd, links from the state
 * directory, the job queue). Counters start at 0 with the agent.
 */
export class AgentMetrics {
  private readonly containers = new Gauge('gear_containers', "Containers by their unit's ActiveState (loaded units)", ['state']);
  private readonly installed = new Gauge('gear_containers_installed', 'Containers installed (definitions in the state directory), loaded or not');
  private readonly restarts = new Counter('gear_container_restarts_total', "Automatic restarts of a container's unit by systemd (its NRestarts: reset when the unit is started by hand)", ['container']);
  private readonly operations = new Counter('gear_operations_total', 'Operations run by the agent, by operation and result (ok or error)', ['operation', 'result']);
  private readonly durations = new Histogram('gear_operation_duration_seconds', 'How long operations took, queue wait included', ['operation'], DURATION_BOUNDS);
  private readonly jobsRunning = new Gauge('gear_jobs_running', 'Jobs running now');
  private readonly jobsWaiting = new Gauge('gear_jobs_waiting', 'Jobs waiting in the queue now (queue depth)');
  private readonly jobsLimit = new Gauge('gear_jobs_limit', 'The job queue limits (--max-jobs, --max-queued)', ['kind']);
  private readonly links = new Gauge('gear_link_rules', 'Network links stored (each is a DNAT rule in its container), over all containers');
  private readonly linked = new Gauge('gear_linked_containers', 'Containers that have network links');
  private readonly imageBytes = new Counter('gear_image_transfer_bytes_total', 'Bytes of image archives moved between agents (sent: docker save answered; received: archives loaded)', ['direction']);
  private readonly imageTransfers = new Counter('gear_image_transfers_total', 'Image archives sent and received, by result', ['direction', 'result']);

  constructor() {
    // Known from the start, so a scrape before any transfer shows them at 0.
    for (const direction of ['sent', 'received']) {
      this.imageBytes.inc({ direction }, 0);
      for (const result of ['ok', 'error']) this.imageTransfers.inc({ direction, result }, 0);
    }
  }

  /** An operation ended (any way): counted with its duration. */
  operation(name: string, ok: boolean, seconds: number): void {
    this.operations.inc({ operation: name, result: ok ? 'ok' : 'error' });
    this.durations.observe({ operation: name }, seconds);
  }

  /** An image archive was sent or received: its bytes (as far as it went) and result. */
  imageTransfer(direction: 'sent' | 'received', bytes: number, ok: boolean): void {
    this.imageBytes.inc({ direction }, bytes);
    this.imageTransfers.inc({ direction, result: ok ? 'ok' : 'error' });
  }

  /** Run `work` as operation `name`, timed and counted. */
  async timed<T>(name: string, work: () => Promise<T>): Promise<T> {
    // performance.now(), not hrtime.bigint(): no BigInts made at every listing.
    const start = performance.now();
    const seconds = () => (performance.now() - start) / 1000;
    try {
      const result = await work();
      this.operation(name, true, seconds());
      return result;
    } catch (err) {
      this.operation(name, false, seconds());
      throw err;
    }
  }

  /** The exposition now: the host's state read afresh, the counters as they are. */
  async scrape(host: Host, jobs: JobQueue): Promise<string> {
    const [units, ids, linkIds] = await Promise.all([host.systemd.list([CONTAINER_UNITS]), host.store.ids(), host.store.idsIn('links')]);
    this.containers.clear();
    for (const s of ACTIVE_STATES) this.containers.set({ state: s }, 0);
    const loaded = units.filter((u) => u.LoadState === 'loaded');
    const byState = new Map<string, number>();
    for (const u of loaded) byState.set(u.ActiveState, (byState.get(u.ActiveState) ?? 0) + 1);
    for (const [state, n] of byState) this.containers.set({ state }, n);
    this.installed.set({}, ids.length);
    // NRestarts is not in systemd's listing: one listing of gear's units, then one property read each (pipelined on the bus).
    const loadedIds = new Set(loaded.map((u) => u.Id));
    const names = ids.map(unitNameOf).filter((u) => loadedIds.has(u));
    const restarts = host.systemd.restarts
      ? await host.systemd.restarts(names)
      : new Map((await Promise.all(names.map((u) => host.systemd.state(u).catch(() => undefined)))).flatMap((s) => (s ? [[s.Id, s.NRestarts ?? 0] as const] : [])));
    this.restarts.clear(); // a deleted container's series goes with it
    for (const [unit, n] of restarts) this.restarts.set({ container: unit.slice('ctr-'.length, -'.service'.length) }, n);
    const links = await Promise.all(linkIds.map((id) => host.store.readLinks(id).catch(() => [])));
    this.links.set({}, links.reduce((n, l) => n + l.length, 0));
    this.linked.set({}, links.filter((l) => l.length > 0).length);
    const load = jobs.load;
    this.jobsRunning.set({}, load.running);
    this.jobsWaiting.set({}, load.waiting);
    this.jobsLimit.set({ kind: 'running' }, jobs.maxRunning);
    this.jobsLimit.set({ kind: 'waiting' }, jobs.maxWaiting);
    return exposition([
      this.containers,
      this.installed,
      this.restarts,
      this.operations,
      this.durations,
      this.jobsRunning,
      this.jobsWaiting,
      this.jobsLimit,
      this.links,
      this.linked,
      this.imageBytes,
      this.imageTransfers,
    ]);
  }
}
