import { Type, type Static } from '@sinclair/typebox';
import { isIPv4, portNumber, unusableIPv4, validateToHost } from './address.js';
import { invalid } from './errors.js';
import { SchemaCheck, closed } from './schema.js';

// Host rules live with the address grammar (./address.ts); isIPv4 is exported here too for host/net.ts.
export { isIPv4 };

/**
 * Network links: inside a container, FromHost:FromPort (default
 * 127.0.0.1) reaches ToHost:ToPort, wherever that is, and an operator can
 * re-point it without the container knowing. gear does it with DNAT in the
 * container's own network namespace (see docs/links.md); everything here is
 * the pure part: validation, and the iptables-restore batch and its check.
 */
export interface NetworkLink {
  FromHost: string;
  FromPort: number;
  /** An IPv4 address, "localhost" (the host the container runs on) or a DNS name resolved when applied. */
  ToHost: string;
  ToPort: number;
}

const DEFAULT_FROM_HOST = '127.0.0.1';
/** More links than this in one container is a mistake, not a plan. */
const MAX_LINKS = 1024;
/**
 * Targets of one link address (entries with the same FromHost:FromPort),
 * balanced over by connection: more than this is a deployment that wants a
 * real load balancer.
 */
export const MAX_TARGETS = 16;

/** gear's own chains in the container's nat and filter tables; nothing else is ever touched. */
const DNAT_CHAIN = 'GEAR-LINKS';
const SNAT_CHAIN = 'GEAR-LINKS-SNAT';
const GUARD_CHAIN = 'GEAR-LINKS-GUARD';
/** The jumps into gear's chains, as iptables-save prints them (each line belongs to one table only). */
const JUMPS: readonly (readonly [string, string])[] = [
  ['PREROUTING', DNAT_CHAIN],
  ['OUTPUT', DNAT_CHAIN],
  ['POSTROUTING', SNAT_CHAIN],
  ['INPUT', GUARD_CHAIN],
];
const TABLE_OF: Record<string, 'nat' | 'filter'> = { [DNAT_CHAIN]: 'nat', [SNAT_CHAIN]: 'nat', [GUARD_CHAIN]: 'filter' };
/** gear's chains and the table each is in: their names are gear's mark on a rule (see link-leftovers.ts). */
export const LINK_CHAINS: Readonly<Record<string, 'nat' | 'filter'>> = TABLE_OF;

/**
 * route_localnet=1 (which links need) also lets packets for 127.0.0.0/8
 * arriving from the network reach the container's loopback services
 * (CVE-2020-8558). This rule, kube-proxy's fix, drops them unless they
 * belong to a connection gear's DNAT made or one already established.
 */
export const GUARD_RULE = `-A ${GUARD_CHAIN} -d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`;

const show = (value: unknown) => JSON.stringify(value);

const port = (value: unknown, what: string) => portNumber(value, what, false);

/** The address a link listens on inside the container: an IPv4 address (127.x by default). */
function validateFromHost(value: unknown, what = 'link FromHost'): string {
  if (value === undefined || value === null || value === '') return DEFAULT_FROM_HOST;
  if (typeof value !== 'string' || !isIPv4(value)) throw invalid(`${what} ${show(value)} must be an IPv4 address, e.g. 127.0.0.2`);
  if (unusableIPv4(value)) throw invalid(`${what} ${value} cannot be used for a link`);
  return value;
}

