import type { Command } from 'commander';
import type { Capacity } from '../../model/capacity.js';
import type { Cli } from '../cli.js';

/** `gear capacity [HOST...]`: what each host can still take, as a table (or JSON). */
export function register(program: Command, cli: Cli): void {
  program
    .command('capacity')
    .description('what each host can still take: containers and memory reserved against its limits (GEAR_MAX_CONTAINERS, GEAR_MAX_MEMORY), host memory and CPUs')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .option('--json', 'print JSON: {HOST: capacity} (this host: "local")')
    .action(async (hosts: string[], o: { json?: boolean }) => {
      const rows = await cli.eachServer(hosts, async (backend, server) => {
        const c = await backend.call(cli.operations.capacity, { params: {}, query: {} }, cli.progress);
        return [backend.label || server || 'local', c] as [string, Capacity];
      });
      const got = rows.filter((r): r is [string, Capacity] => r !== undefined);
      if (!got.length) return;
      cli.print(o.json ? `${JSON.stringify(Object.fromEntries(got), null, 2)}\n` : cli.runtime.capacityTable(got));
    });
}
