import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { dirname } from 'node:path';
import { tagRequest, type ListenerPolicy } from '../api/guard.js';
import { isImageUpload } from '../api/images.js';
import { DEFAULT_LISTEN, DEFAULT_SOCKET, beyondLoopback, defaultTokenPath, ensureTokenFile, parseListenAddress, readTokenFile, type ListenAddress } from '../api/listen.js';
import { BODY_LIMIT, buildServer } from '../api/server.js';
import { configFromEnv } from '../host/config.js';
import { Host } from '../host/context.js';
import { DbusSystemd } from '../host/systemd.js';
import { parseConsoleOrigin } from '../model/address.js';
import { invalid } from '../model/errors.js';
import { CONTAINER_UNITS } from '../model/names.js';
import { cleanHost } from '../operations/clean.js';
import { migrateVolumes } from '../operations/volumes.js';
import { VERSION } from '../version.js';
import { JobQueue } from '../api/jobs.js';
import { UploadTimeouts } from './uploads.js';
import { RequestLog } from '../api/requests.js';
import { Callbacks } from '../api/callbacks.js';
import { shedStartupGarbage } from './memory.js';

export interface DaemonOptions {
  /** TCP listeners that require the token. */
  listen?: string[];
  /** TCP listeners that serve without a token (--insecure-tokenless-listen). */
  tokenlessListen?: string[];
  /** Unix socket path; false for none. */
  socket?: string | false;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Allow TCP listeners beyond loopback without TLS. */
  insecurePlaintext?: boolean;
  serverNames?: string[];
  /** Peer agents' URLs whose consoles may call this agent and which this agent's console shows (--console-peer). */
  consolePeers?: string[];
  logStreamSeconds: number;
  requestTimeoutSeconds: number;
  maxJobs: number;
  maxQueued: number;
  maxLogStreams?: number;
  /** The file holding the secret job callbacks are signed with (never the secret itself: process arguments are public). */
  callbackSecretFile?: string;
}

const positive = (n: number, flag: string) => {
  if (!Number.isFinite(n) || n <= 0) throw invalid(`${flag} must be a positive number`);
  return n;
};

const log = (line: string) => process.stderr.write(`gear daemon: ${line}\n`);

interface Listener {
  address: ListenAddress;
  policy: ListenerPolicy;
}

const readPem = (path: string, what: string) => {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
};

