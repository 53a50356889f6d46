import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import { validateName } from '../../model/names.js';
import type { Cli } from '../cli.js';

/** `gear apply-links NAME` (hidden): run by a linked container's unit at every start, on this host. */
export function register(program: Command, cli: Cli): void {
  program
    .command('apply-links', { hidden: true })
    .description("(run by a linked container's unit) wait for the container to run, then apply its stored links")
    .argument('<name>')
    .option('--state-dir <dir>', 'gear state directory on the host')
    .option('--wait <seconds>', 'how long to wait for the container to run', '240')
    .action(async (name: string, o: { stateDir?: string; wait: string }) => {
      const wait = Number(o.wait);
      if (!Number.isFinite(wait) || wait <= 0) throw invalid('--wait must be a positive number of seconds');
      const { configFromEnv, Host, formatLink, applyLinksAtStart, linkCount } = await cli.load();
      const host = new Host(configFromEnv({ ...process.env, ...(o.stateDir ? { GEAR_STATE_DIR: o.stateDir } : {}) }));
      try {
        const mainPid = Number(process.env.MAINPID);
        const r = await applyLinksAtStart(host, validateName(name), wait * 1000, Number.isInteger(mainPid) && mainPid > 0 ? mainPid : undefined);
        cli.print(`${name}: ${linkCount(r.links.length)} applied (${r.rules} rules)${r.links.length ? `: ${r.links.map((l) => `${formatLink(l)}${l.ToIp !== l.ToHost ? ` (${l.ToIp})` : ''}`).join(', ')}` : ''}\n`);
      } finally {
        host.close();
      }
    });
}
