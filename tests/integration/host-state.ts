import { sh } from './harness.js';

/**
 * gear's state on a test host, read independently of gear's own checks (the
 * crash storm and the host faults use it): what is installed, reserved,
 * labelled and locked, and every promise that state breaks.
 */

const STATE = '/var/lib/gear';

/** What is on the host, read in one go: definitions, units, env files, ports, volumes, kept records, locks. */
export async function inventory(host: string): Promise<Record<string, string[]>> {
  const out = await sh(
    host,
    `cd ${STATE} 2>/dev/null || exit 0
     echo '#defs'; for f in containers/*.json; do [ -e "$f" ] && echo "$(basename "$f" .json) $(tr -d '\\n' < "$f")"; done
     echo '#units'; ls /etc/systemd/system | sed -n 's/^ctr-\\(.*\\)\\.service$/\\1/p'
     echo '#env'; ls env 2>/dev/null | sed -n 's/\\.env$//p'
     echo '#ports'; for p in ports/*; do [ -e "$p" ] && echo "$(basename "$p") $(cat "$p")"; done
     echo '#volumes'; docker volume ls -q --filter label=io.gear.volume | while read -r v; do echo "$v $(docker volume inspect -f '{{index .Labels "io.gear.container"}}' "$v")"; done
     echo '#kept'; ls kept-volumes 2>/dev/null | sed -n 's/\\.json$//p'
     echo '#locks'; find locks -name '*.lock' -printf '%P\\n' -o -name '*.new' -printf '%P\\n' 2>/dev/null; true`,
  );
  const sections: Record<string, string[]> = {};
  let current = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('#')) sections[(current = line.slice(1))] = [];
    else if (line.trim() && current) sections[current]!.push(line.trim());
  }
  return sections;
}

/**
 * Every broken promise on the host, as lines (empty: all kept): a container
 * half installed (definition without unit or the reverse), a port reserved
 * for nobody or for a container that does not list it, a volume of gear's
 * that belongs to nobody, a lock left. Needs a working Docker.
 */
export async function brokenPromises(host: string): Promise<string[]> {
  const inv = await inventory(host);
  const broken: string[] = [];
  const defs = new Map<string, { Ports?: { External?: number }[] }>();
  for (const line of inv.defs ?? []) {
    const at = line.indexOf(' ');
    defs.set(line.slice(0, at), JSON.parse(line.slice(at + 1)));
  }
  const units = new Set(inv.units ?? []);
  for (const name of new Set([...defs.keys(), ...units])) {
    const [d, u] = [defs.has(name), units.has(name)];
    if (d !== u) broken.push(`${name} is half installed: definition ${d}, unit ${u}`);
  }
  for (const line of inv.ports ?? []) {
    const [port, owner] = line.split(' ');
    const def = defs.get(owner ?? '');
    if (!def) broken.push(`port ${port} is reserved by ${owner}, which is not installed`);
    else if (!def.Ports?.some((p) => String(p.External) === port)) broken.push(`port ${port} is reserved by ${owner}, whose definition does not list it`);
  }
  const kept = new Set(inv.kept ?? []);
  for (const line of inv.volumes ?? []) {
    const [volume, owner = ''] = line.split(' ');
    if (!defs.has(owner) && !kept.has(owner)) broken.push(`volume ${volume} of ${owner} belongs to nobody`);
  }
  for (const lock of inv.locks ?? []) broken.push(`lock ${lock} is left`);
  return broken;
}
