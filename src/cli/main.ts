import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { configFromEnv } from '../host/config.js';
import { Host } from '../host/context.js';
import { parseAssignment, parseEnvFile, renderEnvFile, type EnvVar } from '../model/env.js';
import { GearError, describeError, invalid } from '../model/errors.js';
import { parsePortFlag, type PortPair } from '../model/ports.js';
import { parseVolumeFlag, type VolumeConfig } from '../model/volumes.js';
import { operations, type Operation, type Progress } from '../operations/index.js';
import { VERSION } from '../version.js';
import { localName } from './locator.js';
import { journalLine, portsText, pullReporter, statusText, table } from './output.js';

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
  let host: Host | undefined;
  const getHost = () => (host ??= new Host(configFromEnv()));
  const failures = new Failures();
  const progress: Progress = { pull: pullReporter(process.stderr), note: (m) => process.stderr.write(`${m}\n`) };

  const exec = <Req, Res>(op: Operation<Req, Res>, params: Record<string, string>, body?: unknown, query: Record<string, string> = {}) =>
    op.run(getHost(), op.parse({ params, query, body }), progress);

  /** Run `work` for every target in parallel; failures are reported per target. */
  const eachTarget = async (targets: string[], work: (name: string) => Promise<void>) => {
    const names: string[] = [];
    for (const t of targets) {
      try {
        names.push(localName(t));
      } catch (err) {
        failures.report(t, err);
      }
    }
    if (failures.count > 0) return; // bad input changes nothing, not even for the good targets
    await Promise.all(names.map((n) => work(n).catch((err) => failures.report(n, err))));
  };

  const program = new Command('gear')
    .description('Run container images as systemd services')
    .version(VERSION, '-V, --version')
    .showHelpAfterError(false)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();

  program
    .command('install')
    .description('install IMAGE as a systemd unit for each NAME')
    .argument('<image>', 'image reference, e.g. test/web or registry:5000/app:1.2')
    .argument('<names...>', 'container names')
    .option('--start', 'start the containers after installing them')
    .option('-p, --ports <INTERNAL:EXTERNAL>', 'publish a port; EXTERNAL 0 allocates one (repeatable)', collect)
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file (NAME=VALUE lines)')
    .option('-v, --volume <HOST:CONTAINER[:ro]>', 'bind-mount a host path, or CONTAINER alone for a volume (repeatable)', collect)
    .option('--slice <name.slice>', 'systemd slice to run in (default gear.slice)')
    .action(async (image: string, names: string[], o: Record<string, unknown>) => {
      let body: Record<string, unknown>;
      try {
        body = installBody(image, o);
      } catch (err) {
        return failures.report(undefined, err);
      }
      await eachTarget(names, async (name) => {
        const r = await exec(operations.install, { id: name }, body);
        const ports = r.Ports.length ? ` (${portsText(r.Ports)})` : '';
        process.stdout.write(`${name} installed${r.State ? ' and started' : ''}${ports}\n`);
      });
    });

  const lifecycle = (name: string, op: Operation<{ Id: string }, { ActiveState: string; SubState: string }>, verb: string) =>
    program
      .command(name)
      .description(`${name} containers`)
      .argument('<names...>')
      .action((names: string[]) =>
        eachTarget(names, async (n) => {
          const s = await exec(op, { id: n });
          process.stdout.write(`${n} ${verb} (${s.ActiveState}/${s.SubState})\n`);
        }),
      );
  lifecycle('start', operations.start, 'started');
  lifecycle('stop', operations.stop, 'stopped');
  lifecycle('restart', operations.restart, 'restarted');

  program
    .command('delete')
    .description('stop and remove containers: unit, state, env file and ports')
    .argument('<names...>')
    .action((names: string[]) =>
      eachTarget(names, async (n) => {
        await exec(operations.remove, { id: n });
        process.stdout.write(`${n} deleted\n`);
      }),
    );

  program
    .command('status')
    .description('unit state, main pid, container and ports')
    .argument('<names...>')
    .option('--json', 'print JSON')
    .action((names: string[], o: { json?: boolean }) =>
      eachTarget(names, async (n) => {
        const s = await exec(operations.status, { id: n });
        process.stdout.write(o.json ? `${JSON.stringify(s)}\n` : statusText(s));
      }),
    );

  program
    .command('list-units')
    .description('list containers and their unit states')
    .option('-a, --all', 'include containers that are installed but not loaded')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const r = await exec(operations.list, {}, undefined, o.all ? { all: '1' } : {});
      if (o.json) return void process.stdout.write(`${JSON.stringify(r)}\n`);
      process.stdout.write(table(['ID', 'ACTIVE', 'SUB', 'LOAD'], r.Containers.map((c) => [c.Id, c.ActiveState, c.SubState, c.LoadState])));
    });

  program
    .command('logs')
    .description("a container's output, from the journal")
    .argument('<name>')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'only the last N lines')
    .action(async (name: string, o: { follow?: boolean; lines?: string }) => {
      const abort = new AbortController();
      // Ctrl-C or `timeout`: stop journalctl, flush what was printed, exit cleanly.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort());
      const query: Record<string, string> = {};
      if (o.lines !== undefined) query.lines = o.lines;
      if (o.follow) query.follow = '1';
      const op = operations.logs;
      const req = { ...op.parse({ params: { id: localName(name) }, query }), signal: abort.signal };
      for await (const e of await op.run(getHost(), req, progress)) process.stdout.write(journalLine(e));
    });

  program
    .command('env')
    .description("print a container's environment (env file format)")
    .argument('<names...>')
    .option('--json', 'print JSON')
    .action((names: string[], o: { json?: boolean }) =>
      eachTarget(names, async (n) => {
        const r = await exec(operations.getEnv, { id: n });
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : renderEnvFile(r.Variables));
      }),
    );

  program
    .command('set-env')
    .description("set variables in a container's environment; applied at its next (re)start")
    .argument('<name>')
    .argument('[assignments...]', 'NAME=VALUE')
    .option('--reset', 'replace the whole environment instead of merging into it')
    .action(async (name: string, assignments: string[], o: { reset?: boolean }) => {
      const Variables = assignments.map(parseAssignment);
      if (!o.reset && Variables.length === 0) throw invalid('nothing to set: give NAME=VALUE, or --reset to clear');
      await exec(o.reset ? operations.replaceEnv : operations.patchEnv, { id: localName(name) }, { Variables });
    });

  program
    .command('clean')
    .description('remove what interrupted installs left behind')
    .action(async () => {
      const r = await exec(operations.clean, {});
      for (const what of r.Removed) process.stdout.write(`removed ${what}\n`);
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
    .finally(() => host?.close());
}

function installBody(image: string, o: Record<string, unknown>): Record<string, unknown> {
  const Ports: PortPair[] = ((o.ports as string[]) ?? []).map(parsePortFlag);
  const fromFile: EnvVar[] = o.envFile ? parseEnvFile(readEnvFile(o.envFile as string), o.envFile as string) : [];
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
    SystemdSlice: o.slice,
  };
}

function readEnvFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid(`cannot read env file ${path}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`);
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
