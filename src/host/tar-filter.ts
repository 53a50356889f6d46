import { Transform, type Readable } from 'node:stream';
import { invalid } from '../model/errors.js';
import { BLOCK, END_OF_ARCHIVE, MAX_LONG_HEADER_BYTES, applyLong, decodeHeader, decodeLongName, decodePax, padded, type TarHeader } from '../model/tar-header.js';

/**
 * A tar archive passed through as it comes, entries left out on the way:
 * each kept entry's header blocks and body go on as the very bytes read
 * (slices of the source's chunks, no copy), a dropped entry's are not
 * written. No entry is unpacked and packed again, so a 200 MB layer costs
 * a few slices per chunk instead of tar-stream's promise and objects per
 * chunk on both sides (BENCHMARKS.md, issue 12, session 10). For archives
 * this host made (`docker save`) entries pass as they are; for an archive
 * from a peer every header is our own and only layer bytes pass
 * (image-stream.ts).
 */

/** What becomes of one entry. */
export interface EntryPlan {
  /**
   * Its header in the output, and with it its body: its own blocks as read
   * (the extended headers before it too) and its body as read, padding
   * included; or a header of our own (encodeHeader) and its body's data,
   * padded with zeros here. None: the entry is left out.
   */
  head?: 'raw' | Buffer;
  /** Its body is wanted whole at its end (small entries only: it is held in memory). */
  read?: boolean;
  /** Each piece of its data as it passes (a hash). */
  data?: (piece: Buffer) => void;
}

export interface TarVisitor {
  /** An entry's header, PAX records and GNU long names applied. Throwing refuses the archive. */
  entry(h: TarHeader): EntryPlan;
  /** An entry has ended: its body when `read` was asked for. */
  end?(h: TarHeader, body?: Buffer): void;
  /** The archive came whole: what to add before the end blocks written here (`ends: 'own'`). Throwing fails it. */
  finish?(): Buffer[];
}

export interface FilterOptions {
  /** The end-of-archive blocks: passed on as read ('raw'), or the input's dropped and two written after finish() ('own'). */
  ends: 'raw' | 'own';
  /**
   * On failure the source is destroyed ('destroy': `docker save`, Docker
   * stops), or read to its end and discarded ('drain': a request's body,
   * so that the client can read the answer that says why).
   */
  onFailure: 'destroy' | 'drain';
}

/** Types whose header is the whole entry (as Go's archive/tar reads them): any size they claim has no bytes. */
const HEADER_ONLY = new Set(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);
type LongType = 'pax-header' | 'gnu-long-path' | 'gnu-long-link-path';
const LONG = new Set<string>(['pax-header', 'gnu-long-path', 'gnu-long-link-path']);
const ZEROS = Buffer.alloc(BLOCK);

/**
 * `source` filtered by `visit`. `done` settles when the archive has passed
 * whole (its end-of-archive blocks seen) or failed: a source that errs,
 * closes early or ends inside an entry or without the end of the archive
 * fails the output too (whoever reads it never sees a clean end), and so
 * does the visitor's refusal. When the output is destroyed (its reader went
 * away) or fails, the source is destroyed or drained (opts.onFailure).
 */
export function filterTar(source: Readable, visit: TarVisitor, opts: FilterOptions): { archive: Readable; done: Promise<void> } {
  const cut = (why: string) => invalid(`image archive: the stream was cut before its end (${why})`);

  let head: Buffer | undefined; // a header block arriving across chunks
  let headFill = 0;
  let held: Buffer[] = []; // extended-header blocks and bodies, waiting for the entry they describe
  let heldBytes = 0;
  let long: { pax?: Map<string, string>; name?: string; linkname?: string } = {};
  let inLong: LongType | undefined; // the body being read is an extended header's
  let current: TarHeader | undefined;
  let plan: EntryPlan = {};
  let pass: 'raw' | 'own' | undefined; // how the current body goes on (with its head), if it does
  let left = 0; // bytes of the current body still to come, padding included
  let dataLeft = 0; // of which data (not padding)
  let dataSize = 0; // the current entry's data size
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
    } else {
      pass = undefined;
      plan = {};
      visit.end?.(current!, data);
    }
  };

  const header = (block: Buffer) => {
    const h = decodeHeader(block);
    if (!h) {
      if (held.length) throw invalid('tar: an extended header with no entry after it');
      if (opts.ends === 'raw') t.push(block);
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
    plan = visit.entry(current);
    if (plan.head === 'raw') {
      for (const b of held) t.push(b);
      t.push(block);
    } else if (plan.head) t.push(plan.head);
    pass = plan.head === undefined ? undefined : plan.head === 'raw' ? 'raw' : 'own';
    held = [];
    heldBytes = 0;
    dataLeft = dataSize = HEADER_ONLY.has(current.type) ? 0 : current.size;
    left = padded(dataLeft);
    body = plan.read ? [] : undefined;
    if (left === 0) finishBody();
  };

  const take = (chunk: Buffer) => {
    let at = 0;
    const n = chunk.length;
    while (at < n) {
      if (left > 0) {
        const size = Math.min(left, n - at);
        const piece = size === n ? chunk : chunk.subarray(at, at + size);
        const d = Math.min(dataLeft, size);
        const data = d === 0 ? undefined : d === size ? piece : piece.subarray(0, d);
        if (inLong) held.push(piece);
        else if (pass === 'raw') t.push(piece);
        else if (pass === 'own' && data) t.push(data);
        if (data) {
          if (!inLong) plan.data?.(data);
          body?.push(data);
        }
        dataLeft -= d;
        left -= size;
        at += size;
        if (left === 0) {
          if (!inLong && pass === 'own' && dataSize % BLOCK) t.push(ZEROS.subarray(0, padded(dataSize) - dataSize)); // our padding, not the sender's bytes
          finishBody();
        }
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
      try {
        if (opts.ends === 'own') {
          for (const b of visit.finish?.() ?? []) t.push(b);
          t.push(END_OF_ARCHIVE);
        }
      } catch (err) {
        return callback(err as Error);
      }
      resolve();
      callback();
    },
  });
  t.on('error', reject);
  t.on('close', () => {
    reject(new Error('image archive: the stream was closed before its end'));
    if (source.readableEnded) return;
    if (opts.onFailure === 'destroy') source.destroy();
    else {
      source.unpipe(t);
      source.resume();
    }
  });
  // A source that failed or closed before this filter was made fails it at once: its events are past.
  if (source.destroyed) t.destroy(cut(source.errored?.message ?? 'closed'));
  source.on('error', (err) => t.destroy(cut(err.message)));
  source.on('close', () => {
    if (!source.readableEnded) t.destroy(cut('closed'));
  });
  source.pipe(t);
  return { archive: t, done };
}
