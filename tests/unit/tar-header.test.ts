import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refusedWith as refused } from '../fixtures/refused.js';
import { END_OF_ARCHIVE, applyLong, decodeHeader, decodeLongName, decodePax, encodeHeader, padded } from '../../src/model/tar-header.js';

const MTIME = 1_700_000_000;

/** The blocks tar-stream writes for these entries (a second writer, to read against). */
async function blocksOf(entries: { name: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string; size?: number; body?: Buffer; pax?: Record<string, string> }[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    const header = { name: e.name, type: e.type, linkname: e.linkname, size: e.size, pax: e.pax, mtime: new Date(MTIME * 1000) };
    if (e.body) p.entry(header, e.body);
    else p.entry(header);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}


test("headers tar-stream writes: name (with the ustar prefix), type, link, size; the end's zero blocks are null", async () => {
  const dir = 'a'.repeat(64);
  const long = `${dir}/${'b'.repeat(60)}/${'c'.repeat(60)}`; // over 100 bytes: name split into prefix and name
  const tar = await blocksOf([
    { name: `${dir}/`, type: 'directory' },
    { name: `${dir}/layer.tar`, body: Buffer.from('x'.repeat(700)) },
    { name: `${dir}/link`, type: 'symlink', linkname: `../${dir}/layer.tar` },
    { name: long, body: Buffer.from('y') },
  ]);
  assert.equal(decodeHeader(tar.subarray(0, 512)), { name: `${dir}/`, type: 'directory', linkname: null, size: 0, mtime: MTIME });
  assert.equal(decodeHeader(tar.subarray(512, 1024)), { name: `${dir}/layer.tar`, type: 'file', linkname: null, size: 700, mtime: MTIME });
  const link = 1024 + padded(700);
  assert.equal(decodeHeader(tar.subarray(link, link + 512)), { name: `${dir}/link`, type: 'symlink', linkname: `../${dir}/layer.tar`, size: 0, mtime: MTIME });
  assert.equal(decodeHeader(tar.subarray(link + 512, link + 1024)), { name: long, type: 'file', linkname: null, size: 1, mtime: MTIME });
  assert.is(decodeHeader(tar.subarray(tar.length - 512)), null);
  assert.is(padded(0), 0);
  assert.is(padded(1), 512);
  assert.is(padded(1024), 1024);
});

test('PAX records and GNU long names: read, and applied to the entry they precede', async () => {
  const tar = await blocksOf([{ name: 'ä'.repeat(10), body: Buffer.from('z'), pax: { comment: 'a=b c' } }]);
  const paxHeader = decodeHeader(tar.subarray(0, 512))!;
  assert.is(paxHeader.type, 'pax-header');
  const records = decodePax(tar.subarray(512, 512 + paxHeader.size));
  assert.is(records.get('path'), 'ä'.repeat(10));
  assert.is(records.get('comment'), 'a=b c', 'the first = splits key from value');
  const entry = decodeHeader(tar.subarray(1024, 1536))!;
  assert.equal(applyLong(entry, { pax: records }), { name: 'ä'.repeat(10), type: 'file', linkname: null, size: 1, mtime: MTIME });
  assert.equal(applyLong(entry, { pax: new Map([['size', '12345678901']]) }).size, 12345678901);
  assert.equal(applyLong(entry, { name: 'n', linkname: 'l' }), { name: 'n', type: 'file', linkname: 'l', size: 1, mtime: MTIME });
  assert.is(decodeLongName(Buffer.from('long/name\0\0\0')), 'long/name');
  refused(() => applyLong(entry, { pax: new Map([['size', '-1']]) }), /PAX size/);
  for (const bad of ['5 a=b\n', '10 ab\n', 'x a=b\n', '6 a=b', '99 a=b\n']) refused(() => decodePax(Buffer.from(bad)), /malformed PAX header/);
});

test('a corrupt header is refused: wrong checksum, unknown format, a size that is not a number; large sizes in base-256', async () => {
  const tar = await blocksOf([{ name: 'manifest.json', body: Buffer.from('[]') }]);
  const block = () => Buffer.from(tar.subarray(0, 512));
  const resum = (b: Buffer) => {
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of b) sum += byte;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return b;
  };
  const flipped = block();
  flipped[3] = flipped[3]! ^ 1;
  refused(() => decodeHeader(flipped), /wrong checksum/);
  const v7 = block();
  v7.fill(0, 257, 265);
  refused(() => decodeHeader(resum(v7)), /unknown format/);
  const notOctal = block();
  notOctal.write('0000000009\0', 124, 'latin1');
  refused(() => decodeHeader(resum(notOctal)), /not an octal number/);
  const big = block();
  big.fill(0, 124, 136);
  big[124] = 0x80;
  big.writeUIntBE(10 * 2 ** 30, 130, 6); // 10 GiB
  assert.is(decodeHeader(resum(big))!.size, 10 * 2 ** 30);
  const other = block();
  other[156] = 'S'.charCodeAt(0); // a GNU sparse file: not a type an image archive has
  assert.is(decodeHeader(resum(other))!.type, 'typeflag "S"');
});

test('headers of our own: read back by decodeHeader and by tar-stream; sizes of 8 GiB and more in base-256; long names refused', async () => {
  const dir = 'd'.repeat(64);
  const blocks = [
    encodeHeader({ name: `${dir}/`, type: 'directory', mode: 0o755, mtime: MTIME }),
    encodeHeader({ name: `${dir}/layer.tar`, type: 'file', size: 3, mode: 0o644, mtime: MTIME }),
    Buffer.concat([Buffer.from('abc'), Buffer.alloc(509)]),
    encodeHeader({ name: `${'e'.repeat(64)}/layer.tar`, type: 'symlink', linkname: `../${dir}/layer.tar`, mode: 0o777, mtime: MTIME }),
    END_OF_ARCHIVE,
  ];
  assert.equal(decodeHeader(blocks[1]!), { name: `${dir}/layer.tar`, type: 'file', linkname: null, size: 3, mtime: MTIME });
  const seen: { name: string; type?: string | null; mode?: number; uid?: number; size?: number; linkname?: string | null; body: string }[] = [];
  const ex = extract();
  Readable.from([Buffer.concat(blocks)]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const h = entry.header;
    seen.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, size: h.size, linkname: h.linkname, body: Buffer.concat(chunks).toString() });
  }
  assert.equal(seen, [
    { name: `${dir}/`, type: 'directory', mode: 0o755, uid: 0, size: 0, linkname: null, body: '' },
    { name: `${dir}/layer.tar`, type: 'file', mode: 0o644, uid: 0, size: 3, linkname: null, body: 'abc' },
    { name: `${'e'.repeat(64)}/layer.tar`, type: 'symlink', mode: 0o777, uid: 0, size: 0, linkname: `../${dir}/layer.tar`, body: '' },
  ]);
  assert.is(decodeHeader(encodeHeader({ name: 'big', type: 'file', size: 9 * 2 ** 30, mode: 0o644, mtime: 0 }))!.size, 9 * 2 ** 30);
  assert.throws(() => encodeHeader({ name: 'x'.repeat(101), type: 'file', mode: 0o644, mtime: 0 }), /more than 100 bytes/);
});

test.run();
