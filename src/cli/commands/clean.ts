import type { Command } from 'commander';
import type { CleanResult } from '../../operations/clean.js';
import type { Cli } from '../cli.js';

/** `gear clean [HOST...]`: one request per host; what each removed (or, with --repair, found and fixed), in the order the hosts were named. */
export function register(program: Command, cli: Cli): void {
  program
    .command('clean')
    .description('remove what interrupted installs and deletes left behind; list kept volumes; --repair: also find and fix where state, systemd and Docker disagree')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none (or local): this host')
    .option('--dry-run', 'list what would be removed (or repaired), and change nothing')
    .option('--repair', "also find and fix inconsistencies between gear's state, systemd and Docker (only what carries gear's marks), one line each")
    .option('--json', 'print the answers as JSON: {Removed, NotRemoved, Kept, Findings?, DryRun?}, or {Hosts:[{Host, ...}]} when hosts are named')
    .action(async (hosts: string[], o: { dryRun?: boolean; repair?: boolean; json?: boolean }) => {
      const query: Record<string, string> = { ...(o.dryRun ? { 'dry-run': '1' } : {}), ...(o.repair ? { repair: '1' } : {}) };
      const answers = await cli.eachServer(hosts, async (backend, server) => ({ backend, server, r: await backend.call(cli.operations.clean, { params: {}, query }, cli.progress) }));
      if (o.json) {
        const done = answers.filter((a) => a !== undefined);
        cli.print(`${JSON.stringify(hosts.length ? { Hosts: done.map((a) => ({ Host: a.backend.label, ...a.r })) } : (done[0]?.r ?? {}))}\n`);
      }
      for (const a of answers) {
        if (!a) continue;
        const { backend, server, r } = a;
        const on = backend.label ? `${backend.label}: ` : '';
        if (o.repair) printRepair(cli, on, server, r, o.json === true);
        if (o.json) continue;
        const verb = o.dryRun ? 'would remove' : 'removed';
        for (const what of r.Removed) cli.print(`${on}${verb} ${what}\n`);
        if (o.dryRun && !o.repair && r.Removed.length === 0) cli.print(`${on}nothing to remove\n`);
        for (const what of r.NotRemoved ?? []) cli.report(server || undefined, `could not remove ${what}`);
        for (const v of r.Kept ?? []) cli.print(`${on}kept volume ${v.Name} (${v.Id} ${v.Path}; \`gear delete ${v.Id}\` removes it)\n`);
      }
    });
}

/** One line per finding ("fixed" / "would fix"); one that was not fixed is a failure (stderr, exit 1). */
function printRepair(cli: Cli, on: string, server: string, r: CleanResult, json: boolean): void {
  const findings = r.Findings ?? [];
  for (const x of findings) {
    if (x.Error !== undefined) cli.report(server || undefined, `not fixed: ${x.Problem}: ${x.Fix}: ${x.Error}`);
    else if (!json) cli.print(`${on}${x.Fixed ? 'fixed' : 'would fix'}: ${x.Problem}: ${x.Fix}\n`);
  }
  if (!json && findings.length === 0) cli.print(`${on}nothing to repair\n`);
}
