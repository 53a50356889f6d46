import type { Command } from 'commander';
import { operations } from '../../operations/index.js';
import { table } from '../../operations/text.js';
import type { Cli } from '../cli.js';

/** `gear list-units [HOST...]`: one request per host, one table. */
export function register(program: Command, cli: Cli): void {
  program
    .command('list-units')
    .description('list containers and their unit states, here or on the given agents (in parallel)')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .option('-a, --all', 'include containers that are installed but not loaded')
    .option('--json', 'print JSON')
    .action(async (hosts: string[], o: { all?: boolean; json?: boolean }) => {
      const query = o.all ? { all: '1' } : {};
      const answers = await cli.eachServer(hosts, async (backend) => {
        const r = await backend.call(operations.list, { params: {}, query }, cli.progress);
        return r.Containers.map((c) => ({ Server: backend.label, ...c }));
      });
      const rows = answers.flatMap((a) => a ?? []);
      rows.sort((a, b) => a.Server.localeCompare(b.Server) || a.Id.localeCompare(b.Id));
      if (o.json) return void cli.print(`${JSON.stringify({ Containers: hosts.length ? rows : rows.map(({ Server: _, ...c }) => c) })}\n`);
      const cells = (c: (typeof rows)[number]) => [c.Id, c.ActiveState, c.SubState, c.LoadState];
      cli.print(
        hosts.length
          ? table(['SERVER', 'ID', 'ACTIVE', 'SUB', 'LOAD'], rows.map((c) => [c.Server, ...cells(c)]))
          : table(['ID', 'ACTIVE', 'SUB', 'LOAD'], rows.map(cells)),
      );
    });
}
