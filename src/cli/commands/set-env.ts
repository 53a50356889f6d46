import type { Command } from 'commander';
import type { EnvVar } from '../../model/env.js';
import { invalid } from '../../model/errors.js';
import { envFormatOption } from '../options.js';
import type { Cli } from '../cli.js';

/**
 * `gear set-env ID... [NAME=VALUE...]`: arguments with "=" are variables
 * (as the seed's CLI reads them; a name or env id never holds "="), the
 * others name environments: a container's name for the environment it
 * reads, or a shared environment's id. One request per environment.
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('set-env')
    .description("set variables in environments (a container's, by its name, or a shared one, by its id); applied at each reader's next (re)start")
    .argument('<args...>', '[HOST[:PORT]/]ID... and NAME=VALUE...')
    .option('--reset', 'replace the whole environment instead of merging into it')
    .option('--env-file <file>', 'read variables from a file (before the NAME=VALUE arguments; see --env-format)')
    .option(...envFormatOption)
    .option('--env-url <url>', 'with --reset: the agent fetches the environment from this http(s) URL (the seed\'s env-file rules)')
    .action(async (args: string[], o: { reset?: boolean; envFile?: string; envFormat?: string; envUrl?: string }) => {
      const targets = args.filter((a) => !a.includes('='));
      const fromFile: EnvVar[] = o.envFile !== undefined ? cli.runtime.readEnvFile(o.envFile, o.envFormat, cli) : [];
      const Variables = cli.runtime.mergeEnv(fromFile, args.filter((a) => a.includes('=')).map(cli.runtime.parseAssignment));
      if (targets.length === 0) throw invalid('name at least one environment: a container\'s name or an env id');
      if (o.envUrl !== undefined && !o.reset) throw invalid('--env-url replaces the environment: add --reset');
      if (o.envUrl !== undefined && Variables.length) throw invalid('--env-url cannot be combined with variables: the environment fetched replaces them');
      if (!o.reset && o.envUrl === undefined && Variables.length === 0) throw invalid('nothing to set: give NAME=VALUE or --env-file, or --reset to clear');
      const body = o.envUrl === undefined ? { Variables } : { Source: o.envUrl };
      await cli.eachTarget(targets, async (t) => {
        const r = await t.backend.call(o.reset ? cli.operations.replaceEnv : cli.operations.patchEnv, { params: { id: t.name }, query: {}, body }, cli.progress);
        // A new shared environment, or a typo: say so rather than let it pass unnoticed.
        if (r.Readers && r.Readers.length === 0) cli.progress.note?.(`gear: ${t.display}: environment ${r.Id} is set; no container reads it yet (install with --env-id ${r.Id})`);
      });
    });
}
