import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { Cli } from '../cli.js';

/** `gear update TARGET... --image IMAGE [--dry-run]`: one request per container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('update')
    .description('run containers on another image: restart on it, wait for healthy, roll back to the previous image if it is not')
    .argument('<targets...>', '[HOST[:PORT]/]NAME')
    .requiredOption('--image <image>', 'the image to run, e.g. test/web:2 (pulled if it is not on the host)')
    .option('--dry-run', 'only say what would change')
    .option('--json', 'print JSON')
    .action(async (targets: string[], o: { image: string; dryRun?: boolean; json?: boolean }) => {
      if (!o.image) return cli.report(undefined, invalid('--image must name an image'));
      const { updateText } = await cli.load();
      await cli.eachTarget(cli.targetsOf(targets, undefined), async (t) => {
        const r = await t.backend.call(cli.operations.update, { params: { id: t.name }, query: {}, body: { Image: o.image, ...(o.dryRun ? { DryRun: true } : {}) } }, cli.progress);
        cli.print(o.json ? `${JSON.stringify(r)}\n` : updateText({ ...r, Id: t.display }));
      });
    });
}
