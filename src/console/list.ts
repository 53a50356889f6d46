// The containers page: one table, filled from GET /containers/overview,
// then kept current by GET /events (state changes arrive as they happen;
// the row of a container whose state changed is read again for its uptime
// and restarts).

import { announce, confirmAction, duration, h, stateBadge } from './dom.js';
import { json } from './api.js';
import type { Container, Status, UnitsEvent } from './types.js';

type Key = 'Id' | 'ActiveState' | 'Image' | 'Restarts' | 'Since';
const COLUMNS: { key?: Key; label: string }[] = [
  { key: 'Id', label: 'Name' },
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
  private rows = new Map<string, Container>();
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
    const table = h('table', { id: 'containers', 'aria-describedby': 'count' }, h('caption', {}, 'Containers of this agent'), h('thead', {}, head), this.tbody);
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

  /** The first listing: every row at once. */
  fill(containers: Container[]): void {
    this.rows = new Map(containers.map((c) => [c.Id, c]));
    this.render();
  }

  /** An event of GET /events: states applied at once; the changed rows read again for the rest. */
  apply(e: UnitsEvent): void {
    const stale: string[] = [];
    if (e.Full) {
      for (const id of [...this.rows.keys()]) if (!e.Containers.some((c) => c.Id === id)) this.rows.delete(id);
    }
    for (const id of e.Removed) this.rows.delete(id);
    for (const u of e.Containers) {
      const known = this.rows.get(u.Id);
      if (known && known.ActiveState === u.ActiveState && known.SubState === u.SubState) continue;
      this.rows.set(u.Id, { ...(known ?? { Image: '', Ports: [], NetworkLinks: [] }), ...u });
      stale.push(u.Id);
    }
    this.render();
    for (const id of stale) void this.refresh(id);
  }

  /** A row read again from GET /container/:id/status: uptime, restarts, and image and ports of a new one. */
  private async refresh(id: string): Promise<void> {
    try {
      const s = await json<Status>('GET', `/container/${encodeURIComponent(id)}/status`);
      const row = this.rows.get(id);
      if (!row) return;
      const since = s.Unit.ActiveEnterTimestamp ? Math.floor(s.Unit.ActiveEnterTimestamp / 1000) : undefined;
      this.rows.set(id, { ...row, Image: s.Image, Ports: s.Ports, NetworkLinks: s.NetworkLinks ?? [], Since: since, Restarts: s.Unit.NRestarts });
      this.render();
    } catch {
      // gone meanwhile: the next event says so
    }
  }

  private visible(): Container[] {
    const f = this.filter;
    const rows = [...this.rows.values()].filter(
      (c) => (!f || c.Id.toLowerCase().includes(f) || c.Image.toLowerCase().includes(f)) && (!this.stateFilter || c.ActiveState === this.stateFilter),
    );
    const { key, dir } = this.sort;
    const value = (c: Container): string | number => (key === 'Since' ? (c.ActiveState === 'active' ? -(c.Since ?? 0) : -Infinity) : key === 'Restarts' ? (c.Restarts ?? -1) : c[key]);
    return rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      return (va < vb ? -1 : va > vb ? 1 : a.Id < b.Id ? -1 : 1) * dir;
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
    this.count.textContent = `${rows.length} of ${this.rows.size} containers`;
  }

  private row(c: Container): HTMLTableRowElement {
    const name = h('a', { href: `#/container/${encodeURIComponent(c.Id)}`, 'data-focus-key': `open ${c.Id}` }, c.Id);
    const ports = c.Ports.map((p) => `${p.External}→${p.Internal}`).join(', ');
    const links = c.NetworkLinks.map((l) => `${l.FromHost}:${l.FromPort}→${l.ToHost}:${l.ToPort}`).join(', ');
    const uptime = h('td', { class: 'uptime', 'data-since': c.ActiveState === 'active' && c.Since ? String(c.Since) : undefined }, c.ActiveState === 'active' && c.Since ? duration(c.Since) : '–');
    const actions = h('td', { class: 'actions' });
    for (const a of ACTIONS) {
      const b = h('button', { type: 'button', 'data-focus-key': `${a.label} ${c.Id}`, 'aria-label': `${a.label} ${c.Id}` }, a.label);
      b.addEventListener('click', () => void this.act(c.Id, a));
      actions.append(b);
    }
    return h(
      'tr',
      { 'data-id': c.Id, 'data-state': c.ActiveState },
      h('th', { scope: 'row' }, name),
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

  private async act(id: string, a: (typeof ACTIONS)[number]): Promise<void> {
    if (a.ask && !(await confirmAction(`${a.label} ${id}?`, a.label))) return;
    announce(`${a.label} ${id}…`);
    try {
      await json(a.method, a.path(encodeURIComponent(id)));
      announce(`${id} ${a.done}`);
    } catch (err) {
      announce(`${a.label} ${id} failed: ${(err as Error).message}`, 'error');
    }
  }
}
