import { Transform, type Readable } from 'node:stream';

/**
 * A stream's bytes in pieces of `size` (the last one shorter), copied
 * together. A TLS body arrives in 16 KiB records, and each piece costs every
 * stage after it (the tar filter, the hash, one chunked write to Docker's
 * socket that wakes dockerd) about the same whatever its size: one copy of
 * the bytes here saves those stages 15 calls in 16 (BENCHMARKS.md, issue 12,
 * session 11). A failure or early close of the source fails the output, so
 * whoever reads it never sees a clean end.
 */
export function gather(source: Readable, size = 256 * 1024): Readable {
  let piece: Buffer | undefined;
  let filled = 0;
  const t = new Transform({
    readableHighWaterMark: 2 * size,
    transform(chunk: Buffer, _encoding, done) {
      let at = 0;
      while (at < chunk.length) {
        // A whole piece's worth arriving at once passes as it is: no copy.
        if (filled === 0 && chunk.length - at >= size) {
          const n = chunk.length - at - ((chunk.length - at) % size);
          t.push(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
          at += n;
          continue;
        }
        piece ??= Buffer.allocUnsafeSlow(size);
        const n = chunk.copy(piece, filled, at);
        filled += n;
        at += n;
        if (filled === size) {
          t.push(piece);
          piece = undefined;
          filled = 0;
        }
      }
      done();
    },
    flush(done) {
      if (piece && filled) t.push(piece.subarray(0, filled));
      piece = undefined;
      done();
    },
  });
  source.on('error', (err) => t.destroy(err));
  source.on('close', () => {
    if (!source.readableEnded) t.destroy(new Error('the stream was closed before its end'));
  });
  t.on('close', () => {
    // Destroyed before the source's end: the source is read to its end and discarded, as the tar filter does
    // with a request's body, so that the client still reads the answer that says why.
    if (source.readableEnded) return;
    source.unpipe(t);
    source.resume();
  });
  source.pipe(t);
  return t;
}
