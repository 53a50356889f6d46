import { validateCallbackUrl } from '../../model/callback.js';
import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { Cli } from '../cli.js';
import { LOCAL_DEPLOY_HOST } from '../syntax.js';
import { reporter } from './images.js';

/**
 * `--isolate`, `--isolate=true|false` (the seed's forms). Any other value is
 * refused: a host taken as the flag's value (`--isolate HOST`) must not be
 * lost from the hosts.
 */
function isolateFlag(value: string | boolean | undefined): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw invalid(`deploy --isolate takes true or false, not ${JSON.stringify(value)}`, 'name the hosts before --isolate, or write --isolate=true');
}

/**
 * `gear deploy FILE|URL [HOST...]`: a deployment carried out over the hosts' agents, or on this host
 * (src/cli/deploy.ts): only what differs from what the hosts have is installed again. `--plan` says what it would do.
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('deploy')
    .description('place, install (again only what differs from what a host has), link and start a deployment over agents (no HOST: on this host); writes the resolved FILE.<timestamp>')
    .argument('<file>', 'deployment descriptor (JSON) or http(s)/file URL, or a resolved FILE.<timestamp> to converge')
    .argument('[hosts...]', `HOST[:PORT] of the agents to place instances on (none: this host, written as "${LOCAL_DEPLOY_HOST}")`)
    .option('--plan', 'say per host and instance what a deploy would install, change (which fields), restart, leave alone or remove, and why; change nothing')
    .option('--isolate [bool]', 'install every new instance isolated: as a host user of its own (see install --isolate)')
    .option('--timeout <seconds>', 'how long to wait for a URL descriptor', '300')
    .option('--wait-timeout <seconds>', 'how long an instance waits for the ones on other hosts it starts after (After) to be started or healthy', '300')
    .option('--no-spread', 'each host pulls the images it lacks from its registry (default: one pull per image, then host to host)')
    .option('-q, --quiet', 'no image transfer progress or per-host image lines on stderr')
    .option('--callback <url>', "each agent POSTs each install's outcome to this http(s) URL when it ends, signed with its callback secret")
    .action(async (file: string, hosts: string[], o: { plan?: boolean; isolate?: string | boolean; timeout: string; spread: boolean; quiet?: boolean; callback?: string; waitTimeout: string }) => {
      const isolate = isolateFlag(o.isolate);
      const timeout = Number(o.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw invalid(`--timeout must be a positive number of seconds, not ${JSON.stringify(o.timeout)}`);
      const waitTimeout = Number(o.waitTimeout);
      if (!Number.isFinite(waitTimeout) || waitTimeout <= 0) throw invalid(`--wait-timeout must be a positive number of seconds, not ${JSON.stringify(o.waitTimeout)}`);
      const local = hosts.length === 0;
      const callback = o.callback === undefined ? undefined : validateCallbackUrl(o.callback, '--callback');
      if (callback && local) throw invalid('deploy --callback needs agents, which call the URL when each install ends: name the hosts');
      const { deploy } = await cli.load();
      const out = await deploy({
        file,
        hosts,
        // No host named: this host itself (or the agent GEAR_AGENT names), as every other command without a host.
        backendFor: (on) => cli.backends().forServer(local ? '' : on),
        progress: {},
        done: (line) => cli.print(`${line}\n`),
        warn: (line) => process.stderr.write(`gear: deploy: warning: ${line}\n`),
        timeout,
        waitTimeout,
        spread: o.spread ? { progress: (host) => reporter(host, o.quiet), report: (line) => void (o.quiet || process.stderr.write(`${line}\n`)) } : undefined,
        ...(callback ? { callback } : {}),
        ...(isolate ? { isolate } : {}),
        ...(o.plan ? { plan: true } : {}),
      });
      if (out.plan !== undefined) {
        cli.print(out.plan);
        // Instances on hosts not named: said, not a failure of the plan.
        for (const what of out.notDone) process.stderr.write(`gear: deploy --plan: ${what}\n`);
        return;
      }
      for (const what of out.notDone) cli.report('deploy', `not done: ${what}`);
      if (out.notDone.length) cli.report('deploy', `wrote ${out.written} with what was done; deploy it again to finish`);
      else cli.print(`deployed: wrote ${out.written}\n`);
    });
}
