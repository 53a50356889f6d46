import type { Command } from 'commander';
import { operations } from '../../operations/index.js';
import { withOption, type Cli } from '../cli.js';

/** `gear start|stop|restart TARGET...` (or `--with FILE HOST...`): one request per container. */
export function register(program: Command, cli: Cli): void {
  for (const [name, op, verb] of [
    ['start', operations.start, 'started'],
    ['stop', operations.stop, 'stopped'],
    ['restart', operations.restart, 'restarted'],
  ] as const) {
    program
      .command(name)
      .description(`${name} containers, waiting until systemd has done it`)
      .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
      .option(...withOption)
      .action((targets: string[], o: { with?: string }) =>
        cli.eachTarget(cli.targetsOf(targets, o.with), async (t) => {
          const s: { ActiveState: string; SubState: string; Installed?: false } = await t.backend.call(op, { params: { id: t.name }, query: {} }, cli.progress);
          if (s.Installed === false) cli.print(`${t.display} is not installed, nothing to ${name}\n`);
          else cli.print(`${t.display} ${verb} (${s.ActiveState}/${s.SubState})\n`);
        }),
      );
  }
}
