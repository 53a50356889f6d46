import type { Command } from 'commander';
import type { Cli } from '../cli.js';
import { deploy } from '../deploy.js';

/** `gear deploy FILE HOST...`: a deployment carried out over the hosts' agents (src/cli/deploy.ts). */
export function register(program: Command, cli: Cli): void {
  program
    .command('deploy')
    .description('place, install, link and start a deployment over agents; writes the resolved FILE.<timestamp>')
    .argument('<file>', 'deployment descriptor (JSON), or a resolved FILE.<timestamp> to converge')
    .argument('<hosts...>', 'HOST[:PORT] of the agents to place instances on')
    .action(async (file: string, hosts: string[]) => {
      const out = await deploy({
        file,
        hosts,
        backendFor: (on) => cli.backends().forServer(on),
        progress: {},
        done: (line) => cli.print(`${line}\n`),
      });
      for (const what of out.notDone) cli.report('deploy', `not done: ${what}`);
      if (out.notDone.length) cli.report('deploy', `wrote ${out.written} with what was done; deploy it again to finish`);
      else cli.print(`deployed: wrote ${out.written}\n`);
    });
}
