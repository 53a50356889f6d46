import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/**
 * An HTTP/1.1 response read straight off its socket: status, headers, and
 * the body, chunked encoding undone here, copied into 256 KiB pieces. Used
 * for Docker's `docker save` answer: through node:http the same 200 MB came
 * in about 9,300 pieces (split at each of Docker's 32 KiB flushes and at
 * socket reads), a plain socket read it in about 1.5x less wall time on a
 * loaded machine, and every stage after it (tar filter, TLS write) runs
 * once per piece (BENCHMARKS.md, issue 12, session 11).
 */

export interface RawResponse {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** The body; fails when the socket fails or ends before the body does. */
  body: Readable;
}

const MAX_HEAD = 64 * 1024;
/** Body bytes buffered before the socket is paused: a few of its 64 KiB reads. */
const BODY_HIGH_WATER = 512 * 1024;
const PIECE = 256 * 1024;

/** Reads one response from `socket` (the request already written); the socket is destroyed once the body ends or fails. */
export function readResponse(socket: Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let answered = false;
    let state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'length' | 'close' | 'done' = 'size';
    let left = 0; // bytes of the current chunk (or of a Content-Length body) still to come
    let line = ''; // a chunk-size or trailer line arriving across reads
    const body = new Readable({
      highWaterMark: BODY_HIGH_WATER,
      read: () => void socket.resume(),
      destroy(err, cb) {
        socket.destroy();
        cb(err);
      },
    });
    // A failure before the caller reads the body must not be an unhandled 'error': the caller sees it as the
    // stream's error (for await, pipeline) or as a close before its end (tar-filter.ts).
    body.on('error', () => undefined);
    const fail = (err: Error) => {
      if (!answered) reject(err);
      body.destroy(err);
      socket.destroy();
    };
    // Body bytes gathered into pieces of PIECE bytes: one copy here saves every later stage (a tar filter, a TLS
    // write, a hash) most of its calls, as Docker flushes every 32 KiB.
    let piece: Buffer | undefined;
    let filled = 0;
    const flush = () => {
      if (!piece || filled === 0) return;
      const out = filled === piece.length ? piece : piece.subarray(0, filled);
      piece = undefined;
      filled = 0;
      if (!body.push(out)) socket.pause();
    };
    const push = (bytes: Buffer) => {
      let at = 0;
      while (at < bytes.length) {
        piece ??= Buffer.allocUnsafeSlow(PIECE);
        const n = bytes.copy(piece, filled, at);
        filled += n;
        at += n;
        if (filled === piece.length) flush();
      }
    };
    const finish = () => {
      state = 'done';
      flush();
      body.push(null);
      socket.destroy();
    };

    /** Body bytes from `at` on in `buf`, by the framing of the answer. */
    const take = (buf: Buffer, at: number) => {
      while (at < buf.length && state !== 'done') {
        if (state === 'close') return push(at === 0 ? buf : buf.subarray(at));
        if (state === 'length' || state === 'data') {
          const n = Math.min(left, buf.length - at);
          push(n === buf.length ? buf : buf.subarray(at, at + n));
          at += n;
          left -= n;
          if (left === 0) {
            if (state === 'length') return finish();
            state = 'data-crlf';
            line = '';
          }
          continue;
        }
        // A line: the chunk's size, the CRLF after its data, or a trailer.
        const nl = buf.indexOf(10, at);
        const end = nl === -1 ? buf.length : nl;
        line += buf.toString('latin1', at, end);
        if (line.length > 1024) return fail(new Error('chunked encoding: a line of more than 1024 bytes'));
        at = end;
        if (nl === -1) return;
        at++;
        const text = line.endsWith('\r') ? line.slice(0, -1) : line;
        line = '';
        if (state === 'data-crlf') {
          if (text !== '') return fail(new Error('chunked encoding: no CRLF after a chunk'));
          state = 'size';
        } else if (state === 'size') {
          const m = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(text);
          if (!m) return fail(new Error('chunked encoding: a bad chunk size'));
          left = parseInt(m[1]!, 16);
          state = left === 0 ? 'trailer' : 'data';
        } else if (text === '') return finish(); // the blank line after the trailers
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (head === undefined) return take(chunk, 0);
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const endAt = head.indexOf('\r\n\r\n');
      if (endAt === -1) {
        if (head.length > MAX_HEAD) fail(new Error('an answer whose headers are larger than 64 KiB'));
        return;
      }
      const lines = head.toString('latin1', 0, endAt).split('\r\n');
      const rest = head;
      head = undefined;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) return fail(new Error(`not an HTTP answer: ${(lines[0] ?? '').slice(0, 80)}`));
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const colon = l.indexOf(':');
        if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
      }
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) state = 'size';
      else if (headers['content-length'] !== undefined) {
        left = Number(headers['content-length']);
        if (!Number.isSafeInteger(left) || left < 0) return fail(new Error('a bad Content-Length'));
        state = 'length';
      } else state = 'close';
      answered = true;
      resolve({ status: Number(m[1]), headers, body });
      if (state === 'length' && left === 0) return finish();
      take(rest, endAt + 4);
    });
    socket.on('end', () => {
      if (state === 'close') finish();
      else if (state !== 'done') fail(new Error(answered ? 'the answer was cut before its end' : 'the connection closed before an answer'));
    });
    socket.on('error', fail);
    socket.on('close', () => {
      if (state !== 'done') fail(new Error('the connection closed before the end of the answer'));
    });
  });
}
