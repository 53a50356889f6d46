import { request, Agent } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, gear, sh, startAgent, stopAgent, testhost } from './harness.js';
import { brokenPromises } from './host-state.js';

/**
 * The load campaign (issue 17): CLIENTS concurrent API clients for SECONDS
 * mix reads (list, status), installs, deletes and links on UNITS container
 * names, through the agent's unix socket (reached from the machine through
 * the host's root). Every client keeps to operations that are valid when it
 * sends them (it installs an absent name, deletes or links an installed
 * one; a name is used by one client at a time), so any answer but 2xx,
 * 503 (queue full) and 429 (busy) is an error. Prints p50/p99 per route,
 * and the agent's RSS after two identical runs that follow a warm-up run
 * (a leak shows as growth).
 *
 * `npm run reliability`: 200 clients, 60 s, 300 names. npm test: a smoke
 * run (GEAR_LOAD_* unset: 20 clients, 5 s, 30 names), which checks the
 * answers and the host but only prints the RSS (runs of 30 s and more
 * judge it).
 */

const CLIENTS = Number(process.env.GEAR_LOAD_CLIENTS ?? 20);
const SECONDS = Number(process.env.GEAR_LOAD_SECONDS ?? 5);
const UNITS = Number(process.env.GEAR_LOAD_UNITS ?? 30);
const names = Array.from({ length: UNITS }, (_, i) => `ld-${i}`);
const root = /TESTHOST_ROOT=['"]?([^'"\n]+)/.exec(testhost(['env', H]))![1]!;
const socketPath = `${root}/run/gear/gear.sock`;

interface Outcome {
  route: string;
  status: number;
  ms: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
/** Requests sent again because the kept-alive connection they went out on was being closed (below). */
let resent = 0;

/**
 * One request. Like any HTTP client that keeps connections alive, it sends a
 * request again, once, when it went out on a reused connection that the
 * agent closed as idle (Node's 5 s keep-alive) at that very moment: the write
 * fails (EPIPE, ECONNRESET) before any answer, so the agent never took it.
 * The client leaves a socket 1 s before the agent's Keep-Alive hint expires,
 * but a loaded machine can run its timer late (CI: 2 GETs of a smoke run).
 */
function call(method: string, path: string, body?: unknown, again = true): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, agent, method, path, headers: { host: 'agent', accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', (err) => resolve({ status: 0, text: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (again && req.reusedSocket && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
        resent++;
        return resolve(call(method, path, body, false));
      }
      resolve({ status: 0, text: err.message });
    });
    req.end(data);
  });
}

