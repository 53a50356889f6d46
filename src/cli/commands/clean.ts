import type { Command } from 'commander';
import { operations } from '../../operations/index.js';
import type { Cli } from '../cli.js';

/** `gear clean [HOST...]`: one request per host; what each removed, in the order the hosts were named. */
export function register(program: Command, cli: Cli): void {
  program
    .command('clean')
    .description('remove what interrupted installs and deletes left behind; list kept volumes')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none (or local): this host')
    .option('--dry-run', 'list what would be removed, and remove nothing')
    .option('--repair', "accepted for the seed system's scripts: gear's clean always repairs what interrupted installs and deletes left, and nothing more")
    .action(async (hosts: string[], o: { dryRun?: boolean }) => {
      const query = o.dryRun ? { 'dry-run': '1' } : {};
      const answers = await cli.eachServer(hosts, async (backend, server) => ({ backend, server, r: await backend.call(operations.clean, { params: {}, query }, cli.progress) }));
      for (const a of answers) {
        if (!a) continue;
        const { backend, server, r } = a;
        const on = backend.label ? `${backend.label}: ` : '';
        const verb = o.dryRun ? 'would remove' : 'removed';
        for (const what of r.Removed) cli.print(`${on}${verb} ${what}\n`);
        if (o.dryRun && r.Removed.length === 0) cli.print(`${on}nothing to remove\n`);
        for (const what of r.NotRemoved ?? []) cli.report(server || undefined, `could not remove ${what}`);
        for (const v of r.Kept ?? []) cli.print(`${on}kept volume ${v.Name} (${v.Id} ${v.Path}; \`gear delete ${v.Id}\` removes it)\n`);
      }
    });
}
