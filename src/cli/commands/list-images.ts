import type { Command } from 'commander';
import { table } from '../../lib/table.js';
import type { ImageListing } from '../../host/images.js';
import type { Cli } from '../cli.js';
import { LOCAL_HOST } from '../syntax.js';

/**
 * `gear images [HOST...]`: which host has which image. One host: its
 * images, as `docker images` lists them. Several: one row per tag and
 * image id, a column per host ("yes" or "-"), so that a tag that names
 * different images on two hosts shows as two rows.
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('images')
    .description('list the images of this host or of the given agents (in parallel): tag, id, size, created (UTC); a column per host when hosts are named')
    .argument('[hosts...]', `HOST[:PORT] of agents, or ${LOCAL_HOST} for this host; none: this host`)
    .option('--json', 'print JSON: {Images} for this host alone, {Hosts:[{Host, Images}]} when hosts are named')
    .action(async (hosts: string[], o: { json?: boolean }) => {
      const named = [...new Set(hosts)];
      const answers = await cli.eachServer(named, async (backend) => (await backend.call(cli.operations.imageList, { params: {}, query: {} }, cli.progress)).Images);
      if (named.length === 0) {
        if (answers[0]) cli.print(o.json ? `${JSON.stringify({ Images: answers[0] })}\n` : imagesTable(answers[0]));
        return;
      }
      const columns = named.map((h, i) => ({ Host: h === '' ? LOCAL_HOST : h, Images: answers[i] }));
      cli.print(o.json ? `${JSON.stringify({ Hosts: columns.filter((c) => c.Images) })}\n` : imageMatrix(columns));
    });
}

/** "12.3 MB", as `docker images` writes sizes (decimal units). */
export function sizeText(bytes: number): string {
  const units: [number, string][] = [
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'kB'],
  ];
  for (const [n, unit] of units) if (bytes >= n) return `${(bytes / n).toFixed(1)} ${unit}`;
  return `${bytes} B`;
}

/** "2026-12-02 12:01" in UTC (Docker's Created is in seconds). */
export const createdText = (seconds: number) => (seconds > 0 ? new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ') : '-');

/** The 12 hex digits Docker shows of an id. */
export const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

const NONE = '<none>';

interface Row {
  tag: string;
  image: ImageListing;
}

/** One row per tag (an untagged image: one row, "<none>"). */
const rowsOf = (images: ImageListing[]): Row[] => images.flatMap((image) => (image.RepoTags.length ? image.RepoTags : [NONE]).map((tag) => ({ tag, image })));

/** Tags in order, untagged ones last; then by id. */
const byTag = (a: Row, b: Row) => Number(a.tag === NONE) - Number(b.tag === NONE) || a.tag.localeCompare(b.tag) || a.image.Id.localeCompare(b.image.Id);

const cells = (r: Row) => [r.tag, shortId(r.image.Id), sizeText(r.image.Size), createdText(r.image.Created)];
const HEADERS = ['IMAGE', 'ID', 'SIZE', 'CREATED'];

/** One host's images. */
export function imagesTable(images: ImageListing[]): string {
  return table(HEADERS, rowsOf(images).sort(byTag).map(cells));
}

/** Several hosts: a row per tag and id, "yes"/"-" per host; "?" in the column of a host that did not answer (it is reported on stderr). */
export function imageMatrix(hosts: { Host: string; Images?: ImageListing[] }[]): string {
  const rows = new Map<string, { row: Row; on: Set<number> }>();
  hosts.forEach((h, i) => {
    for (const row of rowsOf(h.Images ?? [])) {
      const key = `${row.tag}\n${row.image.Id}`;
      const seen = rows.get(key) ?? rows.set(key, { row, on: new Set() }).get(key)!;
      seen.on.add(i);
    }
  });
  const sorted = [...rows.values()].sort((a, b) => byTag(a.row, b.row));
  return table(
    [...HEADERS, ...hosts.map((h) => h.Host)],
    sorted.map(({ row, on }) => [...cells(row), ...hosts.map((h, i) => (!h.Images ? '?' : on.has(i) ? 'yes' : '-'))]),
  );
}
