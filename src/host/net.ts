import { runCaptured, type Exec } from './exec.js';
import { lookup } from 'node:dns/promises';
import { promises as fsp } from 'node:fs';
import { failed } from '../model/errors.js';
import { GUARD_RULE, isIPv4, pidProblem, presentJumps, restoreBatch, ruleLines, verifyRules, withoutTargets, type LinkRules, type NetworkLink, type ResolvedLink } from '../model/links.js';

/** Where a running container's network is: its process (for its namespace), its address and its gateway (the host). */
export interface ContainerNetwork {
  pid: number;
  /** The container's full id: its pid must still be in its cgroup. */
  containerId: string;
  ip: string;
  gateway: string;
}

export interface AppliedLinks {
  links: ResolvedLink[];
  /** Rules now in gear's chains of the container (DNAT and SNAT). */
  rules: number;
}

/** What gear needs to program a container's links. */
export interface NetLinks {
  /** `out`: targets left out of links that have others (drained for an update; model/drain.ts). */
  apply(net: ContainerNetwork, links: NetworkLink[], out?: (l: ResolvedLink) => boolean): Promise<AppliedLinks>;
}

// Fixed scripts (no user data in them): the batch travels on stdin, the pid as an argument.
const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';
/** Show the nat and filter tables as they are. */
const SAVE = 'iptables-save -t nat && exec iptables-save -t filter';
/**
 * Apply the batch (xtables lock waited for up to 5 s), and only once the
 * guard against 127.x from outside is in place (iptables -C) let 127.x
 * traffic leave after DNAT sent it elsewhere (route_localnet); then show the
 * tables as they now are, for the check.
 */
const RESTORE = `iptables-restore -w 5 --noflush && iptables -w 5 -t filter ${GUARD_RULE.replace(/^-A /, '-C ')} && echo 1 > ${ROUTE_LOCALNET} && cat ${ROUTE_LOCALNET} && ${SAVE}`;

/** Refuse a pid that is no longer the container's (see pidProblem), right before entering it. */
async function checkPid(net: ContainerNetwork): Promise<void> {
  const [netns, hostNetns, cgroup] = await Promise.all([
    fsp.readlink(`/proc/${net.pid}/ns/net`).catch(() => undefined),
    fsp.readlink('/proc/1/ns/net').catch(() => undefined),
    fsp.readFile(`/proc/${net.pid}/cgroup`, 'utf8').catch(() => undefined),
  ]);
  const problem = pidProblem({ pid: net.pid, containerId: net.containerId, netns, hostNetns, cgroup });
  if (problem) throw failed(`links not applied: ${problem}`);
}

/**
 * Links programmed inside a container's network namespace with the host's
 * own nsenter and iptables, in two processes whatever the number of links:
 * one sets route_localnet and reads the nat table (which jumps exist), one
 * applies a single `iptables-restore --noflush` batch and reads the table
 * back, which is checked rule by rule. A link whose rules did not land is an
 * error, never a silent no-op.
 */
export class NsenterNetLinks implements NetLinks {
  constructor(private readonly timeoutMs = 30_000) {}

  private run(argv: string[], input = ''): Promise<Exec> {
    return runCaptured(argv, { input, timeoutMs: this.timeoutMs });
  }

  private inNetns(pid: number, script: string, input?: string): Promise<Exec> {
    return this.run(['nsenter', '-t', String(pid), '-n', '--', 'sh', '-c', script], input);
  }

  /** "localhost" is the host the container runs on: its gateway on the container's network. */
  private async resolve(links: NetworkLink[], gateway: string): Promise<ResolvedLink[]> {
    const names = new Map<string, Promise<string>>();
    const resolveName = (name: string) =>
      lookup(name, { family: 4 }).then(
        (r) => r.address,
        (err: NodeJS.ErrnoException) => {
          throw failed(`link target ${name} does not resolve: ${err.code ?? err.message}`);
        },
      );
    return Promise.all(
      links.map(async (l) => {
        let ip = l.ToHost;
        if (l.ToHost === 'localhost') {
          if (!gateway) throw failed('the container has no gateway, so a link to localhost has nowhere to go');
          ip = gateway;
        } else if (!isIPv4(l.ToHost)) {
          if (!names.has(l.ToHost)) names.set(l.ToHost, resolveName(l.ToHost));
          ip = await names.get(l.ToHost)!;
        }
        return { ...l, ToIp: ip };
      }),
    );
  }

  async apply(net: ContainerNetwork, links: NetworkLink[], out?: (l: ResolvedLink) => boolean): Promise<AppliedLinks> {
    if (!net.ip) throw failed('the container has no network address of its own (links need a network namespace that is not the host\'s)');
    const resolved = await this.resolve(links, net.gateway);
    const rules: LinkRules = { containerIp: net.ip, links: out ? withoutTargets(resolved, out) : resolved };
    await checkPid(net);
    const before = await this.inNetns(net.pid, SAVE);
    if (before.code !== 0) throw failed(`cannot read the tables in the network namespace of pid ${net.pid}: ${before.stderr.trim() || `exit ${before.code}`}`);
    const batch = restoreBatch(rules, presentJumps(before.stdout));
    const after = await this.inNetns(net.pid, RESTORE, batch);
    if (after.code !== 0 || !after.stdout.startsWith('1\n'))
      throw failed(`iptables-restore in the network namespace of pid ${net.pid} failed: ${after.stderr.trim() || `exit ${after.code}`}`);
    const problems = verifyRules(after.stdout, rules);
    if (problems.length) throw failed(`links did not land in the network namespace of pid ${net.pid}: ${problems.join('; ')}`);
    // Verified: gear's chains hold exactly these rules.
    return { links: rules.links, rules: ruleLines(rules).length };
  }
}
