import type { Command } from 'commander';
import { operations } from '../../operations/index.js';
import type { Cli } from '../cli.js';

/** `gear clean [HOST...]`: one request per host; what each removed, in the order the hosts were named. */
export function register(program: Command, cli: Cli): void {
  program
    .command('clean')
    .description('remove what interrupted installs and deletes left behind; list kept volumes')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .action(async (hosts: string[]) => {
      const answers = await cli.eachServer(hosts, async (backend, server) => ({ backend, server, r: await backend.call(operations.clean, { params: {}, query: {} }, cli.progress) }));
      for (const a of answers) {
        if (!a) continue;
        const { backend, server, r } = a;
        const on = backend.label ? `${backend.label}: ` : '';
        for (const what of r.Removed) cli.print(`${on}removed ${what}\n`);
        for (const what of r.NotRemoved ?? []) cli.report(server || undefined, `could not remove ${what}`);
        for (const v of r.Kept ?? []) cli.print(`${on}kept volume ${v.Name} (${v.Id} ${v.Path}; \`gear delete ${v.Id}\` removes it)\n`);
      }
    });
}
