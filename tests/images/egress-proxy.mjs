#!/usr/bin/env node
// egress-proxy.mjs — lets image builds inside test hosts reach Debian's mirror
// and the npm registry. Test hosts have no route out (their only network is
// the bridge gearbr0, their resolver is 127.0.0.1), so this runs on the
// machine, on the bridge address, and serves two roles:
//
//   apt   an HTTP forward proxy for the Debian mirror (plain http GETs):
//           docker build --build-arg http_proxy=http://10.250.0.1:3142 ...
//   npm   a registry mirror over plain http, which fetches from the
//         registry the machine's npm is configured with (whose TLS trust, e.g.
//         NODE_EXTRA_CA_CERTS, the build containers do not have):
//           docker build --build-arg NPM_CONFIG_REGISTRY=http://10.250.0.1:3142/ ...
//         (npm rewrites the registry host of tarball URLs to the configured
//         one; it keeps their path, so the registry is at the root here)
//
//   node egress-proxy.mjs --allow MIRROR_HOST[,...] [--listen 10.250.0.1:3142] [--cache DIR]
//
// The mirror hosts come from the machine's apt sources (build-spc.sh reads
// them); the npm registry from `npm config get registry`.
//
// Prints "listening on ADDR:PORT" once ready. Only the allowed mirror hosts
// and the npm registry are reached; anything else gets 403. With --cache,
// files whose content never changes (Debian pool .debs, npm tarballs) are kept
// in DIR, so rebuilds in a fresh test host do not download them again.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '10.250.0.1:3142' },
    allow: { type: 'string', default: '' },
    cache: { type: 'string' },
  },
});
const [listenHost, listenPort] = values.listen.split(':');
const allowed = new Set(values.allow.split(',').filter(Boolean));
const NPM = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/+$/, '');
if (!/^https?:\/\//.test(NPM)) throw new Error(`npm config get registry gave ${JSON.stringify(NPM)}`);
const cacheDir = values.cache;
if (cacheDir) mkdirSync(cacheDir, { recursive: true });

const log = (m) => process.stderr.write(`egress-proxy: ${m}\n`);

/** Where an immutable file is cached, or undefined for anything that may change. */
function cacheFile(url) {
  const immutable = /\/pool\/.+\.deb$/.test(url.pathname) || /\/-\/[^/]+\.tgz$/.test(url.pathname);
  if (!cacheDir || !immutable) return undefined;
  return join(cacheDir, `${url.hostname}${url.pathname}`.replace(/[^A-Za-z0-9._+-]/g, '_'));
}

/** The upstream URL for a request: a proxied http URL, or a path on the npm registry. */
function upstreamUrl(req) {
  // Origin-form (a registry request) or absolute-form (a proxy request; also
  // for ourselves, when the client's http_proxy points here too).
  const url = new URL(req.url, `http://${values.listen}`);
  if (url.host === values.listen) return new URL(url.pathname + url.search, NPM);
  if (url.protocol === 'http:' && allowed.has(url.hostname)) {
    return url;
  }
  throw new Error(`not allowed: ${url.href}`);
}

const server = http.createServer((req, res) => {
  let url;
  try {
    url = upstreamUrl(req);
  } catch (err) {
    res.writeHead(403).end(`${err.message}\n`);
    return;
  }
  const cached = req.method === 'GET' ? cacheFile(url) : undefined;
  if (cached && existsSync(cached)) {
    res.writeHead(200, { 'content-length': statSync(cached).size });
    createReadStream(cached).pipe(res);
    return;
  }
  const headers = { ...req.headers, host: url.host };
  delete headers['proxy-connection'];
  const client = url.protocol === 'https:' ? https : http;
  const upstream = client.request(url, { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    if (cached && up.statusCode === 200) {
      // A temp file renamed once complete: never a partial file in the cache.
      // Unique per request: the same file may be fetched twice at once.
      const temp = `${cached}.${randomUUID()}.tmp`;
      const file = createWriteStream(temp);
      up.pipe(file);
      file.on('finish', () => {
        try {
          if (up.complete) renameSync(temp, cached);
        } finally {
          rmSync(temp, { force: true });
        }
      });
    }
    up.pipe(res);
  });
  upstream.on('error', (err) => {
    log(`${req.method} ${url.href}: ${err.message}`);
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});

// HTTPS through this proxy (CONNECT) is refused: npm uses the mirror role.
server.on('connect', (req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'));

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
server.listen(Number(listenPort), listenHost, () => console.log(`listening on ${listenHost}:${listenPort}`));
