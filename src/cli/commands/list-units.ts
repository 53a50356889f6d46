import type { Command } from 'commander';
import { table } from '../../lib/table.js';
import { DEFAULT_PORT, parseAgentHost } from '../../model/address.js';
import type { Cli } from '../cli.js';

/** `gear list-units [HOST...]`: one request per host, one cli.runtime.table. */
export function register(program: Command, cli: Cli): void {
  program
    .command('list-units')
    .description('list containers and their unit states, here or on the given agents (in parallel)')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .option('-a, --all', 'include containers that are installed but not loaded')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print only where each container is: HOST:PORT/NAME on an agent, NAME on this host (a target for other commands)')
    .action(async (hosts: string[], o: { all?: boolean; json?: boolean; quiet?: boolean }) => {
      const query = o.all ? { all: '1' } : {};
      const answers = await cli.eachServer(hosts, async (backend, server) => {
        const r = await backend.call(cli.operations.list, { params: {}, query }, cli.progress);
        const at = locatorPrefix(backend.label, server);
        return r.Containers.map((c) => ({ Server: backend.label, at, ...c }));
      });
      const rows = answers.flatMap((a) => a ?? []).map(({ at, ...row }) => ({ row, at }));
      rows.sort((a, b) => a.row.Server.localeCompare(b.row.Server) || a.row.Id.localeCompare(b.row.Id));
      if (o.quiet) return void cli.print(rows.map((r) => `${r.at}${r.row.Id}\n`).join(''));
      printRows(cli, hosts, rows.map((r) => r.row), o.json === true);
    });
}

/** `HOST:PORT/` of an agent (its port filled in, as the seed printed it); nothing for this host. */
function locatorPrefix(label: string, server: string): string {
  if (!label) return '';
  const a = parseAgentHost(server);
  return `${a.host}:${a.port ?? DEFAULT_PORT}/`;
}

type Row = { Server: string; Id: string; ActiveState: string; SubState: string; LoadState: string; Health?: string; Socket?: string };

/** The cli.runtime.table (a SERVER column when hosts were named), or JSON. */
function printRows(cli: Cli, hosts: string[], rows: Row[], json: boolean): void {
  if (json) return void cli.print(`${JSON.stringify({ Containers: hosts.length ? rows : rows.map(({ Server: _, ...c }) => c) })}\n`);
  // A HEALTH column only when a container has a health check: other listings stay as they were.
  // A SOCKET column likewise, only when one is socket-activated (idle, waking, awake, stopped, failed).
  const health = rows.some((c) => c.Health !== undefined);
  const socket = rows.some((c) => c.Socket !== undefined);
  const cells = (c: Row) => [c.Id, c.ActiveState, c.SubState, c.LoadState, ...(health ? [c.Health ?? '-'] : []), ...(socket ? [c.Socket ?? '-'] : [])];
  const headers = ['ID', 'ACTIVE', 'SUB', 'LOAD', ...(health ? ['HEALTH'] : []), ...(socket ? ['SOCKET'] : [])];
  cli.print(hosts.length ? table(['SERVER', ...headers], rows.map((c) => [c.Server, ...cells(c)])) : table(headers, rows.map(cells)));
}