/**
 * `gear daemon`: repair what a crash left, then serve the API on every
 * address until SIGTERM/SIGINT. All state is on the host (systemd, Docker,
 * the state directory), so a restart loses nothing.
 */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  // A build's Source directory on the agent: only under GEAR_BUILD_SOURCES, none when unset (docs/decisions.md).
  const config = { buildSources: [], ...configFromEnv() };
  const given = (opts.listen?.length ? opts.listen : opts.tokenlessListen?.length ? [] : [DEFAULT_LISTEN]).map(parseListenAddress);
  const tokenlessGiven = (opts.tokenlessListen ?? []).map(parseListenAddress);
  // A unix address given to either is one more root-only socket (its file mode is its lock).
  const sockets = [...given, ...tokenlessGiven].filter((a) => a.kind === 'unix');
  const withToken = given.filter((a) => a.kind === 'tcp');
  const tokenless = tokenlessGiven.filter((a) => a.kind === 'tcp');
  if (!opts.tlsCert !== !opts.tlsKey) throw invalid('give both --tls-cert and --tls-key');
  const tls = opts.tlsCert && opts.tlsKey ? { cert: readPem(opts.tlsCert, 'certificate'), key: readPem(opts.tlsKey, 'key') } : undefined;
  const plain = [...withToken, ...tokenless].filter((a) => beyondLoopback(a) && !tls);
  if (plain.length && !opts.insecurePlaintext)
    throw invalid(`refusing to listen on ${plain.map(show).join(', ')} without TLS: give --tls-cert and --tls-key (or --insecure-plaintext, and the token travels in clear text)`);
  // Every TCP listener wants the token; without --token-file, the agent's own (made once, root only).
  // `gear doctor` checks the token file this agent reads (none without TCP listeners).
  config.tokenFile = opts.tokenFile;
  config.noTokenFile = withToken.length === 0;
  const token = withToken.length ? await (opts.tokenFile ? readTokenFile(opts.tokenFile) : ensureTokenFile(defaultTokenPath(config))) : undefined;
  const scheme = (a: ListenAddress) => (tls && beyondLoopback(a) ? 'https' : 'http');
  const listeners: Listener[] = [
    ...withToken.map((address): Listener => ({ address, policy: { kind: 'tcp', token, scheme: scheme(address) } })),
    ...tokenless.map((address): Listener => ({ address, policy: { kind: 'tcp', token: undefined, scheme: scheme(address) } })),
  ];
  for (const address of sockets) listeners.push({ address, policy: { kind: 'unix' } });
  if (opts.socket !== false) listeners.push({ address: { kind: 'unix', path: opts.socket ?? DEFAULT_SOCKET }, policy: { kind: 'unix' } });
  positive(opts.logStreamSeconds, '--log-stream-seconds');
  const consolePeers = (opts.consolePeers ?? []).map(parseConsoleOrigin);
  const requestTimeoutMs = positive(opts.requestTimeoutSeconds, '--request-timeout') * 1000;
  const jobs = new JobQueue(Math.floor(positive(opts.maxJobs, '--max-jobs')), Math.floor(positive(opts.maxQueued, '--max-queued')));

  // Listings answer from memory, fed by systemd's signals (see UnitWatch).
  const host = new Host(config, { systemd: (h) => new DbusSystemd(config.busAddress, { watch: CONTAINER_UNITS, reloads: h.reloads }) });
  const systemd = host.systemd as DbusSystemd;
  const repaired = await cleanHost(host);
  for (const what of repaired.Removed) log(`repair: removed ${what}`);
  for (const what of repaired.NotRemoved) log(`repair: could not remove ${what}`);
  // Containers installed before gear named volumes get them now, so that a start by systemd alone mounts them.
  for (const line of await migrateVolumes(host)) log(`volumes: ${line}`);
  await systemd.startWatching();
  const requests = new RequestLog(host.fs, `${host.config.stateDir}/requests`, log);
  await requests.prune();
  const pruning = setInterval(() => requests.prune().catch((err) => log(`pruning request ids: ${err}`)), 3600_000);
  pruning.unref();

  // Read before anything listens: a bad file stops the agent at start, with the reason.
  const callbacks = opts.callbackSecretFile
    ? new Callbacks(Buffer.from(await readTokenFile(opts.callbackSecretFile, 'callback secret file')), log, { outbox: { fs: host.fs, dir: `${host.config.stateDir}/callbacks` } })
    : undefined;
  // Callbacks owed by the agent before this one (killed, restarted): sent now, after the repair above.
  const owed = (await callbacks?.resume()) ?? 0;
  if (owed) log(`callbacks: sending ${owed} owed from before this start`);
  const stopping = new AbortController();
  const app = buildServer({ host, jobs, requests, callbacks, stopping: stopping.signal, serverNames: opts.serverNames, consolePeers, maxLogStreams: opts.maxLogStreams === undefined ? undefined : Math.floor(positive(opts.maxLogStreams, '--max-log-streams')), logStreamMs: opts.logStreamSeconds * 1000, log });
  const servers: Server[] = [];
  const serverOptions = { requestTimeout: requestTimeoutMs, headersTimeout: Math.min(requestTimeoutMs, 10_000), connectionsCheckingInterval: 1000 };
  const uploads = new UploadTimeouts(requestTimeoutMs);
  for (const { address, policy } of listeners) {
    // One router for every listener; each listener tags its requests with its policy before routing.
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      tagRequest(req, policy);
      uploads.track(req);
      app.routing(req, res);
    };
    const server = policy.kind === 'tcp' && policy.scheme === 'https' ? createTlsServer({ ...serverOptions, ...tls }, handler) : createServer(serverOptions, handler);
    server.on('clientError', uploads.clientError);
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => askedToContinue(req, res, handler));
    await listen(server, address);
    servers.push(server);
  }
  const describe = ({ address, policy }: Listener) =>
    `${policy.kind === 'tcp' ? `${policy.scheme}://` : ''}${show(address)}${policy.kind === 'unix' ? '' : policy.token ? ' (token)' : ' (NO TOKEN: insecure)'}`;
  log(`gear ${VERSION} on Node.js ${process.version}, listening on ${listeners.map(describe).join(', ')}`);
  // Start-up is over: what it left is garbage, and the young generation it grew is not needed idle.
  shedStartupGarbage();

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      clearInterval(pruning);
      stopping.abort(); // the console's event streams end now
      const kept = callbacks?.stop() ?? 0;
      if (kept) log(`callbacks: ${kept} not yet delivered, kept for the next start`);
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
  const counts = systemd.watchCounts;
  if (counts) log(`listings answered from memory: ${counts.listings}, Pings to systemd for them: ${counts.pings}`);
  host.close();
}

const show = (a: ListenAddress) => (a.kind === 'unix' ? `unix:${a.path}` : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

async function listen(server: Server, address: ListenAddress): Promise<void> {
  if (address.kind === 'unix') {
    await mkdir(dirname(address.path), { recursive: true, mode: 0o755 });
    await rm(address.path, { force: true }); // a stale socket of a killed agent
  }
  // The socket is made under umask 077: root only from its first moment, not after a chmod.
  const umask = address.kind === 'unix' ? process.umask(0o077) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (address.kind === 'unix') server.listen(address.path, resolve);
      else server.listen(address.port, address.host, resolve);
    });
  } finally {
    if (umask !== undefined) process.umask(umask);
  }
  if (address.kind === 'unix') await chmod(address.path, 0o600);
}

/**
 * A client that asks before it sends its body (`Expect: 100-continue`; curl
 * does above 1 MB) and declares one larger than the agent reads is told 413
 * at once: it never sends the body. Answering 413 only after it has started
 * (as Node does when told to continue) races the client's upload: the agent
 * closes the connection, and a busy client could lose the answer to a reset
 * while still sending. Nothing is read or run, so no listener check is needed first.
 */
function askedToContinue(req: IncomingMessage, res: ServerResponse, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
  // An image archive is streamed, never held: no limit on its size (api/images.ts).
  if (Number(req.headers['content-length']) > BODY_LIMIT && !isImageUpload(req.method, req.url)) {
    res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    res.end(JSON.stringify({ Message: `request body is larger than ${BODY_LIMIT} bytes` }));
    return;
  }
  res.writeContinue();
  handler(req, res);
}
