import type { Command } from 'commander';
import type { Cli } from '../cli.js';

/** `gear purge [HOST...]`: every container stopped and disabled, here or on each agent; nothing removed. */
export function register(program: Command, cli: Cli): void {
  program
    .command('purge')
    .description('stop and disable every container, here or on the given agents; definitions and volumes are kept (gear start brings one back)')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .action(async (hosts: string[]) => {
      await cli.eachServer(hosts, async (backend) => {
        const r = await backend.call(cli.operations.purge, { params: {}, query: {} }, cli.progress);
        const where = backend.label ? `${backend.label}: ` : '';
        // An agent that answered 204 (no JSON) stopped them all without naming them.
        cli.print(r ? `${where}${r.Stopped.length} container${r.Stopped.length === 1 ? '' : 's'} stopped and disabled${r.Stopped.length ? ` (${r.Stopped.join(', ')})` : ''}; definitions and volumes kept\n` : `${where}purged\n`);
      });
    });
}
