import { runCaptured, type Exec } from './exec.js';
import { promises as fsp } from 'node:fs';
import { failed } from '../model/errors.js';
import { containerIdInCgroup, gearRulesIn, removalBatch, type GearRules } from '../model/link-leftovers.js';

/** A network namespace seen through the processes in it. */
export interface Netns {
  /** As readlink of /proc/PID/ns/net says, e.g. "net:[4026532301]". */
  id: string;
  /** One process in it, to enter it by. */
  pid: number;
  /** The Docker containers (full ids) its processes belong to; empty when none. */
  containers: string[];
}

/** What repair needs to find and remove link rules of gone containers. */
export interface NetnsRules {
  /** Every network namespace other than the host's own that some process of the host is in. */
  namespaces(): Promise<Netns[]>;
  /** gear's chains and rules in the namespace. */
  gearRules(ns: Netns): Promise<GearRules>;
  /** Remove them (and nothing else); what is left of gear's afterwards (nothing when it worked). */
  removeGearRules(ns: Netns, rules: GearRules): Promise<GearRules>;
}

/**
 * Fixed scripts. Each first checks that it runs in the namespace it was
 * meant for ($1, read from /proc before): the pid it entered by may have
 * exited and been reused by a process elsewhere, even in the host's.
 */
const SAME_NS = '[ "$(readlink /proc/self/ns/net)" = "$1" ] || { echo "the namespace is gone (its process exited)" >&2; exit 97; }';
const SAVE = 'iptables-save -t nat && exec iptables-save -t filter';
const RESTORE = `${SAME_NS} && iptables-restore -w 5 --noflush && ${SAVE}`;

/**
 * Reads /proc of the process's own pid namespace (the agent and the CLI run
 * in the host's) and enters namespaces with the host's nsenter and
 * iptables, as links do (host/net.ts). The host's own namespace is never
 * listed: gear puts no link rules there, so whatever is there is not gear's
 * to remove.
 */
export class ProcNetnsRules implements NetnsRules {
  constructor(private readonly timeoutMs = 30_000) {}

  async namespaces(): Promise<Netns[]> {
    const host = await fsp.readlink('/proc/1/ns/net').catch(() => undefined);
    const byId = new Map<string, Netns>();
    for (const entry of await fsp.readdir('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      const pid = Number(entry);
      // A process may exit while it is read: then it is simply not counted.
      const [id, cgroup] = await Promise.all([fsp.readlink(`/proc/${pid}/ns/net`).catch(() => undefined), fsp.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined)]);
      if (!id || id === host || cgroup === undefined) continue;
      const ns = byId.get(id) ?? { id, pid, containers: [] };
      byId.set(id, ns);
      const container = containerIdInCgroup(cgroup);
      if (container && !ns.containers.includes(container)) ns.containers.push(container);
    }
    return [...byId.values()];
  }

  async gearRules(ns: Netns): Promise<GearRules> {
    const out = await this.inNetns(ns, `${SAME_NS} && ${SAVE}`);
    if (out.code !== 0) throw failed(`cannot read the tables in network namespace ${ns.id}: ${out.stderr.trim() || `exit ${out.code}`}`);
    return gearRulesIn(out.stdout);
  }

  async removeGearRules(ns: Netns, rules: GearRules): Promise<GearRules> {
    const batch = removalBatch(rules);
    if (!batch) return rules;
    const out = await this.inNetns(ns, RESTORE, batch);
    if (out.code !== 0) throw failed(`iptables-restore in network namespace ${ns.id} failed: ${out.stderr.trim() || `exit ${out.code}`}`);
    return gearRulesIn(out.stdout);
  }

  /** A fixed script in the namespace (entered by its pid, checked by its id); the batch on stdin. */
  private inNetns(ns: Netns, script: string, input = ''): Promise<Exec> {
    return runCaptured(['nsenter', '-t', String(ns.pid), '-n', '--', 'sh', '-c', script, 'sh', ns.id], { input, timeoutMs: this.timeoutMs });
  }
}
