// A deployment's page: the resolved file `gear deploy` wrote (FILE.<timestamp>),
// opened from the user's disk (it never leaves the browser), drawn as its
// instances per host, each with its state (from the host's agent when it is
// this one or a peer) and its links, resolved to the instances they reach
// (deployment-map.ts), then the same as a table per host.

import type { Agent } from './api.js';
import { deploymentMap, type MapInstance, type MapLink } from './deployment-map.js';
import { announce, h, stateBadge } from './dom.js';
import { containerHref } from './list.js';
import type { Container, UnitsEvent } from './types.js';

interface Instance {
  Id: string;
  From: string;
  On: string;
  Ports: { Internal: number; External: number }[];
  Links?: { FromHost: string; FromPort: number; ToHost: string; ToPort: number }[];
}

interface Resolved {
  Instances: Instance[];
  Hosts?: string[];
  Deployed?: string;
}

/** The file last opened in this tab (kept in memory only: it holds environment values). */
let opened: { name: string; deployment: Resolved } | undefined;

/** The parts of a resolved file this page reads, checked: anything else is refused with a message. */
function parse(text: string): Resolved {
  const d = JSON.parse(text) as Partial<Resolved>;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (!d || !Array.isArray(d.Instances)) throw new Error('no Instances: is this a file gear deploy wrote (FILE.<timestamp>)?');
  for (const i of d.Instances) {
    if (!i || !str(i.Id) || !str(i.From) || !str(i.On) || !Array.isArray(i.Ports)) throw new Error('an instance without Id, From, On or Ports');
  }
  return { Instances: d.Instances, Hosts: Array.isArray(d.Hosts) ? d.Hosts.filter(str) : undefined, Deployed: str(d.Deployed) ? d.Deployed : undefined };
}

export class DeploymentPage {
  readonly element: HTMLElement;
  private readonly body = h('div', { id: 'deployment' });
  private readonly states = new Map<string, { ActiveState: string; SubState: string }>();