/** A link as the API takes it (and as links files hold it); the rest of its rules are checked below. */
export const NetworkLinkSchema = Type.Object(
  {
    FromHost: Type.Optional(Type.String({ maxLength: 64 })),
    FromPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    ToHost: Type.String({ maxLength: 255 }),
    ToPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  closed,
);
export const NetworkLinksSchema = Type.Array(NetworkLinkSchema, { maxItems: MAX_LINKS });
const linksCheck = new SchemaCheck(NetworkLinksSchema);

/**
 * Links checked against NetworkLinksSchema: addresses valid, FromHost filled
 * in. Entries with the same FromHost:FromPort are one link with several
 * targets (balanced by connection); the same target twice, or more than
 * MAX_TARGETS, is refused.
 */
export function checkNetworkLinks(links: Static<typeof NetworkLinksSchema> = [], where = 'NetworkLinks'): NetworkLink[] {
  const targets = new Map<string, Set<string>>();
  return links.map((l, i) => {
    const at = `${where}[${i}]`;
    const link = { FromHost: validateFromHost(l.FromHost, `${at}.FromHost`), FromPort: l.FromPort, ToHost: validateToHost(l.ToHost, `${at}.ToHost`), ToPort: l.ToPort };
    const from = `${link.FromHost}:${link.FromPort}`;
    const to = `${link.ToHost}:${link.ToPort}`;
    const seen = targets.get(from) ?? new Set<string>();
    if (seen.has(to)) throw invalid(`${at}: ${from} is linked twice to ${to}`);
    if (seen.size >= MAX_TARGETS) throw invalid(`${at}: ${from} has more than ${MAX_TARGETS} targets`);
    targets.set(from, seen.add(to));
    return link;
  });
}

/** Links from anywhere else (a links file): the schema, then checkNetworkLinks. Absent is none. */
export function validateNetworkLinks(value: unknown, where = 'NetworkLinks'): NetworkLink[] {
  if (value === undefined || value === null) return [];
  return checkNetworkLinks(linksCheck.check(value, where), where);
}

/** The CLI's `-n [FROM_IP:]FROM_PORT:TO_HOST:TO_PORT` (FROM_IP defaults to 127.0.0.1). */
export function parseLinkFlag(flag: string): NetworkLink {
  const parts = flag.split(':');
  if (parts.length !== 3 && parts.length !== 4)
    throw invalid(`link ${show(flag)} must look like [FROM_IP:]FROM_PORT:TO_HOST:TO_PORT, e.g. 127.0.0.2:8081:10.0.0.3:4001`);
  const [fromHost, fromPort, toHost, toPort] = parts.length === 4 ? parts : [undefined, ...parts];
  if (fromHost === '') throw invalid(`link ${show(flag)}: FROM_IP is empty`);
  const what = `link ${show(flag)}:`;
  return {
    FromHost: validateFromHost(fromHost, `${what} FROM_IP`),
    FromPort: port(fromPort, `${what} FROM_PORT`),
    ToHost: validateToHost(toHost, `${what} TO_HOST`),
    ToPort: port(toPort, `${what} TO_PORT`),
  };
}

export const formatLink = (l: NetworkLink) => `${l.FromHost}:${l.FromPort} -> ${l.ToHost}:${l.ToPort}`;

/** A link with its target resolved to an address, as it is written into the rules. */
export interface ResolvedLink extends NetworkLink {
  ToIp: string;
}

export interface LinkRules {
  /** The container's own address on its network: source of what leaves for a link's target. */
  containerIp: string;
  links: ResolvedLink[];
}

/** gear's rules (nat, then the filter table's guard) as gear writes them and as `iptables-save` prints them back (the nf_tables and legacy backends both). */
export function ruleLines(r: LinkRules): string[] {
  return [...natRuleLines(r), GUARD_RULE];
}

/** Links grouped by their address inside the container (FromHost:FromPort), in the order given. */
export function linkGroups<L extends NetworkLink>(links: readonly L[]): L[][] {
  const groups = new Map<string, L[]>();
  for (const l of links) {
    const key = `${l.FromHost}:${l.FromPort}`;
    groups.set(key, [...(groups.get(key) ?? []), l]);
  }
  return [...groups.values()];
}

/**
 * Links without the targets `out` names, in groups that keep at least one
 * other target: a link whose every target is out keeps them all, as taking
 * it away would fail every connection instead of some.
 */
export function withoutTargets<L extends NetworkLink>(links: readonly L[], out: (l: L) => boolean): L[] {
  return linkGroups(links).flatMap((g) => (g.every(out) ? g : g.filter((l) => !out(l))));
}

/**
 * The one SNAT rule: a connection to a link's 127.x address leaves with a
 * loopback source, which no other host can answer, so its source becomes
 * the container's own address on the way out. One rule for every connection
 * gear's DNAT sent out with such a source (not one per target): a re-apply
 * (re-pointing, a drain) swaps the rules between a connection's first
 * packet's DNAT in OUTPUT and its SNAT in POSTROUTING, and a rule per target
 * could be gone by then; conntrack would then keep the connection's
 * loopback source for good, and it would hang until its client gave up.
 * Only loopback-sourced connections that a DNAT made, leaving by another
 * interface than lo: nothing else the container sends is touched.
 */
const snatRule = (containerIp: string) => `-A ${SNAT_CHAIN} -s 127.0.0.0/8 ! -o lo -p tcp -m conntrack --ctstate DNAT -j SNAT --to-source ${containerIp}`;

function natRuleLines(r: LinkRules): string[] {
  const lines: string[] = [];
  for (const group of linkGroups(r.links)) {
    // Several targets: the first takes every n-th new connection, the next
    // every (n-1)-th of the rest, ...; the last the remainder. The nat table
    // sees only a connection's first packet, so this balances connections
    // round-robin, and conntrack keeps each on its target.
    group.forEach((l, i) => {
      const left = group.length - i;
      const nth = left > 1 ? ` -m statistic --mode nth --every ${left} --packet 0` : '';
      lines.push(`-A ${DNAT_CHAIN} -d ${l.FromHost}/32 -p tcp -m tcp --dport ${l.FromPort}${nth} -j DNAT --to-destination ${l.ToIp}:${l.ToPort}`);
    });
  }
  // There with no links too: removing the last one is a re-apply like any other.
  return [...lines, snatRule(r.containerIp)];
}

/**
 * The one iptables-restore batch (with --noflush) that sets a container's
 * links, in the nat table and the guard in the filter table (one
 * transaction): declaring gear's chains empties just those, then they are
 * filled; the jumps into them are added only when `present` lacks them, so
 * re-applying replaces gear's rules and never touches anyone else's.
 */
export function restoreBatch(r: LinkRules, presentJumps: Set<string>): string {
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const chains = Object.keys(TABLE_OF).filter((c) => TABLE_OF[c] === table);
    lines.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`));
    for (const [from, to] of JUMPS) if (TABLE_OF[to] === table && !presentJumps.has(jumpLine(from, to))) lines.push(jumpLine(from, to));
    lines.push(...(table === 'nat' ? natRuleLines(r) : [GUARD_RULE]), 'COMMIT');
  }
  return [...lines, ''].join('\n');
}

const jumpLine = (from: string, to: string) => `-A ${from} -j ${to}`;

/** The jumps into gear's chains found in `iptables-save` output (nat and filter tables). */
export function presentJumps(save: string): Set<string> {
  const wanted = new Set(JUMPS.map(([f, t]) => jumpLine(f, t)));
  return new Set(save.split('\n').map((l) => l.trim()).filter((l) => wanted.has(l)));
}

/**
 * A rule reduced to what it means: its options as a sorted set, without
 * the "-m tcp" that iptables adds by itself, so an option order that
 * differs between iptables versions does not matter.
 */
function ruleKey(line: string): string {
  const tokens = line.trim().split(/\s+/);
  const pairs: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '-m') {
      i++;
      continue;
    }
    const value = tokens[i + 1] && !tokens[i + 1]!.startsWith('-') ? tokens[++i]! : '';
    // A list of conntrack states is a set too.
    pairs.push(`${t} ${t === '--ctstate' ? value.split(',').sort().join(',') : value}`);
  }
  return pairs.sort().join(' ');
}

/**
 * Check what `iptables-save` of the nat and filter tables shows after a
 * restore: every jump once, and gear's chains holding exactly the expected
 * rules (the guard included). Returns what is
 * wrong, one item per problem; empty when the rules landed.
 */
export function verifyRules(save: string, r: LinkRules): string[] {
  const lines = save.split('\n').map((l) => l.trim());
  const problems: string[] = [];
  for (const [from, to] of JUMPS) {
    const n = lines.filter((l) => l === jumpLine(from, to)).length;
    if (n !== 1) problems.push(`${from} has ${n} jumps to ${to}, expected 1`);
  }
  const actual = lines.filter((l) => Object.keys(TABLE_OF).some((c) => l.startsWith(`-A ${c} `))).map(ruleKey);
  const expected = ruleLines(r).map(ruleKey);
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const have = count(actual);
  const want = count(expected);
  const missing = [...want].filter(([k, n]) => (have.get(k) ?? 0) < n).length;
  const extra = [...have].filter(([k, n]) => (want.get(k) ?? 0) < n).length;
  if (missing) problems.push(`${missing} expected rule${missing > 1 ? 's are' : ' is'} missing`);
  if (extra) problems.push(`${extra} unexpected rule${extra > 1 ? 's are' : ' is'} present`);
  return problems;
}

/** What the host says about a pid gear is about to enter for a container's links. */
export interface PidFacts {
  pid: number;
  /** The container's full id, as Docker's inspect gives it. */
  containerId: string;
  /** readlink of /proc/PID/ns/net and of /proc/1/ns/net (the host's), e.g. "net:[4026531992]"; undefined if unreadable. */
  netns: string | undefined;
  hostNetns: string | undefined;
  /** /proc/PID/cgroup, undefined if unreadable. */
  cgroup: string | undefined;
}

/**
 * Why the pid Docker named must not be entered, or undefined when it is the
 * container's. Between Docker's inspect and nsenter the container may exit
 * and its pid go to another process, even one in the host's own namespace:
 * rules meant for the container (and route_localnet) would then land on the
 * host. So the pid must still be in a cgroup of that container, and its
 * network namespace must not be the host's.
 */
export function pidProblem(f: PidFacts): string | undefined {
  if (f.netns === undefined || f.cgroup === undefined) return `pid ${f.pid} is gone: the container stopped`;
  if (f.hostNetns !== undefined && f.netns === f.hostNetns)
    return `pid ${f.pid} is in the host's network namespace, not a container's (the pid was reused, or the container uses the host's network): refusing to change the host's rules`;
  if (!f.cgroup.includes(f.containerId)) return `pid ${f.pid} is no longer a process of container ${f.containerId.slice(0, 12)} (the pid was reused)`;
  return undefined;
}
