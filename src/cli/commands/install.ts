import { validateCallbackUrl } from '../../model/callback.js';
import { Option, type Command } from 'commander';
import type { EnvVar } from '../../model/env.js';
import { invalid } from '../../model/errors.js';
import type { PortPair } from '../../model/ports.js';
import type { VolumeConfig } from '../../model/volumes.js';
import type { ImageFrom } from '../image-from.js';
import { addLimitOptions, envFormatOption } from '../options.js';
import { collect, type Cli } from '../cli.js';
import { healthBody, healthOptions } from '../health-flags.js';
import { LOCAL_HOST, checkImageArg, itemsOf, listFlag, sliceName, splitInstallArgs } from '../syntax.js';

/** `gear install IMAGE TARGET... [NAME=VALUE...]`: one request per container. */
export function register(program: Command, cli: Cli): void {
  const command = program
    .command('install')
    .description('install IMAGE as a systemd unit for each target')
    .argument('<image>', 'image reference, e.g. test/web or registry:5000/app:1.2')
    .argument('<targets...>', '[HOST[:PORT]/]NAME; arguments with "=" are environment variables, NAME=VALUE')
    .option('--start', 'start the containers after installing them')
    .option('-p, --ports <INTERNAL:EXTERNAL,...>', 'publish ports; EXTERNAL 0 allocates one (a comma list; repeatable)', listFlag('-p'))
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file (NAME=VALUE lines; see --env-format)')
    .option(...envFormatOption)
    .option('--env-id <id>', 'read the shared environment of this id (default: the container\'s own, named as it); -e/--env-file/--env-url overwrite it')
    .option('--env-url <url>', 'the agent fetches the environment from this http(s) URL (the seed\'s env-file rules); it replaces the environment')
    .option('-v, --volume <HOST:CONTAINER[:ro],...>', 'bind-mount a host path, or CONTAINER alone for a volume (a comma list; repeatable)', listFlag('-v'))
    .addOption(new Option('--volumes <list>', 'the seed system\'s name of -v').argParser(listFlag('--volumes')).hideHelp())
    .option('--slice <name[.slice]>', 'systemd slice to run in (default gear.slice)')
    .option('-n, --link <[FROM_IP:]FROM_PORT:TO_HOST:TO_PORT,...>', 'network links: inside the container FROM reaches TO (a comma list; repeatable; FROM_IP defaults to 127.0.0.1; one FROM with several TOs balances over them)', listFlag('-n'))
    .addOption(new Option('--net-links <list>', 'the seed system\'s name of -n').argParser(listFlag('--net-links')).hideHelp())
    .option('--from <host>', `when a target's host lacks IMAGE, transfer it first from this agent (or ${LOCAL_HOST}: this host), only the layers it lacks, through this machine`)
    .option('-q, --quiet', 'no transfer progress on stderr (with --from)')
    .option('--callback <url>', "the agent POSTs the job's outcome to this http(s) URL when it ends, signed (X-Gear-Signature: sha256=HMAC of the body with the agent's callback secret)")
    .option('--runtime <docker|podman>', "the host's container runtime, checked: a host has one, its agent's GEAR_RUNTIME (default docker)")
    .option('--isolate', "run as a host user of its own (ctr-NAME, a uid from gear's range, kept until delete), without capabilities or new privileges")
    .option('--socket-activated', 'systemd listens on each published port (-p INTERNAL:EXTERNAL) and starts the container on the first connection')
    .option('--idle-after <duration>', 'with --socket-activated: stop the container after this long without connections (e.g. 10m, 30s; default: never)');
  addLimitOptions(healthOptions(command))
    .action(async (image: string, args: string[], o: Record<string, unknown>) => {
      const { targets, assignments } = splitInstallArgs(args);
      let body: Record<string, unknown>;
      let from: ImageFrom | undefined;
      try {
        body = installBody(checkImageArg(image), assignments, o, cli);
        if (targets.length === 0) throw invalid('name at least one container to install (NAME=VALUE arguments are environment variables)');
        if (o.from !== undefined) from = new cli.runtime.ImageFrom(cli, cli.runtime.transferImage(image), cli.backends().forServer(o.from as string), o.quiet === true);
      } catch (err) {
        return cli.report(undefined, err);
      }
      await cli.eachTarget(targets, async (t) => {
        if (body.Callback !== undefined && !t.backend.label) throw invalid('--callback needs an agent, which calls the URL when the job ends: name the container as HOST/NAME');
        await from?.to(t.backend);
        const r = await t.backend.call(cli.operations.install, { params: { id: t.name }, query: {}, body }, cli.progress);
        const ports = r.Ports.length ? ` (${cli.runtime.portsText(r.Ports)})` : '';
        // A re-install updates in place; a running container was restarted to apply it.
        // Socket-activated: what started is the socket; the container runs on the first connection.
        const started = r.State?.Id.endsWith('.socket') ? ', its socket listening' : undefined;
        const done = r.Updated ? `updated${r.State ? started ?? ' and restarted' : ''}` : `installed${r.State ? started ?? ' and started' : ''}`;
        cli.print(`${t.display} ${done}${ports}\n`);
        if (r.Isolation) cli.print(`${t.display} runs ${cli.runtime.isolationText(r.Isolation)}, ${cli.runtime.selinuxText(r.Isolation, r.SELinux)}\n`);
      });
    });
}

