import type { Command } from 'commander';
import type { Cli } from '../cli.js';

/** `gear logs TARGET`: the logs operation's stream, here or on an agent, with the same defaults. */
export function register(program: Command, cli: Cli): void {
  program
    .command('logs')
    .description("a container's output, from the journal")
    .argument('<target>')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'only the last N lines')
    .action(async (text: string, o: { follow?: boolean; lines?: string }) => {
      const t = cli.target(text);
      const abort = new AbortController();
      // Ctrl-C or `timeout`: stop following, flush what was printed, exit cleanly.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort());
      const query: Record<string, string> = {};
      if (o.lines !== undefined) query.lines = o.lines;
      if (o.follow) query.follow = '1';
      const raw = { params: { id: t.name }, query, stream: o.follow === true };
      for await (const line of t.backend.lines(cli.operations.logs, raw, abort.signal)) cli.print(`${line}\n`);
    });
}
