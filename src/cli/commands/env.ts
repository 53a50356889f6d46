import type { Command } from 'commander';
import { renderEnvFile } from '../../model/env.js';
import { operations } from '../../operations/index.js';
import type { Cli } from '../cli.js';

/** `gear env TARGET...`: one request per container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('env')
    .description("print a container's environment (env file format)")
    .argument('<targets...>')
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      cli.eachTarget(targets, async (t) => {
        const r = await t.backend.call(operations.getEnv, { params: { id: t.name }, query: {} }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(r)}\n` : renderEnvFile(r.Variables));
      }),
    );
}