/** The install request's body from the command line's flags and NAME=VALUE arguments. */
function installBody(image: string, assignments: string[], o: Record<string, unknown>, cli: Cli): Record<string, unknown> {
  const Ports: PortPair[] = ((o.ports as string[]) ?? []).map(cli.runtime.parsePortFlag);
  const fromFile: EnvVar[] = o.envFile ? cli.runtime.readEnvFile(o.envFile as string, o.envFormat as string | undefined, cli) : [];
  // -e and NAME=VALUE arguments are the same thing; either wins over the file.
  const fromFlags = [...((o.env as string[]) ?? []), ...assignments].map(cli.runtime.parseAssignment);
  if (o.envUrl !== undefined && (o.envFile !== undefined || fromFlags.length))
    throw invalid('--env-url cannot be combined with -e, NAME=VALUE or --env-file: the environment fetched replaces them (as in the seed)');
  const names = new Map([...fromFile, ...fromFlags].map((v) => [v.Name, v.Value]));
  const VolumeConfig: VolumeConfig = { Volumes: [], BindMounts: [] };
  for (const v of itemsOf(o.volume as string[], o.volumes as string[])) cli.runtime.parseVolumeFlag(v, VolumeConfig);
  const links = itemsOf(o.link as string[], o.netLinks as string[]);
  const slice = o.slice === undefined ? undefined : sliceName(o.slice as string);
  const activation = { SocketActivation: o.socketActivated === true, ...(o.idleAfter === undefined ? {} : { IdleAfter: o.idleAfter as string }) };
  // Checked here too, so that the line names the flags.
  cli.runtime.parseSocketActivation(activation, Ports, { activation: '--socket-activated', idle: '--idle-after', skip: 'SkipSocketProxy', ports: '-p' });
  return {
    Image: image,
    Started: o.start === true,
    Ports,
    Environment: {
      Variables: [...names].map(([Name, Value]) => ({ Name, Value })),
      ...(o.envId === undefined ? {} : { Id: o.envId }),
      ...(o.envUrl === undefined ? {} : { Source: o.envUrl }),
    },
    VolumeConfig,
    ...(slice === undefined ? {} : { SystemdSlice: slice }),
    ...(links.length === 0 ? {} : { NetworkLinks: links.map(cli.runtime.parseLinkFlag) }),
    ...(o.callback === undefined ? {} : { Callback: validateCallbackUrl(o.callback as string, '--callback') }),
    ...(o.isolate === true ? { Isolate: true } : {}),
    ...(o.runtime !== undefined ? { Runtime: cli.runtime.parseRuntime(o.runtime, '--runtime') } : {}),
    ...(activation.SocketActivation ? activation : {}),
    ...healthBody(o),
    ...cli.runtime.limitFields(o),
  };
}
