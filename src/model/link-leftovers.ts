import { LINK_CHAINS } from './links.js';

/**
 * Link rules left in a network namespace that no installed container owns
 * any more (repair): what of `iptables-save` output is gear's, and the
 * iptables-restore batch that removes just that. gear's mark is the name of
 * its chains (GEAR-LINKS, GEAR-LINKS-SNAT, GEAR-LINKS-GUARD): a rule is
 * gear's when it is in one of them or jumps into one; every other rule and
 * chain is left as it is.
 */

export interface GearRules {
  /** gear's chains present, by table. */
  chains: { table: string; chain: string }[];
  /** Rules (as iptables-save prints them) that are in gear's chains or jump into them, by table. */
  rules: { table: string; line: string }[];
}

const isGearChain = (name: string) => Object.hasOwn(LINK_CHAINS, name);

/** gear's chains and rules in `iptables-save` output (any tables). */
export function gearRulesIn(save: string): GearRules {
  const found: GearRules = { chains: [], rules: [] };
  let table = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (isGearChain(chain)) found.chains.push({ table, chain });
    } else if (line.startsWith('-A ')) {
      const words = line.split(/\s+/);
      const target = words[words.indexOf('-j') + 1] ?? words[words.indexOf('-g') + 1];
      if (isGearChain(words[1]!) || (target !== undefined && isGearChain(target))) found.rules.push({ table, line });
    }
  }
  return found;
}

/** Nothing of gear's is there. */
export const noGearRules = (r: GearRules) => r.chains.length === 0 && r.rules.length === 0;

/**
 * The batch (for `iptables-restore --noflush`) that removes gear's chains
 * and the jumps into them from other chains, nothing else: the jumps are
 * deleted rule by rule (-D with the rule as it was saved), gear's own chains
 * flushed and deleted. One transaction per table.
 */
export function removalBatch(r: GearRules): string {
  const lines: string[] = [];
  const tables = [...new Set([...r.chains.map((c) => c.table), ...r.rules.map((x) => x.table)])];
  for (const table of tables) {
    const chains = r.chains.filter((c) => c.table === table).map((c) => c.chain);
    // Rules inside gear's chains go with the flush; jumps from elsewhere one by one.
    const jumps = r.rules.filter((x) => x.table === table && !chains.includes(x.line.split(/\s+/)[1]!));
    lines.push(`*${table}`, ...jumps.map((x) => x.line.replace(/^-A /, '-D ')), ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT');
  }
  return lines.length ? [...lines, ''].join('\n') : '';
}

/** A short description of gear's rules, for a finding: "3 rules in GEAR-LINKS (nat), ...". */
export function describeGearRules(r: GearRules): string {
  const count = r.rules.length;
  return `${count} rule${count === 1 ? '' : 's'} in or into gear's chains ${r.chains.map((c) => `${c.chain} (${c.table})`).join(', ') || '(none declared)'}`;
}

/** The 64-hex id of the Docker container a process belongs to, from /proc/PID/cgroup; undefined for none. */
export function containerIdInCgroup(cgroup: string): string | undefined {
  return /(?:docker[-/])([0-9a-f]{64})/.exec(cgroup)?.[1];
}
