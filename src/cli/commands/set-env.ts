import type { Command } from 'commander';
import { parseAssignment } from '../../model/env.js';
import { invalid } from '../../model/errors.js';
import { operations } from '../../operations/index.js';
import type { Cli } from '../cli.js';

/** `gear set-env TARGET NAME=VALUE...`: one container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('set-env')
    .description("set variables in a container's environment; applied at its next (re)start")
    .argument('<target>')
    .argument('[assignments...]', 'NAME=VALUE')
    .option('--reset', 'replace the whole environment instead of merging into it')
    .action(async (text: string, assignments: string[], o: { reset?: boolean }) => {
      const Variables = assignments.map(parseAssignment);
      if (!o.reset && Variables.length === 0) throw invalid('nothing to set: give NAME=VALUE, or --reset to clear');
      const t = cli.target(text);
      await t.backend.call(o.reset ? operations.replaceEnv : operations.patchEnv, { params: { id: t.name }, query: {}, body: { Variables } }, cli.progress);
    });
}
