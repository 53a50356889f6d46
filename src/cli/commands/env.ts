import type { Command } from 'commander';
import type { Cli } from '../cli.js';

/** `gear env ID...`: a container's name (the environment it reads) or a shared environment's id; one request each. */
export function register(program: Command, cli: Cli): void {
  program
    .command('env')
    .description("print environments (env file format): a container's, by its name, or a shared one, by its env id")
    .argument('<ids...>', '[HOST[:PORT]/]ID')
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      cli.eachTarget(targets, async (t) => {
        const r = await t.backend.call(cli.operations.getEnv, { params: { id: t.name }, query: {} }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(r)}\n` : cli.runtime.renderEnvFile(r.Variables));
      }),
    );
}
