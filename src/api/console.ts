import type { ServerResponse } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Host } from '../host/context.js';
import { busy, unavailable } from '../model/errors.js';
import { list, type ListAnswer } from '../operations/list.js';
import type { AddRoute } from './server.js';

/**
 * The web console (issue 16): its static files under /ui/ and the event
 * stream (GET /events) its pages keep open. The files carry no data, so the
 * guard lets them through without the token (guard.ts isConsolePage); every
 * request the page makes for data sends the token, as any client does.
 */

/** The console's agent routes in /openapi.json (not operations: they read the agent's own state and configuration). */
export const consoleOpenApi = {
  '/events': {
    get: {
      operationId: 'events',
      summary: "Server-sent events of the containers' unit states: a full listing, then the rows each change touched (the web console)",
      responses: { 200: { description: 'the event stream', content: { 'text/event-stream': {} } }, 401: { description: 'authentication required (TCP listeners with a token)' }, 429: { description: 'too many event streams open' } },
    },
  },
  '/console/peers': {
    get: {
      operationId: 'consolePeers',
      summary: 'The agents named by --console-peer, whose containers the web console shows too',
      responses: { 200: { description: '{Peers:[origin]}', content: { 'application/json': {} } }, 401: { description: 'authentication required (TCP listeners with a token)' } },
    },
  },
};

/** The console's path prefix. */
export const UI_PREFIX = '/ui/';

/**
 * The page may load scripts, styles and images from the agent only, connect
 * to the agent and to the peers it was told about (--console-peer) only, and
 * nothing may frame it: no inline script or style, no other origin.
 */
export const consoleCsp = (peers: readonly string[] = []) =>
  `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src ${["'self'", ...peers].join(' ')}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Where `npm run build` put the console: dist/ui beside the bundle's chunks
 * (the agent's code is in dist/chunks/), or from the sources (tsx) the
 * checkout's dist/ui.
 */
function uiDir(): string | undefined {
  const candidates = [process.env.GEAR_UI_DIR, fileURLToPath(new URL('../ui/', import.meta.url)), fileURLToPath(new URL('../../dist/ui/', import.meta.url))];
  for (const dir of candidates) {
    if (!dir) continue;
    try {
      if (readdirSync(dir).includes('index.html')) return dir;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** The console's files, read once at start (a few tens of KiB): name to type and bytes. */
function loadFiles(): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  const dir = uiDir();
  if (!dir) return files;
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (type && /^[a-z0-9.-]+$/.test(name)) files.set(name, { type, body: readFileSync(`${dir}/${name}`) });
  }
  return files;
}

/** Event streams open at once beyond which a new one is 429 (each holds a connection and a listener). */
const MAX_EVENT_STREAMS = 64;

/** An event stream ends after this long; the console opens a new one (and gets a full listing again). */
const EVENT_STREAM_MS = 10 * 60_000;

/** A comment line this often keeps proxies and the browser from taking a quiet stream for a dead one. */
const KEEPALIVE_MS = 15_000;

/** Changes within this window go out as one event (a restart is several state changes in a few ms). */
const COALESCE_MS = 50;

type Row = ListAnswer['Containers'][number];
const same = (a: Row, b: Row) =>
  a.ActiveState === b.ActiveState && a.SubState === b.SubState && a.LoadState === b.LoadState && a.Health === b.Health && a.Socket === b.Socket;

export interface ConsoleRoutes {
  host: Host;
  /** Register a listener for "something may have changed" beyond systemd's units (a finished change: install, delete). */
  onChange(listener: () => void): () => void;
  log: (line: string) => void;
  /** Peer agents' origins (--console-peer): the page may connect to them and lists their containers too. */
  peers: readonly string[];
  /** Aborted when the agent stops: every event stream ends. */
  stopping?: AbortSignal;
}

export function registerConsoleRoutes(route: AddRoute, opts: ConsoleRoutes): void {
  const files = loadFiles();
  const headers = { ...SECURITY_HEADERS, 'content-security-policy': consoleCsp(opts.peers) };
  const page = (name: string, res: ServerResponse) => {
    const file = files.get(name);
    if (!file)
      return void res
        .writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' })
        .end(name === 'index.html' ? 'the console is not built (npm run build)\n' : 'not found\n');
    res.writeHead(200, { ...headers, 'content-type': file.type, 'cache-control': 'no-cache' }).end(file.body);
  };
  route('GET', '/ui', ({ res }) => void res.writeHead(301, { location: UI_PREFIX }).end());
  route('GET', UI_PREFIX, ({ res }) => page('index.html', res));
  route('GET', `${UI_PREFIX}:file`, ({ res, params }) => page(params.file ?? '', res));

  // Behind the token like every data route: the peers this agent's console shows beside its own containers.
  const peers = Buffer.from(JSON.stringify({ Peers: opts.peers }));
  route('GET', '/console/peers', ({ res }) => void res.writeHead(200, { 'content-type': 'application/json' }).end(peers));

  const active = { streams: 0 };
  route('GET', '/events', ({ res }) => events(opts, active, res));
}

/**
 * GET /events: server-sent events of the containers' unit states, fed by
 * the agent's in-memory unit table (UnitWatch) and by finished changes, never
 * by polling. First `event: units` with every container (`Full: true`), then,
 * after each change, the rows that changed and the ids gone. Each row is a
 * GET /containers?all=1 row.
 */
async function events(opts: ConsoleRoutes, active: { streams: number }, out: ServerResponse): Promise<void> {
  if (active.streams >= MAX_EVENT_STREAMS) throw busy(`${MAX_EVENT_STREAMS} event streams are open; retry later`);
  if (opts.stopping?.aborted) throw unavailable('the agent is stopping');
  const read = () => list.run(opts.host, { all: true }, {});
  const first = await read(); // an error here is a plain error answer
  active.streams++;
  out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
  const send = (event: string, data: unknown) => out.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let last = new Map(first.Containers.map((c) => [c.Id, c]));
  send('units', { Full: true, Containers: first.Containers, Removed: [] });

  let pending: NodeJS.Timeout | undefined;
  let reading = false;
  let again = false;
  const update = async () => {
    pending = undefined;
    if (reading) return void (again = true);
    reading = true;
    try {
      const now = await read();
      if (out.destroyed) return;
      const next = new Map(now.Containers.map((c) => [c.Id, c]));
      const changed = now.Containers.filter((c) => !last.has(c.Id) || !same(last.get(c.Id)!, c));
      const removed = [...last.keys()].filter((id) => !next.has(id));
      last = next;
      if (changed.length || removed.length) send('units', { Full: false, Containers: changed, Removed: removed });
    } catch (err) {
      opts.log(`events: listing failed: ${(err as Error).message}`);
    } finally {
      reading = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => void (pending ??= setTimeout(() => void update(), COALESCE_MS));
  const offUnits = opts.host.systemd.onUnitsChanged?.(schedule) ?? (() => undefined);
  const offOps = opts.onChange(schedule);
  const keepalive = setInterval(() => out.write(': keepalive\n\n'), KEEPALIVE_MS);
  const end = () => out.end();
  const limit = setTimeout(end, EVENT_STREAM_MS);
  opts.stopping?.addEventListener('abort', end, { once: true });
  out.once('close', () => {
    opts.stopping?.removeEventListener('abort', end);
    active.streams--;
    offUnits();
    offOps();
    clearInterval(keepalive);
    clearTimeout(limit);
    if (pending) clearTimeout(pending);
  });
}
