// The deployment drawn: one box per host with its instances, and an arrow
// for each link from the instance that has it to the instance it reaches.
// Inline SVG made with DOM calls (the page's CSP allows no inline script or
// style: shapes carry presentation attributes and classes of console.css).
// Each instance is a link to its container's page when its host's agent is
// connected (focusable, named with its state and its links); the tables
// below the drawing say the same in rows, for whoever prefers them.

import { stateOf, svg } from './dom.js';

export interface MapInstance {
  Id: string;
  From: string;
  On: string;
  /** Its unit's state, when its host's agent told it. */
  state?: { ActiveState: string; SubState: string };
  /** Its container's page in this console, when its host's agent is connected. */
  href?: string;
}

export interface MapLink {
  from: MapInstance;
  to: MapInstance;
  /** FROM_HOST:FROM_PORT → TO_HOST:TO_PORT, as the container sees it. */
  label: string;
}

// Sizes in SVG user units (CSS pixels at 1:1).
const PAD = 16;
const COL_W = 250;
const GAP = 110;
const HEAD = 34;
const INST_H = 46;
const INST_GAP = 14;
const INNER = 12;
/** Room right of the last column for a link between instances of one host (it bends out to the right). */
const BEND = 36;

/** Where a host's box and its instances' boxes go: hosts side by side, instances one under another. */
export function layout(hosts: string[], instances: MapInstance[]) {
  const boxes = new Map<MapInstance, Box>();
  const columns = hosts.map((host, column) => {
    const mine = instances.filter((i) => i.On === host);
    const x = PAD + column * (COL_W + GAP);
    mine.forEach((i, k) => boxes.set(i, { x: x + INNER, y: PAD + HEAD + k * (INST_H + INST_GAP), w: COL_W - 2 * INNER, h: INST_H, column }));
    return { host, x, y: PAD, w: COL_W, h: HEAD + Math.max(1, mine.length) * (INST_H + INST_GAP), count: mine.length };
  });
  const width = PAD * 2 + hosts.length * COL_W + Math.max(0, hosts.length - 1) * GAP + BEND;
  const height = PAD * 2 + Math.max(0, ...columns.map((c) => c.h));
  return { columns, boxes, width, height };
}

type Box = { x: number; y: number; w: number; h: number; column: number };

/** The sides a link leaves and enters by: facing edges across columns; the right edges (bending out) within one. */
const sides = (a: Box, b: Box): ['left' | 'right', 'left' | 'right'] => (a.column < b.column ? ['right', 'left'] : a.column > b.column ? ['left', 'right'] : ['right', 'right']);

/**
 * Each link's path. The ends on one side of one box are spread along it
 * (in the order of the boxes they go to), so that two links never share
 * an end and arrows in both directions stay apart.
 */
function linkPaths(pairs: [Box, Box][]): string[] {
  const ends = new Map<string, { link: number; end: 0 | 1; toward: number }[]>();
  pairs.forEach(([a, b], link) => {
    const [sa, sb] = sides(a, b);
    for (const [box, side, other, end] of [[a, sa, b, 0], [b, sb, a, 1]] as const) {
      const key = `${box.x} ${box.y} ${side}`;
      if (!ends.has(key)) ends.set(key, []);
      ends.get(key)!.push({ link, end, toward: other.y + other.h / 2 });
    }
  });
  const ys: [number, number][] = pairs.map(() => [0, 0]);
  for (const [key, list] of ends) {
    const [, y] = key.split(' ').map(Number) as [number, number];
    list.sort((p, q) => p.toward - q.toward || p.link - q.link);
    list.forEach((e, k) => (ys[e.link]![e.end] = y + (INST_H * (k + 1)) / (list.length + 1)));
  }
  return pairs.map(([a, b], n) => {
    const [ay, by] = ys[n]!;
    const [sa] = sides(a, b);
    if (a.column < b.column) return `M ${a.x + a.w} ${ay} C ${a.x + a.w + GAP / 2} ${ay}, ${b.x - GAP / 2} ${by}, ${b.x - 4} ${by}`;
    if (a.column > b.column) return `M ${a.x} ${ay} C ${a.x - GAP / 2} ${ay}, ${b.x + b.w + GAP / 2} ${by}, ${b.x + b.w + 4} ${by}`;
    const out = a.x + a.w + BEND * (sa === 'right' ? 1 : -1);
    return `M ${a.x + a.w} ${ay} C ${out} ${ay}, ${out} ${by}, ${b.x + b.w + 4} ${by}`;
  });
}