/** One run: CLIENTS loops until SECONDS are over. */
async function campaign(): Promise<{ outcomes: Outcome[]; errors: string[] }> {
  const installed = new Set<string>();
  const busy = new Set<string>();
  const outcomes: Outcome[] = [];
  const errors: string[] = [];
  const end = Date.now() + SECONDS * 1000;
  const pickFree = (want: (n: string) => boolean) => {
    const free = names.filter((n) => !busy.has(n) && want(n));
    return free.length ? free[Math.floor(Math.random() * free.length)] : undefined;
  };
  const timed = async (route: string, method: string, path: string, body?: unknown) => {
    const t = performance.now();
    const r = await call(method, path, body);
    outcomes.push({ route, status: r.status, ms: performance.now() - t });
    if (!(r.status >= 200 && r.status < 300) && r.status !== 503 && r.status !== 429) errors.push(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.status >= 200 && r.status < 300;
  };
  const client = async () => {
    while (Date.now() < end) {
      const dice = Math.random();
      if (dice < 0.4) {
        if (dice < 0.2) await timed('GET /containers', 'GET', '/containers');
        else {
          const n = pickFree((x) => installed.has(x));
          if (n) {
            busy.add(n);
            await timed('GET /container/:id/status', 'GET', `/container/${n}/status`);
            busy.delete(n);
          } else await timed('GET /containers', 'GET', '/containers');
        }
        continue;
      }
      const op = dice < 0.65 ? 'install' : dice < 0.85 ? 'delete' : 'link';
      const n = pickFree((x) => (op === 'install' ? !installed.has(x) : installed.has(x)));
      if (!n) {
        await timed('GET /containers', 'GET', '/containers');
        continue;
      }
      busy.add(n);
      if (op === 'install') {
        if (await timed('PUT /container/:id', 'PUT', `/container/${n}`, { Image: 'test/web', Ports: [{ Internal: 8080, External: 0 }] })) installed.add(n);
      } else if (op === 'delete') {
        if (await timed('DELETE /container/:id', 'DELETE', `/container/${n}`)) installed.delete(n);
      } else {
        await timed('POST /containers/links', 'POST', '/containers/links', { Links: [{ Id: n, NetworkLinks: [{ FromHost: '127.0.0.2', FromPort: 8081, ToHost: '10.250.0.1', ToPort: 9 }] }] });
      }
      busy.delete(n);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  // Leave the same state for the next run: none of the names installed.
  for (const n of installed) await call('DELETE', `/container/${n}`);
  return { outcomes, errors };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function report(label: string, outcomes: Outcome[]): void {
  const routes = [...new Set(outcomes.map((o) => o.route))].sort();
  console.log(`  load ${label}: ${CLIENTS} clients, ${SECONDS} s, ${UNITS} names: ${outcomes.length} requests`);
  for (const route of routes) {
    const of = outcomes.filter((o) => o.route === route);
    const ms = of.map((o) => o.ms).sort((a, b) => a - b);
    const statuses = Object.entries(of.reduce<Record<number, number>>((acc, o) => ((acc[o.status] = (acc[o.status] ?? 0) + 1), acc), {}))
      .map(([s, c]) => `${s}: ${c}`)
      .join(', ');
    console.log(`    ${route.padEnd(26)} ${String(of.length).padStart(6)}  p50 ${percentile(ms, 50).toFixed(0).padStart(5)} ms  p99 ${percentile(ms, 99).toFixed(0).padStart(6)} ms  (${statuses})`);
  }
}

const rssKb = async () => Number((await sh(H, 'grep VmRSS /proc/$(systemctl show -p MainPID --value gear-agent)/status')).split(/\s+/)[1]);

/**
 * The agent's RSS once it has settled after a run. Read at once, RSS says
 * where the garbage collector happened to be: the same code measured in two
 * side-by-side runs gave +0.4 % and -51 % from run 1 to run 2, and another
 * run +63 %. Idle, V8's memory reducer collects and gives pages back within
 * seconds, so the agent's working set is RSS once it stops falling: samples
 * every 2 s, at least 20 s, until five in a row are within 1 %; the lowest.
 */
async function settledRssKb(): Promise<number> {
  const samples: number[] = [];
  const start = Date.now();
  for (;;) {
    samples.push(await rssKb());
    const last = samples.slice(-5);
    const steady = last.length === 5 && Math.max(...last) <= Math.min(...last) * 1.01;
    if ((steady && Date.now() - start >= 20_000) || Date.now() - start >= 90_000) return Math.min(...last);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

test.before(async () => {
  await startAgent(H);
});
test.after(async () => {
  agent.destroy();
  await stopAgent(H);
  const left = JSON.parse((await gear(H, ['list-units', '--all', '--json'])).stdout).Containers.map((c: { Id: string }) => c.Id).filter((id: string) => id.startsWith('ld-'));
  if (left.length) await gear(H, ['delete', ...left]);
});

test(`load: ${CLIENTS} clients for ${SECONDS} s on ${UNITS} names, twice: no answer but 2xx, 503 and 429${SECONDS >= 30 ? "; the agent's memory flat" : ''}`, async () => {
  // A first run warms the agent up (compiled code, caches, the heap's first growth); then two measured, identical runs.
  const warmUp = await campaign();
  report('warm-up', warmUp.outcomes);
  // The memory is judged at campaign size only (below), so only then is it worth the wait to settle.
  const memory = SECONDS >= 30 ? settledRssKb : rssKb;
  const first = await campaign();
  const rss1 = await memory();
  report('run 1', first.outcomes);
  const second = await campaign();
  const rss2 = await memory();
  report('run 2', second.outcomes);
  console.log(`  load: ${resent} requests sent again after their kept-alive connection closed as idle`);
  console.log(`  load: agent RSS${SECONDS >= 30 ? ' (settled)' : ''} after run 1 ${(rss1 / 1024).toFixed(1)} MiB, after run 2 ${(rss2 / 1024).toFixed(1)} MiB (${(((rss2 - rss1) / rss1) * 100).toFixed(1)} %)`);
  assert.equal([...warmUp.errors, ...first.errors, ...second.errors].slice(0, 20), []);
  assert.equal(await brokenPromises(H), []);
  const dry = await gear(H, ['clean', '--repair', '--dry-run']);
  assert.equal(dry.stdout.split('\n').filter((l) => l.startsWith('would fix: ')), []);
  // A leak grows with every run. Judged only at campaign size: in 5 s runs the agent's heap is
  // still growing to its working size (seen +18 % and +32 % from run 1 to 2 there, +0.2 % at 60 s).
  if (SECONDS >= 30) assert.ok(rss2 <= rss1 * 1.1, `RSS after the second run within 10 % of after the first: ${rss1} -> ${rss2} kB`);
});

test.run();
