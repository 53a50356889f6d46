import { invalid } from './errors.js';

/**
 * The 512-byte header blocks of a tar archive (POSIX ustar, PAX and GNU, as
 * Go's archive/tar writes them for `docker save`), read without copying the
 * archive: what a filter needs to tell an entry (its name, type, link and
 * size) and to find the next header. Fields as in POSIX.1-2001 "ustar
 * Interchange Format" and "pax Header Block".
 */

export const BLOCK = 512;

/** The largest PAX or GNU long-name body taken (real ones are a few hundred bytes). */
export const MAX_LONG_HEADER_BYTES = 1024 * 1024;

/** Bytes an entry's body takes in the archive: its size rounded up to whole blocks. */
export const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

/** Types in tar-stream's names (what classifyEntry reads), plus the headers that describe the next entry. */
export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'pax-header' | 'pax-global-header' | 'gnu-long-path' | 'gnu-long-link-path';

const TYPES: Record<string, TarType> = {
  '\0': 'file',
  '0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
  x: 'pax-header',
  g: 'pax-global-header',
  L: 'gnu-long-path',
  K: 'gnu-long-link-path',
};

export interface TarHeader {
  name: string;
  /** A known type, or `typeflag "X"` for any other (refused by whoever classifies it). */
  type: TarType | string;
  linkname: string | null;
  size: number;
  /** Seconds since 1970 (the ustar field; a PAX mtime is not read). */
  mtime: number;
}

const text = (block: Buffer, start: number, length: number) => {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
};

/** An octal number field (NUL- or space-terminated), or base-256 when its first byte has the high bit (GNU, for sizes of 8 GiB and more). */
function number(block: Buffer, start: number, length: number): number {
  if (block[start]! & 0x80) {
    if (block[start] !== 0x80) throw invalid('tar: a negative number in a header');
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + block[i]!;
    return n;
  }
  const digits = block.toString('latin1', start, start + length).replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw invalid(`tar: a header field is not an octal number (${JSON.stringify(digits.slice(0, 20))})`);
  return parseInt(digits, 8);
}

/** Sum of the block's bytes with the checksum field counted as spaces. */
function checksum(block: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

const USTAR = Buffer.from('ustar\x0000', 'latin1');
const GNU = Buffer.from('ustar  \x00', 'latin1');

/**
 * One header block: its entry, or null for a block of zeros (the end of
 * the archive is two of them). A bad checksum or a block of neither ustar
 * nor GNU format is a corrupt archive: refused, as tar-stream refuses it.
 */
export function decodeHeader(block: Buffer): TarHeader | null {
  if (block.length !== BLOCK) throw new RangeError('a tar header is 512 bytes');
  const sum = checksum(block);
  if (sum === 8 * 32) return null; // all zeros (but the checksum field, as tar-stream reads it)
  if (sum !== number(block, 148, 8)) throw invalid('tar: a header with a wrong checksum (a corrupt archive)');
  const ustar = block.compare(USTAR, 0, 8, 257, 265) === 0;
  if (!ustar && block.compare(GNU, 0, 8, 257, 265) !== 0) throw invalid('tar: a header of an unknown format (neither ustar nor GNU)');
  let name = text(block, 0, 100);
  if (ustar && block[345] !== 0) name = `${text(block, 345, 155)}/${name}`;
  const flag = String.fromCharCode(block[156]!);
  let type: TarType | string = TYPES[flag] ?? `typeflag ${JSON.stringify(flag)}`;
  if (type === 'file' && name.endsWith('/')) type = 'directory'; // old tars mark directories by the slash alone
  return { name, type, linkname: block[157] === 0 ? null : text(block, 157, 100), size: number(block, 124, 12), mtime: number(block, 136, 12) };
}

/** The records of a PAX extended header's body ("LEN KEY=VALUE\n", LEN counting the whole record in bytes). */
export function decodePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break; // padding after the last record
    const space = body.indexOf(0x20, at);
    const len = space === -1 ? NaN : Number(body.toString('latin1', at, space));
    if (!Number.isInteger(len) || len <= space - at + 1 || at + len > body.length || body[at + len - 1] !== 0x0a) throw invalid('tar: a malformed PAX header');
    const record = body.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq <= 0) throw invalid('tar: a malformed PAX header');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return records;
}

/** A GNU long name or link body: the name, up to its NUL. */
export const decodeLongName = (body: Buffer) => text(body, 0, body.length);

/** The header as the entry it describes: PAX records and GNU long names (of the headers just before it) applied. */
export function applyLong(h: TarHeader, long: { pax?: Map<string, string>; name?: string; linkname?: string }): TarHeader {
  const out = { ...h };
  if (long.name !== undefined) out.name = long.name;
  if (long.linkname !== undefined) out.linkname = long.linkname;
  const pax = long.pax;
  if (pax) {
    if (pax.has('path')) out.name = pax.get('path')!;
    if (pax.has('linkpath')) out.linkname = pax.get('linkpath')!;
    if (pax.has('size')) {
      const size = pax.get('size')!;
      if (!/^[0-9]{1,15}$/.test(size)) throw invalid('tar: a PAX size that is not a number');
      out.size = Number(size);
    }
  }
  return out;
}

/** Two blocks of zeros: the end of an archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

const octal = (block: Buffer, start: number, length: number, n: number) => block.write(`${n.toString(8).padStart(length - 1, '0')}\0`, start, length, 'latin1');

/**
 * A clean ustar header of our own: name, type, size, link, mode and mtime,
 * owner root, nothing else (no user or group names, no device numbers).
 * Names and links over 100 bytes would need a PAX header: refused (an image
 * archive's longest name is 77 bytes).
 */
export function encodeHeader(h: { name: string; type: 'file' | 'directory' | 'symlink'; size?: number; linkname?: string; mode: number; mtime: number }): Buffer {
  const block = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(h.name) > 100 || Buffer.byteLength(h.linkname ?? '') > 100) throw new RangeError(`tar: a name of more than 100 bytes: ${h.name.slice(0, 120)}`);
  block.write(h.name, 0, 100, 'utf8');
  octal(block, 100, 8, h.mode & 0o7777);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  const size = h.type === 'file' ? h.size ?? 0 : 0;
  if (size < 8 ** 11) octal(block, 124, 12, size);
  else {
    block[124] = 0x80; // base-256 (GNU, read by Go's archive/tar): sizes of 8 GiB and more
    for (let i = 135, n = size; i > 124; i--, n = Math.floor(n / 256)) block[i] = n % 256;
  }
  octal(block, 136, 12, Math.min(Math.max(0, Math.floor(h.mtime)), 8 ** 11 - 1));
  block[156] = (h.type === 'directory' ? '5' : h.type === 'symlink' ? '2' : '0').charCodeAt(0);
  if (h.linkname) block.write(h.linkname, 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 8, 'latin1');
  octal(block, 329, 8, 0);
  octal(block, 337, 8, 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}
