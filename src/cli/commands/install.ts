import type { Command } from 'commander';
import { parseAssignment, parseEnvFile, type EnvVar } from '../../model/env.js';
import { parseLinkFlag } from '../../model/links.js';
import { parsePortFlag, type PortPair } from '../../model/ports.js';
import { parseVolumeFlag, type VolumeConfig } from '../../model/volumes.js';
import { operations } from '../../operations/index.js';
import { portsText } from '../../operations/text.js';
import { collect, type Cli } from '../cli.js';
import { readText } from '../files.js';

/** `gear install IMAGE TARGET...`: one request per container. */
export function register(program: Command, cli: Cli): void {
  program
    .command('install')
    .description('install IMAGE as a systemd unit for each target')
    .argument('<image>', 'image reference, e.g. test/web or registry:5000/app:1.2')
    .argument('<targets...>', '[HOST[:PORT]/]NAME')
    .option('--start', 'start the containers after installing them')
    .option('-p, --ports <INTERNAL:EXTERNAL>', 'publish a port; EXTERNAL 0 allocates one (repeatable)', collect)
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file (NAME=VALUE lines)')
    .option('-v, --volume <HOST:CONTAINER[:ro]>', 'bind-mount a host path, or CONTAINER alone for a volume (repeatable)', collect)
    .option('--slice <name.slice>', 'systemd slice to run in (default gear.slice)')
    .option('-n, --link <[FROM_IP:]FROM_PORT:TO_HOST:TO_PORT>', 'network link: inside the container FROM reaches TO (repeatable; FROM_IP defaults to 127.0.0.1)', collect)
    .action(async (image: string, targets: string[], o: Record<string, unknown>) => {
      let body: Record<string, unknown>;
      try {
        body = installBody(image, o);
      } catch (err) {
        return cli.report(undefined, err);
      }
      await cli.eachTarget(targets, async (t) => {
        const r = await t.backend.call(operations.install, { params: { id: t.name }, query: {}, body }, cli.progress);
        const ports = r.Ports.length ? ` (${portsText(r.Ports)})` : '';
        // A re-install updates in place; a running container was restarted to apply it.
        const done = r.Updated ? `updated${r.State ? ' and restarted' : ''}` : `installed${r.State ? ' and started' : ''}`;
        cli.print(`${t.display} ${done}${ports}\n`);
      });
    });
}

/** The install request's body from the command line's flags. */
function installBody(image: string, o: Record<string, unknown>): Record<string, unknown> {
  const Ports: PortPair[] = ((o.ports as string[]) ?? []).map(parsePortFlag);
  const fromFile: EnvVar[] = o.envFile ? parseEnvFile(readText(o.envFile as string, 'env file'), o.envFile as string) : [];
  const fromFlags = ((o.env as string[]) ?? []).map(parseAssignment);
  const names = new Map([...fromFile, ...fromFlags].map((v) => [v.Name, v.Value]));
  const VolumeConfig: VolumeConfig = { Volumes: [], BindMounts: [] };
  for (const v of (o.volume as string[]) ?? []) parseVolumeFlag(v, VolumeConfig);
  return {
    Image: image,
    Started: o.start === true,
    Ports,
    Environment: { Variables: [...names].map(([Name, Value]) => ({ Name, Value })) },
    VolumeConfig,
    ...(o.slice === undefined ? {} : { SystemdSlice: o.slice }),
    ...(o.link === undefined ? {} : { NetworkLinks: (o.link as string[]).map(parseLinkFlag) }),
  };
}
