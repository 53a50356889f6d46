// The console's entry: the login, the router (#/ and #/container/NAME) and
// the one event stream (GET /events) that keeps the page current.

import { ApiError, events, json, onUnauthorized, token } from './api.js';
import { announce, h } from './dom.js';
import { ContainerList } from './list.js';
import { ContainerPage } from './container.js';
import type { Container, UnitsEvent } from './types.js';

performance.mark('gear:start');

const main = document.getElementById('main')!;
const logout = document.getElementById('logout') as HTMLButtonElement;
let view: { element: HTMLElement; apply(e: UnitsEvent): void; dispose(): void } | undefined;
let stream: AbortController | undefined;

function showLogin(message?: string): void {
  stream?.abort();
  view?.dispose();
  view = undefined;
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
    json('GET', '/health', given).then(
      () => {
        token.set(given);
        route();
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

onUnauthorized(() => {
  token.clear();
  showLogin('The agent refused the token (it may have changed). Log in again.');
});

logout.addEventListener('click', () => {
  token.clear();
  showLogin();
});

/** The one event stream, opened again when it ends (the agent ends it after a while) or breaks. */
function openEvents(): void {
  stream?.abort();
  const abort = (stream = new AbortController());
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        await events(abort.signal, (name, data) => {
          if (name === 'units') view?.apply(data as UnitsEvent);
        });
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) return;
        announce(`Live updates interrupted (${(err as Error).message}); reconnecting`, 'error');
      }
      if (!abort.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void loop();
}

async function route(): Promise<void> {
  if (!token.get()) return showLogin();
  logout.hidden = false;
  view?.dispose();
  const m = /^#\/container\/(.+)$/.exec(location.hash);
  if (m) {
    const page = new ContainerPage(decodeURIComponent(m[1]!));
    view = page;
    main.replaceChildren(page.element);
    document.title = `${decodeURIComponent(m[1]!)} · gear`;
  } else {
    const list = new ContainerList();
    view = list;
    main.replaceChildren(list.element);
    document.title = 'Containers · gear';
    try {
      const { Containers } = await json<{ Containers: Container[] }>('GET', '/containers/overview');
      if (view !== list) return;
      list.fill(Containers);
      performance.mark('gear:table-filled');
      document.body.dataset.ready = 'true';
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) announce(`Could not list the containers: ${(err as Error).message}`, 'error');
      return;
    }
  }
  const title = main.querySelector('h1');
  title?.setAttribute('tabindex', '-1');
  title?.focus();
  if (!stream || stream.signal.aborted) openEvents();
}

window.addEventListener('hashchange', () => void route());
void route();
