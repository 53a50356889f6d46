import type { Command } from 'commander';
import type { Cli } from '../cli.js';

/** `gear definition TARGET...`: an installed container's resolved definition and its hash (what `deploy --plan` compares). */
export function register(program: Command, cli: Cli): void {
  program
    .command('definition')
    .description("a container's resolved definition (environment values as digests) and its hash, as deploy --plan compares them")
    .argument('<targets...>', '[HOST[:PORT]/]NAME')
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      cli.eachTarget(cli.targetsOf(targets, undefined), async (t) => {
        const d = await t.backend.call(cli.operations.definition, { params: { id: t.name }, query: {} }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(t.backend.label ? { Server: t.backend.label, ...d } : d)}\n` : cli.runtime.definitionText(d));
      }),
    );
}
