/**
 * The tar-split record Docker keeps beside every layer it has
 * (`image/overlay2/layerdb/sha256/<chain id>/tar-split.json.gz`): the
 * layer's tar as Docker first read it, one JSON object per line, with every
 * byte kept but the files' contents. A "segment" (type 2) holds raw bytes
 * (headers, padding, the archive's end) in base64; a "file" entry (type 1)
 * names a file of the layer's directory and its size, whose content comes
 * next. Joined in order, they are the very layer.tar whose sha256 is the
 * layer's diff id: how Docker itself exports a layer. The format is
 * vbatts/tar-split's storage package (Entry: type, name or name_raw, size,
 * payload, position).
 */

export type TarSplitPart =
  | { kind: 'bytes'; bytes: Buffer }
  /** `path`: relative to the layer's directory, checked (no `..`, no NUL, not empty). */
  | { kind: 'file'; path: Buffer; size: number };

/** Why a record cannot be read: the caller falls back to `docker save`. */
export class TarSplitError extends Error {}

const SLASH = 0x2f;

/**
 * A file entry's name as a path below the layer's directory: leading `/`
 * and `./` dropped, every component neither empty after that, `.` nor `..`.
 * Bytes, not a string: tar names need not be UTF-8 (tar-split then keeps
 * them in `name_raw`).
 */
export function layerPath(name: Buffer): Buffer {
  if (name.includes(0)) throw new TarSplitError('a file name holds a NUL byte');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name[i] !== SLASH) continue;
    const part = name.subarray(start, i);
    start = i + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue; // "" (a leading or doubled /) and "."
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) throw new TarSplitError(`a file name goes up a directory: ${name.toString('utf8').slice(0, 200)}`);
    parts.push(part);
  }
  if (parts.length === 0) throw new TarSplitError('a file entry names no file');
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p])));
}

/** One line of the record; undefined for an empty line. */
export function parseTarSplitLine(line: string): TarSplitPart | undefined {
  if (line.trim() === '') return undefined;
  let e: { type?: unknown; name?: unknown; name_raw?: unknown; size?: unknown; payload?: unknown };
  try {
    e = JSON.parse(line);
  } catch {
    throw new TarSplitError('a line is not JSON');
  }
  if (e.type === 2) {
    if (typeof e.payload !== 'string') throw new TarSplitError('a segment has no payload');
    return { kind: 'bytes', bytes: Buffer.from(e.payload, 'base64') };
  }
  if (e.type === 1) {
    const size = e.size ?? 0;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new TarSplitError('a file entry has no valid size');
    if (size === 0) return { kind: 'bytes', bytes: Buffer.alloc(0) }; // a directory, a link, an empty file: its header is in a segment
    const name = typeof e.name_raw === 'string' && e.name_raw !== '' ? Buffer.from(e.name_raw, 'base64') : typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : undefined;
    if (!name) throw new TarSplitError('a file entry has no name');
    return { kind: 'file', path: layerPath(name), size };
  }
  throw new TarSplitError(`an entry of unknown type ${JSON.stringify(e.type)}`);
}
