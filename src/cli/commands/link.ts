import { Option, type Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { Cli } from '../cli.js';
import { itemsOf, listFlag } from '../syntax.js';

/** `gear link -n LINK... TARGET...`: one request per host, naming every container of that host. */
export function register(program: Command, cli: Cli): void {
  program
    .command('link')
    .description("set containers' network links: applied at once to running ones, and at every start")
    .argument('<targets...>', '[HOST[:PORT]/]NAME')
    .option('-n, --link <[FROM_IP:]FROM_PORT:TO_HOST:TO_PORT,...>', 'inside the container FROM reaches TO (a comma list; repeatable; FROM_IP defaults to 127.0.0.1; TO_HOST localhost: the container\'s host; one FROM with several TOs balances over them)', listFlag('-n'))
    .addOption(new Option('--net-links <list>', "the seed system's name of -n").argParser(listFlag('--net-links')).hideHelp())
    .option('--clear', 'remove every link of the containers')
    .action(async (texts: string[], o: { link?: string[]; netLinks?: string[]; clear?: boolean }) => {
      const links = itemsOf(o.link, o.netLinks).map(cli.runtime.parseLinkFlag);
      if (o.clear && links.length) throw invalid('give either -n links or --clear, not both');
      if (!o.clear && links.length === 0) throw invalid('give at least one link (-n FROM_IP:FROM_PORT:TO_HOST:TO_PORT), or --clear');
      await cli.eachTargetHost(texts, async (backend, targets) => {
        const body = { Links: targets.map((t) => ({ Id: t.name, NetworkLinks: links })) };
        const r = await backend.call(cli.operations.link, { params: {}, query: {}, body }, cli.progress);
        for (const c of r.Links) {
          const display = backend.label ? `${backend.label}/${c.Id}` : c.Id;
          const n = c.NetworkLinks.length;
          cli.print(`${display}: ${cli.runtime.linkCount(n)} ${cli.runtime.linkState(c.Applied)}${n ? `: ${c.NetworkLinks.map(cli.runtime.formatLink).join(', ')}` : ''}\n`);
        }
      });
    });
}
