// The containers page: one table, filled from GET /containers/overview,
// then kept current by GET /events (state changes arrive as they happen;
// the row of a container whose state changed is read again for its uptime
// and restarts).

import { announce, confirmAction, duration, h, stateBadge } from './dom.js';
import type { Agent } from './api.js';
import type { Container, Status, UnitsEvent } from './types.js';

/** A row: a container and the agent it runs under. */
type Row = Container & { agent: Agent };
const keyOf = (agent: Agent, id: string) => `${agent.base}\n${id}`;

/** The page of a container: its agent's own (#/container/NAME) or a peer's (#/peer/ORIGIN/NAME). */
export const containerHref = (agent: Agent, id: string) =>
  agent.base ? `#/peer/${encodeURIComponent(agent.base)}/${encodeURIComponent(id)}` : `#/container/${encodeURIComponent(id)}`;

type Key = 'Id' | 'Host' | 'ActiveState' | 'Image' | 'Restarts' | 'Since';
const COLUMNS: { key?: Key; label: string }[] = [
  { key: 'Id', label: 'Name' },
  { key: 'Host', label: 'Agent' },
  { key: 'ActiveState', label: 'State' },
  { key: 'Image', label: 'Image' },
  { label: 'Ports' },
  { label: 'Links' },
  { key: 'Since', label: 'Uptime' },
  { key: 'Restarts', label: 'Restarts' },
  { label: 'Actions' },
];

const ACTIONS = [
  { label: 'Start', method: 'PUT', path: (id: string) => `/container/${id}/started`, done: 'started', ask: false },
  { label: 'Stop', method: 'PUT', path: (id: string) => `/container/${id}/stopped`, done: 'stopped', ask: true },
  { label: 'Restart', method: 'POST', path: (id: string) => `/container/${id}/restart`, done: 'restarted', ask: true },
  { label: 'Delete', method: 'DELETE', path: (id: string) => `/container/${id}`, done: 'deleted', ask: true },
] as const;

export class ContainerList {
  private rows = new Map<string, Row>();
  private sort: { key: Key; dir: 1 | -1 } = { key: 'Id', dir: 1 };
  private filter = '';
  private stateFilter = '';
  private readonly tbody = h('tbody');
  private readonly heads = new Map<Key, HTMLTableCellElement>();
  private readonly count = h('p', { class: 'count', id: 'count' });
  private readonly clock: number;
  readonly element: HTMLElement;

  constructor() {
    const search = h('input', { type: 'search', id: 'filter', placeholder: 'name or image', autocomplete: 'off' });
    search.addEventListener('input', () => {
      this.filter = search.value.trim().toLowerCase();
      this.render();
    });
    const states = h('select', { id: 'state-filter' }, ...['', 'active', 'failed', 'inactive', 'activating', 'deactivating'].map((s) => h('option', { value: s }, s || 'any state')));
    states.addEventListener('change', () => {
      this.stateFilter = states.value;
      this.render();
    });
    const head = h('tr');
    for (const c of COLUMNS) {
      if (!c.key) {
        head.append(h('th', { scope: 'col' }, c.label));
        continue;
      }
      const key = c.key;
      const button = h('button', { type: 'button', class: 'sort' }, c.label);
      button.addEventListener('click', () => {
        this.sort = { key, dir: this.sort.key === key ? (-this.sort.dir as 1 | -1) : 1 };
        this.render();
      });
      const th = h('th', { scope: 'col', 'aria-sort': 'none' }, button);
      this.heads.set(key, th);
      head.append(th);
    }
    const table = h('table', { id: 'containers', 'aria-describedby': 'count' }, h('caption', {}, 'Containers of this agent and its peers'), h('thead', {}, head), this.tbody);
    this.element = h(
      'section',
      { 'aria-labelledby': 'list-title' },
      h('h1', { id: 'list-title' }, 'Containers'),
      h('div', { class: 'filters', role: 'search' }, h('label', { for: 'filter' }, 'Filter'), search, h('label', { for: 'state-filter' }, 'State'), states),
      this.count,
      table,
    );
    // Uptimes move on without any event.
    this.clock = window.setInterval(() => this.tickUptimes(), 5000);
  }

  dispose(): void {
    clearInterval(this.clock);
  }

  /** An agent's listing: its rows replace the ones it had. */
  fill(agent: Agent, containers: Container[]): void {
    for (const [key, row] of [...this.rows]) if (row.agent === agent) this.rows.delete(key);
    for (const c of containers) this.rows.set(keyOf(agent, c.Id), { ...c, agent });
    this.render();
  }

  /** An event of an agent's GET /events: states applied at once; the changed rows read again for the rest. */
  apply(agent: Agent, e: UnitsEvent): void {
    const stale: string[] = [];
    if (e.Full) {
      const ids = new Set(e.Containers.map((c) => c.Id));
      for (const [key, row] of [...this.rows]) if (row.agent === agent && !ids.has(row.Id)) this.rows.delete(key);
    }
    for (const id of e.Removed) this.rows.delete(keyOf(agent, id));
    for (const u of e.Containers) {
      const known = this.rows.get(keyOf(agent, u.Id));
      if (known && known.ActiveState === u.ActiveState && known.SubState === u.SubState) continue;
      this.rows.set(keyOf(agent, u.Id), { ...(known ?? { Image: '', Ports: [], NetworkLinks: [] }), ...u, agent });
      stale.push(u.Id);
    }
    this.render();
    for (const id of stale) void this.refresh(agent, id);
  }

