import type { Command } from 'commander';
import { withOption, type Cli } from '../cli.js';

/** `gear status TARGET...` (or `--with FILE HOST...`): one request per container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('status')
    .description('unit state, main pid, container, ports and links')
    .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
    .option(...withOption)
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean; with?: string }) =>
      cli.eachTarget(cli.targetsOf(targets, o.with), async (t) => {
        const s = await t.backend.call(cli.operations.status, { params: { id: t.name }, query: {} }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(t.backend.label ? { Server: t.backend.label, ...s } : s)}\n` : cli.runtime.statusText(s));
      }),
    );
}
