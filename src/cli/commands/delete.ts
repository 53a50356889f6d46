import type { Command } from 'commander';
import { withOption, type Cli } from '../cli.js';

/** `gear delete TARGET...` (or `--with FILE HOST...`): one request per container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('delete')
    .description('stop and remove containers: unit, state, env file, ports and volumes (of a deleted name: its kept volumes)')
    .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
    .option(...withOption)
    .option('--keep-volumes', 'keep the named volumes: a later install of the same name finds its data again')
    .action((targets: string[], o: { with?: string; keepVolumes?: boolean }) =>
      cli.eachTarget(cli.targetsOf(targets, o.with), async (t) => {
        const query = o.keepVolumes ? { 'keep-volumes': 'true' } : {};
        const r = await t.backend.call(cli.operations.remove, { params: { id: t.name }, query }, cli.progress);
        // An agent that answered 204 (no JSON) deleted it.
        if (r && !r.Deleted) cli.print(`${t.display} is not installed, nothing to delete\n`);
        else cli.print(`${t.display} deleted${o.keepVolumes ? ' (volumes kept)' : ''}\n`);
      }),
    );
}
