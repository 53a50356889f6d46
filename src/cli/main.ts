import { Command, CommanderError } from 'commander';
import { parseAssignment, parseEnvFile, renderEnvFile, type EnvVar } from '../model/env.js';
import { GearError, describeError, invalid } from '../model/errors.js';
import { formatLink, parseLinkFlag } from '../model/links.js';
import { validateName } from '../model/names.js';
import { parsePortFlag, type PortPair } from '../model/ports.js';
import { parseVolumeFlag, type VolumeConfig } from '../model/volumes.js';
import { operations, type Progress } from '../operations/index.js';
import { linkCount, linkState, portsText, statusText, table } from '../operations/text.js';
import { VERSION } from '../version.js';
import { configFromEnv } from '../host/config.js';
import { Host } from '../host/context.js';
import { applyLinksAtStart } from '../operations/links.js';
import { Backends, type Backend, type Target } from './backend.js';
import { deploy, deploymentTargets } from './deploy.js';
import { readText } from './files.js';
import { parseFingerprint } from '../api/client.js';
import { defaultTokenPath } from '../api/listen.js';

/** The local agent's own token (root only), for agents on this machine's loopback; none when unreadable. */
function localAgentToken(): string | undefined {
  try {
    return readText(defaultTokenPath(configFromEnv()), 'token file').trim() || undefined;
  } catch {
    return undefined;
  }
}
import { pullReporter } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A user-supplied string shown in an error: quoted and escaped unless plainly printable. */
const printable = (text: string) => (/^[\x21-\x7e]+$/.test(text) ? text : JSON.stringify(text));

/** Errors are printed as one line each; a command fails if any of its targets failed. */
class Failures {
  count = 0;
  report(target: string | undefined, err: unknown): void {
    this.count++;
    const hint = err instanceof GearError && err.hint ? ` (${err.hint})` : '';
    process.stderr.write(`gear: ${target ? `${printable(target)}: ` : ''}${describeError(err)}${hint}\n`);
  }
}

