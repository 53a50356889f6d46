// A container's page: its status (GET /container/:id/status), its unit as
// systemd loaded it (GET /container/:id/unit) and its log, followed live
// (GET /container/:id/log streamed), with pause and search.

import { ApiError, type Agent } from './api.js';
import { duration, h, stateBadge } from './dom.js';
import type { Status, UnitsEvent } from './types.js';

/** Lines kept on the page; older ones go (the journal keeps them all). */
const MAX_LINES = 5000;

export class ContainerPage {
  readonly element: HTMLElement;
  private readonly status = h('dl', { class: 'status', id: 'status-list' });
  private readonly unit = h('pre', { id: 'unit-file', tabindex: '0', 'aria-label': 'Unit file' });
  private readonly log = h('pre', { id: 'log', tabindex: '0', 'aria-label': 'Log lines', 'aria-live': 'off' });
  private readonly logNote = h('p', { class: 'note', id: 'log-note', 'aria-live': 'polite' });
  private readonly pause = h('button', { type: 'button', id: 'log-pause', 'aria-pressed': 'false' }, 'Pause');
  private readonly search = h('input', { type: 'search', id: 'log-search', autocomplete: 'off' });
  private readonly follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  private all: string[] = [];
  private held: string[] = [];
  private paused = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly agent: Agent,
    private readonly id: string,
  ) {
    const enc = encodeURIComponent(id);
    this.pause.addEventListener('click', () => this.setPaused(!this.paused));
    this.search.addEventListener('input', () => this.redraw());
    this.element = h(
      'section',
      { 'aria-labelledby': 'ctr-title' },
      h('p', {}, h('a', { href: '#/' }, '← All containers')),
      h('h1', { id: 'ctr-title' }, `Container ${id}${agent.base ? ` on ${agent.label}` : ''}`),
      h('section', { 'aria-labelledby': 'status-title' }, h('h2', { id: 'status-title' }, 'Status'), this.status),
      h('section', { 'aria-labelledby': 'unit-title' }, h('h2', { id: 'unit-title' }, 'Unit file (as systemd loaded it)'), this.unit),
      h(
        'section',
        { 'aria-labelledby': 'log-title' },
        h('h2', { id: 'log-title' }, 'Log'),
        h('div', { class: 'filters' }, this.pause, h('label', { for: 'log-follow' }, this.follow, ' Follow (scroll to new lines)'), h('label', { for: 'log-search' }, 'Search'), this.search),
        this.logNote,
        this.log,
      ),
    );
    void this.loadStatus();
    void agent.text(`/container/${enc}/unit`).then(
      (t) => (this.unit.textContent = t),
      (err: Error) => (this.unit.textContent = `could not read the unit: ${err.message}`),
    );
    void this.followLog();
  }

  dispose(): void {
    this.abort.abort();
  }

  /** A state change of this container (GET /events): the status is read again. */
  apply(agent: Agent, e: UnitsEvent): void {
    if (agent !== this.agent) return;
    if (e.Containers.some((c) => c.Id === this.id) || e.Removed.includes(this.id)) void this.loadStatus();
  }

  private async loadStatus(): Promise<void> {
    try {
      const s = await this.agent.json<Status>('GET', `/container/${encodeURIComponent(this.id)}/status`);
      const u = s.Unit;
      const since = u.ActiveEnterTimestamp ? Math.floor(u.ActiveEnterTimestamp / 1000) : 0;
      const items: [string, Node | string][] = [
        ['State', stateBadge(u.ActiveState, u.SubState)],
        ['Image', s.Image],
        ['Ports', s.Ports.map((p) => `${p.External}→${p.Internal}`).join(', ') || '–'],
        ['Links', (s.NetworkLinks ?? []).map((l) => `${l.FromHost}:${l.FromPort}→${l.ToHost}:${l.ToPort}`).join(', ') || '–'],
        ['Volumes', s.Volumes.map((v) => `${v.Path}${v.Name ? ` (${v.Name})` : ''}`).join(', ') || '–'],
        ['Uptime', u.ActiveState === 'active' && since ? duration(since) : '–'],
        ['Restarts', u.NRestarts === undefined ? '–' : String(u.NRestarts)],
        ['Main PID', u.MainPID ? String(u.MainPID) : '–'],
        ['Result', u.Result || '–'],
        ['Enabled', u.UnitFileState || '–'],
        ['Docker', s.Container ? `${s.Container.Status}${s.Container.Health ? `, ${s.Container.Health}` : ''}` : 'no container'],
      ];
      this.status.replaceChildren(...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, v)]));
    } catch (err) {
      const gone = err instanceof ApiError && err.status === 404;
      this.status.replaceChildren(h('dt', {}, 'State'), h('dd', { 'data-field': 'State' }, gone ? 'not installed' : `could not read: ${(err as Error).message}`));
    }
  }

  /**
   * The log, followed: the last 200 lines, then new ones, as server-sent
   * events whose ids are the journal's cursors. The agent ends a stream
   * after its --log-stream-seconds (or goes away: a restart); the next
   * one asks for what came after the last id it got (after=CURSOR), so
   * no line written between two streams is lost or shown twice.
   */
  private async followLog(): Promise<void> {
    const base = `/container/${encodeURIComponent(this.id)}/log`;
    let cursor: string | undefined;
    const take = (id: string | undefined) => {
      if (id !== undefined) cursor = id;
      if (this.logNote.textContent?.endsWith('; trying again')) this.logNote.textContent = '';
    };
    while (!this.abort.signal.aborted) {
      try {
        const opened = Date.now();
        const path = cursor === undefined ? `${base}?lines=200` : `${base}?after=${encodeURIComponent(cursor)}`;
        await this.agent.sse(
          path,
          this.abort.signal,
          (event, data, id) => {
            if (event === 'error') return void (this.logNote.textContent = `log: ${data}`);
            for (const l of data.split('\n')) this.add(l);
            take(id);
          },
          take,
        );
        // A stream that ended at once (the agent's limit set very low, a journal that ends) is not reopened in a tight loop.
        if (Date.now() - opened < 1000) await new Promise((r) => setTimeout(r, 1000));
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.logNote.textContent = `log: ${(err as Error).message}; trying again`;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }

  private add(line: string): void {
    if (this.paused) {
      this.held.push(line);
      this.logNote.textContent = `Paused: ${this.held.length} new line${this.held.length === 1 ? '' : 's'} held`;
      return;
    }
    this.all.push(line);
    if (this.all.length > MAX_LINES) {
      this.all.splice(0, this.all.length - MAX_LINES);
      this.redraw();
      return;
    }
    const q = this.search.value;
    if (!q || line.toLowerCase().includes(q.toLowerCase())) {
      this.log.append(h('span', { class: 'line' }, line), '\n');
      if (this.follow.checked) this.log.scrollTop = this.log.scrollHeight;
    }
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.pause.textContent = paused ? 'Resume' : 'Pause';
    this.pause.setAttribute('aria-pressed', String(paused));
    if (!paused) {
      const held = this.held.splice(0);
      this.logNote.textContent = '';
      for (const l of held) this.add(l);
    }
  }

  private redraw(): void {
    const q = this.search.value.toLowerCase();
    const shown = q ? this.all.filter((l) => l.toLowerCase().includes(q)) : this.all;
    const frag = document.createDocumentFragment();
    for (const l of shown) frag.append(h('span', { class: 'line' }, l), '\n');
    this.log.replaceChildren(frag);
    this.logNote.textContent = q ? `${shown.length} of ${this.all.length} lines match` : '';
    if (this.follow.checked) this.log.scrollTop = this.log.scrollHeight;
  }
}
