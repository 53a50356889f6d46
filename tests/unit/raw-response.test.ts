import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readResponse } from '../../src/host/raw-response.js';

/** A server on a unix socket that answers every connection with these pieces, one write each, then ends it (unless `hold`). */
async function serve(pieces: (string | Buffer)[], hold = false): Promise<{ path: string; server: Server; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'raw-response-'));
  const path = join(dir, 's');
  const server = createServer((s) => {
    s.once('data', async () => {
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setImmediate(r));
      }
      if (!hold) s.end();
      else s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, dir };
}

async function ask(pieces: (string | Buffer)[], hold = false) {
  const { path, server, dir } = await serve(pieces, hold);
  try {
    const socket = connect(path);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await readResponse(socket);
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    try {
      for await (const c of r.body) chunks.push(c as Buffer);
    } catch (err) {
      error = err as Error;
    }
    return { status: r.status, headers: r.headers, body: Buffer.concat(chunks), error };
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: Error) => e);
  assert.ok(err, `expected a failure matching ${re}`);
  assert.match(err!.message, re);
}

/** `data` in chunked encoding, chunks of `size` bytes. */
function chunked(data: Buffer, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const c = data.subarray(at, at + size);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A buffer cut into pieces of `size`. */
const cut = (b: Buffer, size: number) => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

test('a chunked answer, its framing split anywhere across reads: the body exactly', async () => {
  const data = randomBytes(700_000);
  const whole = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked(data, 32768)]);
  for (const size of [1, 7, 4096, 65536, whole.length]) {
    const r = await ask(size === 1 ? cut(whole, 997) : cut(whole, size));
    assert.is(r.status, 200);
    assert.is(r.headers['content-type'], 'application/x-tar');
    assert.is(r.error, undefined);
    assert.ok(r.body.equals(data), `pieces of ${size}`);
  }
});

test('a Content-Length answer, and one delimited by the connection closing', async () => {
  const data = randomBytes(300_000);
  let r = await ask([`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`, ...cut(data, 50_000)]);
  assert.ok(r.body.equals(data));
  r = await ask(['HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n']);
  assert.is(r.status, 404);
  assert.is(r.body.length, 0);
  r = await ask(['HTTP/1.0 200 OK\r\n\r\n', data]);
  assert.ok(r.body.equals(data));
});

test('an answer cut short or garbled fails its body (never a clean end)', async () => {
  const data = randomBytes(100_000);
  const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  const whole = chunked(data, 32768);
  let r = await ask([head, whole.subarray(0, 50_000)]);
  assert.match(r.error?.message ?? '', /cut|closed/);
  r = await ask([head, whole.subarray(0, whole.length - 5)]); // the last chunk's end missing
  assert.match(r.error?.message ?? '', /cut|closed/);
  r = await ask([head, 'zz\r\nabc']);
  assert.match(r.error?.message ?? '', /bad chunk size/);
  r = await ask([head, '3\r\nabcX\r\n']);
  assert.match(r.error?.message ?? '', /no CRLF/);
  r = await ask([`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`, data.subarray(0, 10)], true);
  assert.match(r.error?.message ?? '', /cut|closed/);
  await rejects(ask(['garbage\r\n\r\n']), /not an HTTP answer/);
  await rejects(ask([]), /closed before an answer/);
});

test.run();
