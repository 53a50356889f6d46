import type { Command } from 'commander';
import type { HostAnswer } from '../../model/doctor.js';
import type { Cli } from '../cli.js';

/**
 * `gear doctor [HOST...]`: what is wrong with each host for gear (this one
 * by default), and across the hosts named: clock skew and agent versions.
 * Exit 1 when any finding is an error (or a host does not answer).
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('doctor')
    .description("check each host for gear: systemd, cgroups, Docker, iptables, network-online.target, mount propagation of /, state directory, token file, SELinux; across hosts: clock skew, agent versions. Exit 1 on any error")
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .option('--json', 'print JSON: {Hosts: {HOST: {Version, Time, Findings}}, Across: [findings]} (this host: "local")')
    .action(async (hosts: string[], o: { json?: boolean }) => {
      const rows = await cli.eachServer(hosts, async (backend, server): Promise<HostAnswer> => {
        const sent = Date.now();
        const report = await backend.call(cli.operations.doctor, { params: {}, query: {} }, cli.progress);
        return { host: backend.label || server || 'local', report, sent, received: Date.now() };
      });
      const answers = rows.filter((r): r is HostAnswer => r !== undefined);
      const across = cli.runtime.acrossHosts(answers);
      if (answers.length) {
        cli.print(
          o.json
            ? `${JSON.stringify({ Hosts: Object.fromEntries(answers.map((a) => [a.host, a.report])), Across: across }, null, 2)}\n`
            : cli.runtime.doctorText(answers.map((a) => ({ host: a.host, findings: a.report.Findings })), across),
        );
      }
      // Errors make the exit code 1 (they are in the output already, not reported again).
      const errors = [...answers.flatMap((a) => a.report.Findings), ...across].filter((f) => f.Level === 'error').length;
      if (errors) cli.failures += 1;
    });
}