function main(argv: string[]): Promise<number> {
  const failures = new Failures();
  const progress: Progress = { pull: pullReporter(process.stderr), note: (m) => process.stderr.write(`${m}\n`) };
  let backends: Backends | undefined;
  const getBackends = () => {
    if (!backends) {
      const o = program.opts() as { tokenFile?: string; ca?: string; fingerprint?: string; insecurePlaintext?: boolean };
      const env = process.env;
      // The token never on a command line: from a file, or the environment.
      const tokenFile = o.tokenFile ?? env.GEAR_TOKEN_FILE;
      const token = tokenFile ? readText(tokenFile, 'token file').trim() : env.GEAR_TOKEN?.trim() || undefined;
      const ca = o.ca ?? env.GEAR_CA;
      const fingerprint = o.fingerprint ?? env.GEAR_FINGERPRINT;
      backends = new Backends(env, {
        token,
        localToken: () => localAgentToken(),
        tls: ca || fingerprint ? { ca: ca ? Buffer.from(readText(ca, 'CA file')) : undefined, fingerprint: fingerprint ? parseFingerprint(fingerprint) : undefined } : undefined,
        insecurePlaintext: o.insecurePlaintext === true || env.GEAR_INSECURE_PLAINTEXT === '1',
      });
    }
    return backends;
  };

  /**
   * Resolve every target first (bad input changes nothing, not even for the
   * good targets), then run `work` for all of them in parallel; failures are
   * reported one line per target.
   */
  const eachTarget = async (texts: string[], work: (t: Target) => Promise<void>) => {
    const failed = failures.count;
    const targets: Target[] = [];
    for (const text of texts) {
      try {
        targets.push(getBackends().target(text));
      } catch (err) {
        failures.report(text, err);
      }
    }
    if (failures.count > failed) return;
    await Promise.all(targets.map((t) => work(t).catch((err) => failures.report(t.display, err))));
  };
  const print = (text: string) => process.stdout.write(text);

  /**
   * Targets named on the command line, or the instances of a deployment on
   * the hosts named (`--with FILE HOST...`); its instances on other hosts
   * are reported, not contacted.
   */
  const targetsOf = (texts: string[], withFile: string | undefined): string[] => {
    if (withFile !== undefined) {
      const { targets, elsewhere } = deploymentTargets(withFile, texts);
      for (const t of elsewhere) failures.report(t, 'not contacted: its host is not among the hosts named');
      return targets;
    }
    if (texts.length === 0) throw invalid('name at least one target (or --with FILE)');
    return texts;
  };
  const withOption = ['--with <file>', 'act on the instances of a deployment (the FILE.<timestamp> gear deploy wrote) on the HOST[:PORT]s named as arguments'] as const;

  const program = new Command('gear')
    .description('Run container images as systemd services, on this host or on gear agents')
    .version(VERSION, '-V, --version')
    .option('--token-file <file>', 'bearer token: sent to agents (or GEAR_TOKEN_FILE, or the token itself in GEAR_TOKEN); for `gear daemon`, the token TCP clients must send')
    .option('--ca <file>', 'TLS to agents beyond loopback, their certificate signed by this CA (or GEAR_CA)')
    .option('--fingerprint <sha256:hex>', "TLS to agents beyond loopback, their certificate pinned by its SHA-256 fingerprint (or GEAR_FINGERPRINT)")
    .option('--insecure-plaintext', 'allow the token in clear text to agents beyond loopback (or GEAR_INSECURE_PLAINTEXT=1); for `gear daemon`, allow TCP listeners beyond loopback without TLS')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText('after', '\nTargets: [ctr://][HOST[:PORT]/]NAME; without HOST the container is on this host.')
    .exitOverride();

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
        return failures.report(undefined, err);
      }
      await eachTarget(targets, async (t) => {
        const r = await t.backend.call(operations.install, { params: { id: t.name }, query: {}, body }, progress);
        const ports = r.Ports.length ? ` (${portsText(r.Ports)})` : '';
        print(`${t.display} installed${r.State ? ' and started' : ''}${ports}\n`);
      });
    });

  for (const [name, op, verb] of [
    ['start', operations.start, 'started'],
    ['stop', operations.stop, 'stopped'],
    ['restart', operations.restart, 'restarted'],
  ] as const) {
    program
      .command(name)
      .description(`${name} containers, waiting until systemd has done it`)
      .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
      .option(...withOption)
      .action((targets: string[], o: { with?: string }) =>
        eachTarget(targetsOf(targets, o.with), async (t) => {
          const s = await t.backend.call(op, { params: { id: t.name }, query: {} }, progress);
          print(`${t.display} ${verb} (${s.ActiveState}/${s.SubState})\n`);
        }),
      );
  }

  program
    .command('delete')
    .description('stop and remove containers: unit, state, env file, ports and volumes (of a deleted name: its kept volumes)')
    .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
    .option(...withOption)
    .option('--keep-volumes', 'keep the named volumes: a later install of the same name finds its data again')
    .action((targets: string[], o: { with?: string; keepVolumes?: boolean }) =>
      eachTarget(targetsOf(targets, o.with), async (t) => {
        const query = o.keepVolumes ? { 'keep-volumes': 'true' } : {};
        await t.backend.call(operations.remove, { params: { id: t.name }, query }, progress);
        print(`${t.display} deleted${o.keepVolumes ? ' (volumes kept)' : ''}\n`);
      }),
    );

  program
    .command('status')
    .description('unit state, main pid, container, ports and links')
    .argument('[targets...]', '[HOST[:PORT]/]NAME; with --with, the HOST[:PORT]s to contact')
    .option(...withOption)
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean; with?: string }) =>
      eachTarget(targetsOf(targets, o.with), async (t) => {
        const s = await t.backend.call(operations.status, { params: { id: t.name }, query: {} }, progress);
        print(o.json ? `${JSON.stringify(t.backend.label ? { Server: t.backend.label, ...s } : s)}\n` : statusText(s));
      }),
    );

  program
    .command('list-units')
    .description('list containers and their unit states, here or on the given agents (in parallel)')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .option('-a, --all', 'include containers that are installed but not loaded')
    .option('--json', 'print JSON')
    .action(async (hosts: string[], o: { all?: boolean; json?: boolean }) => {
      const query = o.all ? { all: '1' } : {};
      const servers = hosts.length ? hosts : [''];
      const rows: { Server: string; Id: string; ActiveState: string; SubState: string; LoadState: string }[] = [];
      await Promise.all(
        servers.map(async (server) => {
          try {
            const backend = getBackends().forServer(server);
            const r = await backend.call(operations.list, { params: {}, query }, progress);
            for (const c of r.Containers) rows.push({ Server: backend.label, ...c });
          } catch (err) {
            failures.report(server, err);
          }
        }),
      );
      rows.sort((a, b) => a.Server.localeCompare(b.Server) || a.Id.localeCompare(b.Id));
      if (o.json) return void print(`${JSON.stringify({ Containers: hosts.length ? rows : rows.map(({ Server: _, ...c }) => c) })}\n`);
      const cells = (c: (typeof rows)[number]) => [c.Id, c.ActiveState, c.SubState, c.LoadState];
      print(
        hosts.length
          ? table(['SERVER', 'ID', 'ACTIVE', 'SUB', 'LOAD'], rows.map((c) => [c.Server, ...cells(c)]))
          : table(['ID', 'ACTIVE', 'SUB', 'LOAD'], rows.map(cells)),
      );
    });

  program
    .command('logs')
    .description("a container's output, from the journal")
    .argument('<target>')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'only the last N lines')
    .action(async (text: string, o: { follow?: boolean; lines?: string }) => {
      const t = getBackends().target(text);
      const abort = new AbortController();
      // Ctrl-C or `timeout`: stop following, flush what was printed, exit cleanly.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort());
      const query: Record<string, string> = {};
      if (o.lines !== undefined) query.lines = o.lines;
      if (o.follow) query.follow = '1';
      for await (const line of t.backend.lines(operations.logs, { params: { id: t.name }, query, stream: o.follow === true }, abort.signal)) print(`${line}\n`);
    });

  program
    .command('env')
    .description("print a container's environment (env file format)")
    .argument('<targets...>')
    .option('--json', 'print JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      eachTarget(targets, async (t) => {
        const r = await t.backend.call(operations.getEnv, { params: { id: t.name }, query: {} }, progress);
        print(o.json ? `${JSON.stringify(r)}\n` : renderEnvFile(r.Variables));
      }),
    );

  program
    .command('set-env')
    .description("set variables in a container's environment; applied at its next (re)start")
    .argument('<target>')
    .argument('[assignments...]', 'NAME=VALUE')
    .option('--reset', 'replace the whole environment instead of merging into it')
    .action(async (text: string, assignments: string[], o: { reset?: boolean }) => {
      const Variables = assignments.map(parseAssignment);
      if (!o.reset && Variables.length === 0) throw invalid('nothing to set: give NAME=VALUE, or --reset to clear');
      const t = getBackends().target(text);
      await t.backend.call(o.reset ? operations.replaceEnv : operations.patchEnv, { params: { id: t.name }, query: {}, body: { Variables } }, progress);
    });

  program
    .command('link')
    .description("set containers' network links: applied at once to running ones, and at every start")
    .argument('<targets...>', '[HOST[:PORT]/]NAME')
    .option('-n, --link <[FROM_IP:]FROM_PORT:TO_HOST:TO_PORT>', 'inside the container FROM reaches TO (repeatable; FROM_IP defaults to 127.0.0.1; TO_HOST localhost: the container\'s host)', collect)
    .option('--clear', 'remove every link of the containers')
    .action(async (texts: string[], o: { link?: string[]; clear?: boolean }) => {
      const links = (o.link ?? []).map(parseLinkFlag);
      if (o.clear && links.length) throw invalid('give either -n links or --clear, not both');
      if (!o.clear && links.length === 0) throw invalid('give at least one link (-n FROM_IP:FROM_PORT:TO_HOST:TO_PORT), or --clear');
      // One request per host, naming every container of that host.
      const groups = new Map<Backend, Target[]>();
      await eachTarget(texts, async (t) => void groups.set(t.backend, [...(groups.get(t.backend) ?? []), t]));
      await Promise.all(
        [...groups].map(async ([backend, targets]) => {
          try {
            const body = { Links: targets.map((t) => ({ Id: t.name, NetworkLinks: links })) };
            const r = await backend.call(operations.link, { params: {}, query: {}, body }, progress);
            for (const c of r.Links) {
              const display = backend.label ? `${backend.label}/${c.Id}` : c.Id;
              const n = c.NetworkLinks.length;
              print(`${display}: ${linkCount(n)} ${linkState(c.Applied)}${n ? `: ${c.NetworkLinks.map(formatLink).join(', ')}` : ''}\n`);
            }
          } catch (err) {
            failures.report(targets.map((t) => t.display).join(', '), err);
          }
        }),
      );
    });

  program
    .command('apply-links', { hidden: true })
    .description("(run by a linked container's unit) wait for the container to run, then apply its stored links")
    .argument('<name>')
    .option('--state-dir <dir>', 'gear state directory on the host')
    .option('--wait <seconds>', 'how long to wait for the container to run', '240')
    .action(async (name: string, o: { stateDir?: string; wait: string }) => {
      const wait = Number(o.wait);
      if (!Number.isFinite(wait) || wait <= 0) throw invalid('--wait must be a positive number of seconds');
      const host = new Host(configFromEnv({ ...process.env, ...(o.stateDir ? { GEAR_STATE_DIR: o.stateDir } : {}) }));
      try {
        const mainPid = Number(process.env.MAINPID);
        const r = await applyLinksAtStart(host, validateName(name), wait * 1000, Number.isInteger(mainPid) && mainPid > 0 ? mainPid : undefined);
        print(`${name}: ${linkCount(r.links.length)} applied (${r.rules} rules)${r.links.length ? `: ${r.links.map((l) => `${formatLink(l)}${l.ToIp !== l.ToHost ? ` (${l.ToIp})` : ''}`).join(', ')}` : ''}\n`);
      } finally {
        host.close();
      }
    });

  program
    .command('deploy')
    .description('place, install, link and start a deployment over agents; writes the resolved FILE.<timestamp>')
    .argument('<file>', 'deployment descriptor (JSON), or a resolved FILE.<timestamp> to converge')
    .argument('<hosts...>', 'HOST[:PORT] of the agents to place instances on')
    .action(async (file: string, hosts: string[]) => {
      const out = await deploy({
        file,
        hosts,
        backendFor: (on) => getBackends().forServer(on),
        progress: {},
        done: (line) => print(`${line}\n`),
      });
      for (const what of out.notDone) failures.report('deploy', `not done: ${what}`);
      if (out.notDone.length) failures.report('deploy', `wrote ${out.written} with what was done; deploy it again to finish`);
      else print(`deployed: wrote ${out.written}\n`);
    });

  program
    .command('clean')
    .description('remove what interrupted installs and deletes left behind; list kept volumes')
    .argument('[hosts...]', 'HOST[:PORT] of agents; none: this host')
    .action(async (hosts: string[]) => {
      for (const server of hosts.length ? hosts : ['']) {
        const backend = getBackends().forServer(server);
        const r = await backend.call(operations.clean, { params: {}, query: {} }, progress);
        const on = backend.label ? `${backend.label}: ` : '';
        for (const what of r.Removed) print(`${on}removed ${what}\n`);
        for (const what of r.NotRemoved ?? []) failures.report(server || undefined, `could not remove ${what}`);
        for (const v of r.Kept ?? []) print(`${on}kept volume ${v.Name} (${v.Id} ${v.Path}; \`gear delete ${v.Id}\` removes it)\n`);
      }
    });

  program
    .command('daemon')
    .description('run the agent: the HTTP API on a unix socket (no token: root only) and on 127.0.0.1:43273 (token)')
    .option('--listen <address>', 'HOST:PORT to listen on, token required (repeatable; default 127.0.0.1:43273)', collect)
    .option('--insecure-tokenless-listen <address>', 'HOST:PORT to listen on WITHOUT a token: whoever reaches it is root here (repeatable)', collect)
    .option('--tls-cert <file>', 'PEM certificate: TLS on the listeners beyond loopback')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--server-name <name>', 'a DNS name clients may use for this agent in Host (repeatable; IP addresses, localhost and the hostname always)', collect)
    .option('--socket <path>', 'unix socket (default /run/gear/gear.sock)')
    .option('--no-socket', 'do not listen on a unix socket')
    .option('--log-stream-seconds <n>', 'how long a streamed log follows the journal', '30')
    .option('--request-timeout <seconds>', 'time a client gets to send its whole request', '30')
    .option('--max-jobs <n>', 'operations running at once', '32')
    .option('--max-queued <n>', 'operations waiting beyond those; more are refused with 503', '256')
    .option('--max-log-streams <n>', 'log requests served at once; more are refused with 429', '64')
    .action(async (o: Record<string, string | string[] | false | undefined>) => {
      const { runDaemon } = await import('../agent/daemon.js');
      await runDaemon({
        listen: o.listen as string[] | undefined,
        tokenlessListen: o.insecureTokenlessListen as string[] | undefined,
        socket: o.socket as string | false | undefined,
        // The global --token-file: for the agent, the token TCP clients must send (default: its own, made once).
        tokenFile: program.opts().tokenFile as string | undefined,
        tlsCert: o.tlsCert as string | undefined,
        tlsKey: o.tlsKey as string | undefined,
        insecurePlaintext: program.opts().insecurePlaintext === true,
        serverNames: o.serverName as string[] | undefined,
        logStreamSeconds: Number(o.logStreamSeconds),
        requestTimeoutSeconds: Number(o.requestTimeout),
        maxJobs: Number(o.maxJobs),
        maxQueued: Number(o.maxQueued),
        maxLogStreams: Number(o.maxLogStreams),
      });
    });

  return program
    .parseAsync(argv)
    .then(
      () => (failures.count > 0 ? 1 : 0),
      (err: unknown) => {
        if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed it
        failures.report(undefined, err);
        return 1;
      },
    )
    .finally(() => backends?.close());
}

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

main(process.argv).then((code) => {
  process.exitCode = code;
});