/** Long names are cut in the drawing (its boxes are of one width); the whole name is in the instance's label. */
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function deploymentMap(hosts: string[], instances: MapInstance[], links: MapLink[], note: string): SVGSVGElement {
  const { columns, boxes, width, height } = layout(hosts, instances);
  const title = svg('title', { id: 'deployment-map-title' }, 'Deployment map');
  const desc = svg(
    'desc',
    { id: 'deployment-map-desc' },
    `${instances.length} instance${instances.length === 1 ? '' : 's'} on ${hosts.length} host${hosts.length === 1 ? '' : 's'}, ${links.length} link${links.length === 1 ? '' : 's'} drawn as arrows from the instance that has the link to the instance it reaches.${note}`,
  );
  const arrow = svg(
    'defs',
    {},
    svg('marker', { id: 'deployment-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'dep-arrow' })),
  );
  const hostBoxes = columns.map((c) =>
    svg(
      'g',
      { class: 'dep-host', 'data-host': c.host, role: 'group', 'aria-label': `Host ${c.host}: ${c.count} instance${c.count === 1 ? '' : 's'}` },
      svg('rect', { x: c.x, y: c.y, width: c.w, height: c.h, rx: 6 }),
      svg('text', { x: c.x + INNER, y: c.y + 22, class: 'dep-host-name' }, cut(c.host, 32)),
    ),
  );
  const linksOf = (i: MapInstance) => links.filter((l) => l.from === i);
  for (const i of instances) {
    const b = boxes.get(i);
    const column = b && hostBoxes[b.column];
    if (!b || !column) continue;
    const st = i.state ? stateOf(i.state.ActiveState, i.state.SubState) : undefined;
    const words = st ? st.text : i.href ? 'not installed' : 'unknown (agent not connected)';
    const stateText = `${st ? st.symbol : '?'} ${words}`;
    const reaches = linksOf(i).map((l) => `${l.to.Id} on ${l.to.On}`);
    const label = `${i.Id} (${i.From}) on ${i.On}: ${words}${reaches.length ? `; links to ${reaches.join(', ')}` : ''}`;
    const shape = [
      svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: 4 }),
      svg('text', { x: b.x + 10, y: b.y + 18, class: 'dep-name' }, cut(i.Id, 28)),
      svg('text', { x: b.x + 10, y: b.y + 36, class: `dep-state ${st?.kind ?? 'off'}` }, cut(stateText, 32)),
    ];
    const attrs = { class: `dep-inst ${st?.kind ?? 'off'}`, 'data-instance': i.Id, 'data-state': i.state?.ActiveState ?? 'unknown', 'aria-label': label };
    // A link to its page when there is one (focusable with Tab, opened with Enter); else a labelled group.
    column.append(i.href ? svg('a', { ...attrs, href: i.href }, ...shape) : svg('g', { ...attrs, role: 'img' }, ...shape));
  }
  // Arrows after the boxes: drawn over them. They are seen, not read: each instance's label says where its links go.
  const drawn = links.flatMap((l) => {
    const a = boxes.get(l.from);
    const b = boxes.get(l.to);
    return a && b ? [{ l, a, b }] : [];
  });
  const paths = linkPaths(drawn.map(({ a, b }) => [a, b]));
  const arrows = svg(
    'g',
    { class: 'dep-links', 'aria-hidden': 'true' },
    ...drawn.map(({ l }, n) =>
      svg('path', { class: 'dep-link', d: paths[n], 'marker-end': 'url(#deployment-arrow)', 'data-from': l.from.Id, 'data-to': l.to.Id }, svg('title', {}, `${l.from.Id} → ${l.to.Id}: ${l.label}`)),
    ),
  );
  return svg(
    'svg',
    { id: 'deployment-map', class: 'deployment-map', viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-labelledby': 'deployment-map-title', 'aria-describedby': 'deployment-map-desc' },
    title,
    desc,
    arrow,
    ...hostBoxes,
    arrows,
  );
}
