import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { actsAlone, type Cli } from '../cli.js';

/** `gear version`: the seed system's command for what `gear --version` prints. */
export function register(program: Command, cli: Cli): void {
  actsAlone(program.command('version'))
    .description("print gear's version (as --version)")
    .action(() => cli.print(`${VERSION}\n`));
}