  /** A row read again from GET /container/:id/status: uptime, restarts, and image and ports of a new one. */
  private async refresh(agent: Agent, id: string): Promise<void> {
    try {
      const s = await agent.json<Status>('GET', `/container/${encodeURIComponent(id)}/status`);
      const row = this.rows.get(keyOf(agent, id));
      if (!row) return;
      const since = s.Unit.ActiveEnterTimestamp ? Math.floor(s.Unit.ActiveEnterTimestamp / 1000) : undefined;
      this.rows.set(keyOf(agent, id), { ...row, Image: s.Image, Ports: s.Ports, NetworkLinks: s.NetworkLinks ?? [], Since: since, Restarts: s.Unit.NRestarts });
      this.render();
    } catch {
      // gone meanwhile: the next event says so
    }
  }

  private visible(): Row[] {
    const f = this.filter;
    const rows = [...this.rows.values()].filter(
      (c) => (!f || c.Id.toLowerCase().includes(f) || c.Image.toLowerCase().includes(f)) && (!this.stateFilter || c.ActiveState === this.stateFilter),
    );
    const { key, dir } = this.sort;
    const value = (c: Row): string | number =>
      key === 'Since' ? (c.ActiveState === 'active' ? -(c.Since ?? 0) : -Infinity) : key === 'Restarts' ? (c.Restarts ?? -1) : key === 'Host' ? c.agent.label : c[key];
    return rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      return (va < vb ? -1 : va > vb ? 1 : a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : a.agent.label < b.agent.label ? -1 : 1) * dir;
    });
  }

  private render(): void {
    for (const [key, th] of this.heads) th.setAttribute('aria-sort', key === this.sort.key ? (this.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
    const rows = this.visible();
    // Keep focus on the button it was on across a re-render (keyboard users).
    const focused = document.activeElement as HTMLElement | null;
    const focusKey = focused?.dataset.focusKey;
    const frag = document.createDocumentFragment();
    for (const c of rows) frag.append(this.row(c));
    this.tbody.replaceChildren(frag);
    if (focusKey) (this.tbody.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`) as HTMLElement | null)?.focus();
    const agents = new Set([...this.rows.values()].map((r) => r.agent)).size;
    this.count.textContent = `${rows.length} of ${this.rows.size} containers${agents > 1 ? ` on ${agents} agents` : ''}`;
  }

  private row(c: Row): HTMLTableRowElement {
    const where = c.agent.base ? ` on ${c.agent.label}` : '';
    const name = h('a', { href: containerHref(c.agent, c.Id), 'data-focus-key': `open ${c.Id}${where}` }, c.Id);
    const ports = c.Ports.map((p) => `${p.External}→${p.Internal}`).join(', ');
    const links = c.NetworkLinks.map((l) => `${l.FromHost}:${l.FromPort}→${l.ToHost}:${l.ToPort}`).join(', ');
    const uptime = h('td', { class: 'uptime', 'data-since': c.ActiveState === 'active' && c.Since ? String(c.Since) : undefined }, c.ActiveState === 'active' && c.Since ? duration(c.Since) : '–');
    const actions = h('td', { class: 'actions' });
    for (const a of ACTIONS) {
      const b = h('button', { type: 'button', 'data-focus-key': `${a.label} ${c.Id}${where}`, 'aria-label': `${a.label} ${c.Id}${where}` }, a.label);
      b.addEventListener('click', () => void this.act(c.agent, c.Id, a));
      actions.append(b);
    }
    return h(
      'tr',
      { 'data-id': c.Id, 'data-agent': c.agent.base || 'self', 'data-state': c.ActiveState },
      h('th', { scope: 'row' }, name),
      h('td', {}, c.agent.label),
      h('td', {}, stateBadge(c.ActiveState, c.SubState)),
      h('td', {}, c.Image),
      h('td', {}, ports || '–'),
      h('td', {}, links || '–'),
      uptime,
      h('td', { class: 'num' }, c.Restarts === undefined ? '–' : String(c.Restarts)),
      actions,
    );
  }

  private tickUptimes(): void {
    for (const td of this.tbody.querySelectorAll<HTMLElement>('td.uptime[data-since]')) td.textContent = duration(Number(td.dataset.since));
  }

  private async act(agent: Agent, id: string, a: (typeof ACTIONS)[number]): Promise<void> {
    const what = `${id}${agent.base ? ` on ${agent.label}` : ''}`;
    if (a.ask && !(await confirmAction(`${a.label} ${what}?`, a.label))) return;
    announce(`${a.label} ${what}…`);
    try {
      await agent.json(a.method, a.path(encodeURIComponent(id)));
      announce(`${what} ${a.done}`);
    } catch (err) {
      announce(`${a.label} ${what} failed: ${(err as Error).message}`, 'error');
    }
  }
}
