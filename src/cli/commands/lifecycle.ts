import type { Command } from 'commander';
import { withOption, type Cli } from '../cli.js';

/** `gear start|stop|restart TARGET...` (or `--with FILE HOST...`): one request per container. */
export function register(program: Command, cli: Cli): void {
  for (const [name, verb] of [
    ['start', 'started'],
    ['stop', 'stopped'],
    ['restart', 'restarted'],
  ] as const) {
    const command = program
      .command(name)
      .description(`${name} containers, waiting until systemd has done it`)
      .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
      .option(...withOption);
    // The seed's `stop -n`: answer once systemd has the stop queued.
    if (name === 'stop') command.option('-n, --no-wait', 'do not wait for the containers to stop: return once systemd has queued it');
    command.action((targets: string[], o: { with?: string; wait?: boolean }) =>
      cli.eachTarget(cli.targetsOf(targets, o.with), async (t) => {
        const query = o.wait === false ? { wait: '0' } : {};
        const s: { ActiveState: string; SubState: string; Installed?: false } = await t.backend.call(cli.operations[name], { params: { id: t.name }, query }, cli.progress);
        // A stop of a container that is not installed succeeds (as the seed's): say so.
        if (s.Installed === false) cli.print(`${t.display} is not installed, nothing to ${name}\n`);
        else cli.print(`${t.display} ${o.wait === false ? 'stopping' : verb} (${s.ActiveState}/${s.SubState})\n`);
      }),
    );
  }
}