  constructor(private readonly agents: Agent[]) {
    const input = h('input', { type: 'file', id: 'deployment-file', accept: '.json,application/json,*' });
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (!file) return;
      file.text().then(
        (text) => {
          try {
            opened = { name: file.name, deployment: parse(text) };
            void this.load();
          } catch (err) {
            announce(`${file.name}: ${(err as Error).message}`, 'error');
          }
        },
        (err: Error) => announce(`${file.name}: ${err.message}`, 'error'),
      );
    });
    this.element = h(
      'section',
      { 'aria-labelledby': 'dep-title' },
      h('h1', { id: 'dep-title' }, 'Deployment'),
      h('div', { class: 'filters' }, h('label', { for: 'deployment-file' }, 'Resolved deployment file'), input),
      h('p', { class: 'note' }, 'The file gear deploy wrote (FILE.<timestamp>). It is read in this page only; nothing is sent.'),
      this.body,
    );
    void this.load();
  }

  dispose(): void {}

  /** The agent that runs a host's instances: this one (the page's host) or a peer of that address; undefined when none is connected. */
  private agentOf(host: string): Agent | undefined {
    return this.agents.find((a) => (a.base ? new URL(a.base).hostname : location.hostname) === host && a.token !== null);
  }

  private key = (host: string, id: string) => `${host}\n${id}`;

  /** The states of the instances, from each host's agent. */
  private async load(): Promise<void> {
    if (!opened) return this.render();
    const hosts = [...new Set(opened.deployment.Instances.map((i) => i.On))];
    await Promise.all(
      hosts.map(async (host) => {
        const agent = this.agentOf(host);
        if (!agent) return;
        try {
          const { Containers } = await agent.json<{ Containers: Container[] }>('GET', '/containers/overview');
          for (const c of Containers) this.states.set(this.key(host, c.Id), c);
        } catch (err) {
          announce(`${host}: ${(err as Error).message}`, 'error');
        }
      }),
    );
    this.render();
  }

  apply(agent: Agent, e: UnitsEvent): void {
    const host = agent.base ? new URL(agent.base).hostname : location.hostname;
    for (const id of e.Removed) this.states.delete(this.key(host, id));
    for (const c of e.Containers) this.states.set(this.key(host, c.Id), c);
    if (opened) this.render();
  }

  private render(): void {
    if (!opened) return this.body.replaceChildren(h('p', {}, 'Open a resolved deployment file to see its instances per host.'));
    const d = opened.deployment;
    const hosts = [...new Set([...(d.Hosts ?? []), ...d.Instances.map((i) => i.On)])];
    /** The instance a link reaches: the one on its ToHost publishing its ToPort. */
    const target = (host: string, port: number) => d.Instances.find((j) => j.On === host && j.Ports.some((p) => p.External === port));
    const sections = hosts.map((host) => {
      const agent = this.agentOf(host);
      const instances = d.Instances.filter((i) => i.On === host);
      const rows = instances.map((i) => {
        const s = this.states.get(this.key(host, i.Id));
        const links = (i.Links ?? []).map((l) => {
          const t = target(l.ToHost, l.ToPort);
          return `${l.FromHost}:${l.FromPort} → ${t ? `${t.Id} on ${t.On}` : `${l.ToHost}:${l.ToPort}`}`;
        });
        return h(
          'tr',
          { 'data-instance': i.Id, 'data-state': s?.ActiveState ?? 'unknown' },
          h('th', { scope: 'row' }, agent ? h('a', { href: containerHref(agent, i.Id) }, i.Id) : i.Id),
          h('td', {}, i.From),
          h('td', {}, s ? stateBadge(s.ActiveState, s.SubState) : agent ? 'not installed' : 'unknown (agent not connected)'),
          h('td', {}, i.Ports.map((p) => `${p.External}→${p.Internal}`).join(', ') || '–'),
          h('td', {}, links.length ? h('ul', { class: 'links' }, ...links.map((l) => h('li', {}, l))) : '–'),
        );
      });
      const id = `host-${hosts.indexOf(host)}`;
      return h(
        'section',
        { 'aria-labelledby': id, class: 'host', 'data-host': host },
        h('h2', { id }, `${host}`, h('span', { class: 'note' }, ` — ${agent ? (agent.base ? 'peer agent' : 'this agent') : 'no connected agent'}, ${instances.length} instance${instances.length === 1 ? '' : 's'}`)),
        instances.length
          ? h(
              'table',
              {},
              h('caption', {}, `Instances on ${host}`),
              h('thead', {}, h('tr', {}, ...['Instance', 'Container', 'State', 'Ports', 'Links'].map((c) => h('th', { scope: 'col' }, c)))),
              h('tbody', {}, ...rows),
            )
          : h('p', {}, 'No instance here.'),
      );
    });
    // The drawing first, the tables (the same, in rows) below it.
    const drawn = d.Instances.map((i): MapInstance => {
      const agent = this.agentOf(i.On);
      return { Id: i.Id, From: i.From, On: i.On, state: this.states.get(this.key(i.On, i.Id)), href: agent ? containerHref(agent, i.Id) : undefined };
    });
    const links: MapLink[] = [];
    let unresolved = 0;
    d.Instances.forEach((i, k) => {
      for (const l of i.Links ?? []) {
        const t = target(l.ToHost, l.ToPort);
        if (t) links.push({ from: drawn[k]!, to: drawn[d.Instances.indexOf(t)]!, label: `${l.FromHost}:${l.FromPort} → ${l.ToHost}:${l.ToPort}` });
        else unresolved++;
      }
    });
    const note = unresolved ? ` ${unresolved} link${unresolved === 1 ? '' : 's'} reach${unresolved === 1 ? 'es' : ''} no instance of this file: see the tables.` : '';
    this.body.replaceChildren(
      h('p', { class: 'note' }, `${opened.name}${d.Deployed ? `, deployed ${d.Deployed}` : ''}: ${d.Instances.length} instances on ${hosts.length} hosts`),
      h('figure', { class: 'map' }, deploymentMap(hosts, drawn, links, note), h('figcaption', { class: 'note' }, 'Each box a host, in it its instances (state as symbol and word); each arrow a link, from the instance that has it to the one it reaches. Tab moves through the instances; Enter opens one.')),
      h('h2', {}, 'Instances per host'),
      ...sections,
    );
  }
}
