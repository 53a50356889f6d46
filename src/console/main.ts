// The console's entry: the login, the peers (other agents this one was told
// about: gear daemon --console-peer), the router (#/, #/container/NAME,
// #/peer/ORIGIN/NAME, #/deployment) and one event stream (GET /events) per agent that
// keeps the page current.

import { Agent, ApiError, own } from './api.js';
import { announce, h } from './dom.js';
import { ContainerList } from './list.js';
import { ContainerPage } from './container.js';
import { DeploymentPage } from './deployment.js';
import type { Container, UnitsEvent } from './types.js';

performance.mark('gear:start');

const main = document.getElementById('main')!;
const logout = document.getElementById('logout') as HTMLButtonElement;
let view: { element: HTMLElement; apply(agent: Agent, e: UnitsEvent): void; dispose(): void } | undefined;
/** The peers, once asked for after a login; what each one's state is, in words. */
let peers: Agent[] | undefined;
const peerState = new Map<Agent, string>();
const streams = new Map<Agent, AbortController>();
const connected = (a: Agent) => a.token !== null;

function stopStreams(): void {
  for (const s of streams.values()) s.abort();
  streams.clear();
}

function showLogin(message?: string): void {
  stopStreams();
  view?.dispose();
  view = undefined;
  peers = undefined;
  logout.hidden = true;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help' });
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { id: 'login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to this gear agent'),
    h('label', { for: 'token' }, 'Agent token'),
    input,
    h('p', { id: 'token-help', class: 'note' }, "The agent's token (its --token-file, or /var/lib/gear/token). Kept in this tab only, until it closes."),
    h('button', { type: 'submit' }, 'Log in'),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const given = input.value.trim();
    error.textContent = '';
    own.json('GET', '/health', given).then(
      () => {
        own.token = given;
        void route();
      },
      (err: Error) => {
        error.textContent = err instanceof ApiError && err.status === 401 ? 'The agent refused this token.' : `Could not log in: ${err.message}`;
        input.focus();
      },
    );
  });
  main.replaceChildren(form);
  input.focus();
}

own.onUnauthorized = () => {
  own.token = null;
  showLogin('The agent refused the token (it may have changed). Log in again.');
};

logout.addEventListener('click', () => {
  own.token = null;
  for (const p of peers ?? []) p.token = null;
  showLogin();
});

/** An agent's event stream, opened again when it ends (the agent ends it after a while) or breaks. */
function openEvents(agent: Agent): void {
  if (streams.has(agent)) return;
  const abort = new AbortController();
  streams.set(agent, abort);
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        await agent.events(abort.signal, (name, data) => {
          if (name === 'units') view?.apply(agent, data as UnitsEvent);
        });
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) return;
        announce(`Live updates from ${agent.label} interrupted (${(err as Error).message}); reconnecting`, 'error');
      }
      if (!abort.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void loop().finally(() => streams.get(agent) === abort && streams.delete(agent));
}

/** The peers this agent was told about; each gets this agent's token first (often the same), else asks for its own. */
async function loadPeers(): Promise<Agent[]> {
  if (peers) return peers;
  const { Peers } = await own.json<{ Peers: string[] }>('GET', '/console/peers');
  peers = Peers.map((origin) => new Agent(origin, new URL(origin).host));
  await Promise.all(
    peers.map(async (p) => {
      p.onUnauthorized = () => {
        p.token = null;
        streams.get(p)?.abort();
        streams.delete(p);
        peerState.set(p, 'refused the token: give its own');
        void route();
      };
      if (p.token) return peerState.set(p, 'connected');
      try {
        await p.json('GET', '/health', own.token!);
        p.token = own.token;
        peerState.set(p, 'connected');
      } catch (err) {
        peerState.set(p, err instanceof ApiError && err.status === 401 ? 'refused the token: give its own' : `unreachable (${(err as Error).message})`);
      }
    }),
  );
  return peers;
}

/** The peers' section of the containers page: each one's state, and a token form for one that refused. */
function peersSection(all: Agent[]): HTMLElement | undefined {
  if (!all.length) return undefined;
  const items = all.map((p) => {
    const li = h('li', { 'data-peer': p.base }, h('strong', {}, p.label), `: ${peerState.get(p) ?? ''}`);
    if (!connected(p)) {
      const id = `peer-token-${all.indexOf(p)}`;
      const input = h('input', { type: 'password', id, autocomplete: 'off' });
      const form = h('form', { class: 'inline' }, h('label', { for: id }, `Token for ${p.label}`), input, h('button', { type: 'submit' }, 'Connect'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        p.json('GET', '/health', input.value.trim()).then(
          () => {
            p.token = input.value.trim();
            peerState.set(p, 'connected');
            void route();
          },
          (err: Error) => announce(`${p.label}: ${err instanceof ApiError && err.status === 401 ? 'refused this token' : err.message}`, 'error'),
        );
      });
      li.append(form);
    }
    return li;
  });
  return h('section', { 'aria-labelledby': 'peers-title', class: 'peers' }, h('h2', { id: 'peers-title' }, 'Other agents'), h('ul', {}, ...items));
}

async function route(): Promise<void> {
  if (!own.token) return showLogin();
  logout.hidden = false;
  view?.dispose();
  const all = await loadPeers().catch((err: Error) => {
    announce(`Could not read the peers: ${err.message}`, 'error');
    return [] as Agent[];
  });
  if (!own.token) return; // refused meanwhile: the login is shown
  const ctr = /^#\/container\/(.+)$/.exec(location.hash);
  const peerCtr = /^#\/peer\/([^/]+)\/(.+)$/.exec(location.hash);
  const peerOf = peerCtr && all.find((p) => p.base === decodeURIComponent(peerCtr[1]!) && connected(p));
  if (location.hash === '#/deployment') {
    const page = new DeploymentPage([own, ...all]);
    view = page;
    main.replaceChildren(page.element);
    document.title = 'Deployment · gear';
  } else if (ctr || peerOf) {
    const [agent, id] = ctr ? [own, decodeURIComponent(ctr[1]!)] : [peerOf!, decodeURIComponent(peerCtr![2]!)];
    const page = new ContainerPage(agent, id);
    view = page;
    main.replaceChildren(page.element);
    document.title = `${id} · gear`;
  } else {
    const list = new ContainerList();
    view = list;
    const section = peersSection(all);
    main.replaceChildren(list.element, ...(section ? [section] : []));
    document.title = 'Containers · gear';
    const fill = async (agent: Agent) => {
      const { Containers } = await agent.json<{ Containers: Container[] }>('GET', '/containers/overview');
      if (view === list) list.fill(agent, Containers);
    };
    try {
      await fill(own);
      if (view !== list) return;
      performance.mark('gear:table-filled');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) announce(`Could not list the containers: ${(err as Error).message}`, 'error');
      return;
    }
    await Promise.all(all.filter(connected).map((p) => fill(p).catch((err: Error) => announce(`${p.label}: ${err.message}`, 'error'))));
    if (view === list) document.body.dataset.ready = 'true';
  }
  const title = main.querySelector('h1');
  title?.setAttribute('tabindex', '-1');
  title?.focus();
  for (const a of [own, ...all.filter(connected)]) openEvents(a);
}

window.addEventListener('hashchange', () => void route());
void route();
