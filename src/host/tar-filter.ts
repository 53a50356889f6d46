import { Transform, type Readable } from 'node:stream';
import { invalid } from '../model/errors.js';
import { BLOCK, MAX_LONG_HEADER_BYTES, applyLong, decodeHeader, decodeLongName, decodePax, padded, type TarHeader } from '../model/tar-header.js';

/**
 * A tar archive passed through as it comes, entries left out on the way:
 * each kept entry's header blocks and body go on as the very bytes read
 * (slices of the source's chunks, no copy), a dropped entry's are not
 * written. No entry is unpacked and packed again, so a 200 MB layer costs
 * a few slices per chunk instead of tar-stream's promise and objects per
 * chunk on both sides (BENCHMARKS.md, issue 12, session 10). For archives
 * this host made (`docker save`): what comes from a peer is rebuilt, not
 * passed (image-stream.ts, verifyForLoad).
 */

export interface TarVisitor {
  /**
   * An entry's header, PAX records and GNU long names applied: whether the
   * entry passes on (with the extended headers before it), and whether its
   * body is wanted at its end (small entries only: it is held in memory).
   * Throwing refuses the archive.
   */
  entry(h: TarHeader): { keep: boolean; read?: boolean };
  /** An entry has ended: its body when `read` was asked for. */
  end?(h: TarHeader, body?: Buffer): void;
}

/** Types whose header is the whole entry (as Go's archive/tar reads them): any size they claim has no bytes. */
const HEADER_ONLY = new Set(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);
type LongType = 'pax-header' | 'gnu-long-path' | 'gnu-long-link-path';
const LONG = new Set<string>(['pax-header', 'gnu-long-path', 'gnu-long-link-path']);

/**
 * `source` filtered by `visit`. `done` settles when the archive has passed
 * whole (its end-of-archive blocks seen) or failed: a source that errs,
 * closes early or ends inside an entry or without the end of the archive
 * fails the output too (whoever reads it never sees a clean end), and so
 * does the visitor's refusal. When the output is destroyed (its reader went
 * away) or fails, the source is destroyed (`docker save`: Docker stops).
 */
export function filterTar(source: Readable, visit: TarVisitor): { archive: Readable; done: Promise<void> } {
  const cut = (why: string) => invalid(`image archive: the stream was cut before its end (${why})`);

  let head: Buffer | undefined; // a header block arriving across chunks
  let headFill = 0;
  let held: Buffer[] = []; // extended-header blocks and bodies, waiting for the entry they describe
  let heldBytes = 0;
  let long: { pax?: Map<string, string>; name?: string; linkname?: string } = {};
  let inLong: LongType | undefined; // the body being read is an extended header's
  let current: TarHeader | undefined;
  let keep = false;
  let left = 0; // bytes of the current body still to come, padding included
  let dataLeft = 0; // of which data (not padding) still to read into `body`
  let body: Buffer[] | undefined;
  let ended = false; // a block of zeros since the last entry

  const finishBody = () => {
    const data = body && Buffer.concat(body);
    body = undefined;
    if (inLong) {
      if (inLong === 'pax-header') long.pax = decodePax(data!);
      else if (inLong === 'gnu-long-path') long.name = decodeLongName(data!);
      else long.linkname = decodeLongName(data!);
      inLong = undefined;
    } else visit.end?.(current!, data);
  };

  const header = (block: Buffer) => {
    const h = decodeHeader(block);
    if (!h) {
      if (held.length) throw invalid('tar: an extended header with no entry after it');
      t.push(block);
      ended = true;
      return;
    }
    ended = false;
    if (LONG.has(h.type)) {
      if (h.size > MAX_LONG_HEADER_BYTES || heldBytes + h.size > 4 * MAX_LONG_HEADER_BYTES) throw invalid(`tar: an extended header of more than ${MAX_LONG_HEADER_BYTES} bytes`);
      inLong = h.type as LongType;
      held.push(block);
      heldBytes += BLOCK + h.size;
      body = [];
      dataLeft = h.size;
      left = padded(h.size);
      if (left === 0) finishBody();
      return;
    }
    if (h.type === 'pax-global-header') throw invalid('image archive: a global PAX header is not taken (docker save writes none)');
    current = applyLong(h, long);
    long = {};
    const d = visit.entry(current);
    keep = d.keep;
    if (keep) {
      for (const b of held) t.push(b);
      t.push(block);
    }
    held = [];
    heldBytes = 0;
    dataLeft = HEADER_ONLY.has(current.type) ? 0 : current.size;
    left = padded(dataLeft);
    body = d.read ? [] : undefined;
    if (left === 0) finishBody();
  };

  const take = (chunk: Buffer) => {
    let at = 0;
    const n = chunk.length;
    while (at < n) {
      if (left > 0) {
        const size = Math.min(left, n - at);
        const piece = size === n ? chunk : chunk.subarray(at, at + size);
        if (inLong) held.push(piece);
        else if (keep) t.push(piece);
        if (body && dataLeft > 0) {
          const d = Math.min(dataLeft, size);
          body.push(d === size ? piece : piece.subarray(0, d));
          dataLeft -= d;
        }
        left -= size;
        at += size;
        if (left === 0) finishBody();
        continue;
      }
      if (headFill === 0 && n - at >= BLOCK) {
        at += BLOCK;
        header(chunk.subarray(at - BLOCK, at));
        continue;
      }
      head ??= Buffer.allocUnsafe(BLOCK);
      const size = Math.min(BLOCK - headFill, n - at);
      chunk.copy(head, headFill, at, at + size);
      headFill += size;
      at += size;
      if (headFill < BLOCK) return;
      const block = head;
      head = undefined;
      headFill = 0;
      header(block);
    }
  };

  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  done.catch(() => undefined); // the caller awaits it; no unhandled rejection meanwhile

  const t = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        take(chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      if (left > 0 || headFill > 0 || held.length > 0) return callback(cut('it ended inside an entry'));
      if (!ended) return callback(cut('no end-of-archive blocks'));
      resolve();
      callback();
    },
  });
  t.on('error', reject);
  t.on('close', () => {
    reject(new Error('image archive: the stream was closed before its end'));
    if (!source.readableEnded) source.destroy();
  });
  source.on('error', (err) => t.destroy(cut(err.message)));
  source.on('close', () => {
    if (!source.readableEnded) t.destroy(cut('closed'));
  });
  source.pipe(t);
  return { archive: t, done };
}
