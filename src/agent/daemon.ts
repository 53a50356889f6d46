import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import { DEFAULT_LISTEN, DEFAULT_SOCKET, needsAuth, parseListenAddress, readTokenFile, type ListenAddress } from '../api/listen.js';
import { buildServer } from '../api/server.js';
import { configFromEnv } from '../host/config.js';
import { Host } from '../host/context.js';
import { invalid } from '../model/errors.js';
import { cleanHost } from '../operations/clean.js';
import { migrateVolumes } from '../operations/volumes.js';
import { JobQueue } from './jobs.js';
import { RequestLog } from './requests.js';

export interface DaemonOptions {
  listen?: string[];
  /** Unix socket path; false for none. */
  socket?: string | false;
  tokenFile?: string;
  logStreamSeconds: number;
  requestTimeoutSeconds: number;
  maxJobs: number;
  maxQueued: number;
}

const positive = (n: number, flag: string) => {
  if (!Number.isFinite(n) || n <= 0) throw invalid(`${flag} must be a positive number`);
  return n;
};

const log = (line: string) => process.stderr.write(`gear daemon: ${line}\n`);

/**
 * `gear daemon`: repair what a crash left, then serve the API on every
 * address until SIGTERM/SIGINT. All state is on the host (systemd, Docker,
 * the state directory), so a restart loses nothing.
 */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const addresses: ListenAddress[] = (opts.listen?.length ? opts.listen : [DEFAULT_LISTEN]).map(parseListenAddress);
  if (opts.socket !== false) addresses.push({ kind: 'unix', path: opts.socket ?? DEFAULT_SOCKET });
  const token = opts.tokenFile ? await readTokenFile(opts.tokenFile) : undefined;
  const open = addresses.filter(needsAuth);
  if (open.length && !token)
    throw invalid(`refusing to listen on ${open.map(show).join(', ')} without authentication: give --token-file (or listen on loopback only)`);
  positive(opts.logStreamSeconds, '--log-stream-seconds');
  const requestTimeoutMs = positive(opts.requestTimeoutSeconds, '--request-timeout') * 1000;
  const jobs = new JobQueue(Math.floor(positive(opts.maxJobs, '--max-jobs')), Math.floor(positive(opts.maxQueued, '--max-queued')));

  const host = new Host(configFromEnv());
  const repaired = await cleanHost(host);
  for (const what of repaired.Removed) log(`repair: removed ${what}`);
  for (const what of repaired.NotRemoved) log(`repair: could not remove ${what}`);
  // Containers installed before gear named volumes get them now, so that a start by systemd alone mounts them.
  for (const line of await migrateVolumes(host)) log(`volumes: ${line}`);
  const requests = new RequestLog(host.fs, `${host.config.stateDir}/requests`);
  await requests.prune();

  const app = await buildServer({ host, jobs, requests, token, logStreamMs: opts.logStreamSeconds * 1000, log });
  await app.ready();
  const servers: Server[] = [];
  for (const address of addresses) {
    // One fastify app routes for every listener (fastify itself listens on one).
    const server = createServer({ requestTimeout: requestTimeoutMs, headersTimeout: Math.min(requestTimeoutMs, 10_000), connectionsCheckingInterval: 1000 }, (req, res) => app.routing(req, res));
    await listen(server, address);
    servers.push(server);
  }
  log(`listening on ${addresses.map(show).join(', ')}${token ? ' (token required on TCP)' : ''}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      // Stop accepting; let running requests finish (streams end within their limit).
      for (const s of servers) {
        s.close();
        s.closeIdleConnections();
      }
      setTimeout(() => {
        for (const s of servers) s.closeAllConnections();
      }, 10_000).unref();
      Promise.all(servers.map((s) => new Promise((r) => s.on('close', r)))).then(() => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await app.close();
  host.close();
}

const show = (a: ListenAddress) => (a.kind === 'unix' ? `unix:${a.path}` : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

async function listen(server: Server, address: ListenAddress): Promise<void> {
  if (address.kind === 'unix') {
    await mkdir(dirname(address.path), { recursive: true, mode: 0o755 });
    await rm(address.path, { force: true }); // a stale socket of a killed agent
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (address.kind === 'unix') server.listen(address.path, resolve);
    else server.listen(address.port, address.host, resolve);
  });
  // Only root may talk to the agent over its socket.
  if (address.kind === 'unix') await chmod(address.path, 0o600);
}
