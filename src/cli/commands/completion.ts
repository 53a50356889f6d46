import { Argument, type Command } from 'commander';
import { bashScript } from '../completion/bash.js';
import { fishScript } from '../completion/fish.js';
import { manPage } from '../completion/man.js';
import { programSpec } from '../completion/spec.js';
import { zshScript } from '../completion/zsh.js';
import { actsAlone, type Cli } from '../cli.js';

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript };

/** `gear completion bash|zsh|fish` and `gear man`: generated from this very program's definitions. */
export function register(program: Command, cli: Cli): void {
  actsAlone(program.command('completion'))
    .description('print the shell completion script: commands, flags, container names (gear list-units) and agents ($GEAR_HOSTS); e.g. source <(gear completion bash)')
    // The choices are part of the definition: commander refuses another shell, and the completions offer these.
    .addArgument(new Argument('<shell>', 'the shell').choices(Object.keys(SHELLS)))
    .action((shell: keyof typeof SHELLS) => cli.print(SHELLS[shell](programSpec(program))));
  actsAlone(program.command('man'))
    .description('print the gear(1) manual page (roff); e.g. gear man > /usr/local/share/man/man1/gear.1')
    .action(() => cli.print(manPage(programSpec(program))));
}
