import type { Command } from 'commander';
import { withOption, type Cli } from '../cli.js';

/** `gear unit-file TARGET...`: the unit as systemd loaded it (`systemctl cat`), the web console's unit view. */
export function register(program: Command, cli: Cli): void {
  program
    .command('unit-file')
    .description('the unit file and drop-ins as systemd loaded them (systemctl cat)')
    .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
    .option(...withOption)
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean; with?: string }) =>
      cli.eachTarget(cli.targetsOf(targets, o.with), async (t) => {
        const u = await t.backend.call(cli.operations.unitFile, { params: { id: t.name }, query: {} }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(t.backend.label ? { Server: t.backend.label, ...u } : u)}\n` : cli.runtime.unitText(u));
      }),
    );
}
