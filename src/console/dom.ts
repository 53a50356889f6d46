// Small DOM helpers. Text goes in as text (textContent), never as markup:
// names, images and log lines come from the host.

type Attrs = Record<string, string | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== undefined) el.append(c);
  return el;
}

/** A status message, read out by screen readers (the page's one live region). */
export function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  const region = document.getElementById('status');
  if (!region) return;
  region.textContent = message;
  region.className = kind;
}

/** Ask before a change; resolves true on confirm. A modal <dialog>: focus moves into it and Escape cancels. */
export function confirmAction(question: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger' }, confirmLabel);
    const no = h('button', { type: 'button' }, 'Cancel');
    const title = h('h2', { id: 'confirm-title' }, question);
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' }, title, h('div', { class: 'buttons' }, no, yes));
    const done = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** "3d 4h", "5m 2s": how long since `since` (ms since the epoch). */
export function duration(since: number, now = Date.now()): string {
  let s = Math.max(0, Math.floor((now - since) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** A unit state's kind (its colour class), symbol and words: shown together, never the colour alone. */
export function stateOf(active: string, sub: string): { kind: 'ok' | 'bad' | 'busy' | 'off'; symbol: string; text: string } {
  const kind = active === 'active' ? 'ok' : active === 'failed' ? 'bad' : active === 'activating' || active === 'deactivating' || active === 'reloading' ? 'busy' : 'off';
  return { kind, symbol: { ok: '●', bad: '✕', busy: '◐', off: '○' }[kind], text: sub && sub !== active ? `${active} (${sub})` : active };
}

/** A state as a word and a colour class; the word is always shown (never colour alone). */
export function stateBadge(active: string, sub: string): HTMLElement {
  const { kind, symbol, text } = stateOf(active, sub);
  return h('span', { class: `state ${kind}` }, h('span', { 'aria-hidden': 'true' }, `${symbol} `), text);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, as h() makes HTML ones: attributes set one by one (presentation attributes, never a style), text as text. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...children: (Node | string | undefined)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined) el.append(c);
  return el;
}
