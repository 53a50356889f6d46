import type { Command } from 'commander';
import { GearError, describeError, invalid } from '../model/errors.js';
import type { Progress } from '../operations/index.js';
import type { Backend, BackendSource, Target } from './backend.js';

type Runtime = typeof import('./runtime.js');

/** Commands whose actions need none of the runtime (the agent loads its own parts; the generated texts need only the program). */
const standalone = new WeakSet<Command>();

/** Mark a command as acting without src/cli/runtime.ts: the hook before its action loads nothing. */
export function actsAlone(command: Command): Command {
  standalone.add(command);
  return command;
}

/** A repeatable option's values. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--with FILE`: the commands that act on a deployment's instances. */
export const withOption = ['--with <file>', 'act on the instances of a deployment (the FILE.<timestamp> gear deploy wrote) on the HOST[:PORT]s named as arguments'] as const;

/** A user-supplied string shown in an error: quoted and escaped unless plainly printable. */
const printable = (text: string) => (/^[\x21-\x7e]+$/.test(text) ? text : JSON.stringify(text));

/**
 * What every command shares: output, failures (one line each on stderr; the
 * command exits 1 if any), the backends named by the global options, and
 * the two ways gear acts on what the command line names: one request per
 * container (`eachTarget`) and one request per host (`eachHost`).
 */
export class Cli {
  /** Failures reported so far: the exit code is 1 when there are any. */
  failures = 0;
  /** The exit code a command chose (run-job: its job's), used when nothing failed. */
  exitCode = 0;
  readonly progress: Progress = { pull: (ref, p) => (this.pullTo ??= this.runtime.pullReporter(process.stderr))(ref, p), note: (m) => process.stderr.write(`${m}\n`) };
  private pullTo?: ReturnType<Runtime['pullReporter']>;
  private backendsMade?: BackendSource;
  private loaded?: Runtime;

  /** `backends`: where targets run (tests pass their own); by default made from the global options. */
  constructor(
    private readonly program: Command,
    backends?: BackendSource,
  ) {
    this.backendsMade = backends;
    // Before any command's action (a hook on the program runs for its subcommands too).
    program.hook('preAction', async (_, action) => void (standalone.has(action) || (await this.load())));
  }

  /**
   * Load what actions act with (src/cli/runtime.ts): done before every
   * action, so that a command line that only parses (--help, --version, a
   * refused flag) loads none of it.
   */
  async load(): Promise<Runtime> {
    return (this.loaded ??= await import('./runtime.js'));
  }

  /** What actions act with (src/cli/runtime.ts): loaded before every action (load()). */
  get runtime(): Runtime {
    if (!this.loaded) throw new Error('internal: a command acted before Cli.load()');
    return this.loaded;
  }

  /** Every operation (src/operations/index.ts), once loaded. */
  get operations(): Runtime['operations'] {
    return this.runtime.operations;
  }

  print(text: string): void {
    process.stdout.write(text);
  }

  /** One line on stderr: "gear: TARGET: message (hint)". */
  report(target: string | undefined, err: unknown): void {
    this.failures++;
    const hint = err instanceof GearError && err.hint ? ` (${err.hint})` : '';
    process.stderr.write(`gear: ${target ? `${printable(target)}: ` : ''}${describeError(err)}${hint}\n`);
  }

  /** The global options. */
  get options(): { tokenFile?: string; ca?: string; fingerprint?: string; insecurePlaintext?: boolean } {
    return this.program.opts();
  }

  /** Backends per host, made on first use from the global options and the environment. */
  backends(): BackendSource {
    this.backendsMade ??= this.runtime.makeBackends(this.options, process.env);
    return this.backendsMade;
  }

  /** One container named on the command line (its errors end the command). */
  target(text: string): Target {
    return this.backends().target(text);
  }

  /**
   * One request per container: resolve every target first (bad input
   * changes nothing, not even for the good targets), then run `work` for all
   * of them in parallel; failures are reported one line per target.
   */
  async eachTarget(texts: string[], work: (t: Target) => Promise<void>): Promise<void> {
    await this.load();
    const failed = this.failures;
    const targets: Target[] = [];
    for (const text of texts) {
      try {
        targets.push(this.target(text));
      } catch (err) {
        this.report(text, err);
      }
    }
    if (this.failures > failed) return;
    await Promise.all(targets.map((t) => work(t).catch((err) => this.report(t.display, err))));
  }

  /**
   * One request per host, all hosts at once: `work` gets each host's
   * backend; a host that fails is reported on one line (named by `label`)
   * and the others carry on. Results come back in the order of `hosts`,
   * undefined for those that failed.
   */
  async eachHost<H, T>(hosts: H[], label: (h: H) => string | undefined, work: (h: H) => Promise<T>): Promise<(T | undefined)[]> {
    return Promise.all(
      hosts.map(async (h) => {
        try {
          return await work(h);
        } catch (err) {
          this.report(label(h), err);
          return undefined;
        }
      }),
    );
  }

  /** Agents named as `HOST[:PORT]` (none: this host), with their backends, one request each. */
  async eachServer<T>(hosts: string[], work: (backend: Backend, server: string) => Promise<T>): Promise<(T | undefined)[]> {
    await this.load();
    return this.eachHost(hosts.length ? hosts : [''], (server) => server || undefined, (server) => work(this.backends().forServer(server), server));
  }

  /** Containers named on the command line, grouped by host: one request per host naming all of its containers. */
  async eachTargetHost(texts: string[], work: (backend: Backend, targets: Target[]) => Promise<void>): Promise<void> {
    const groups = new Map<Backend, Target[]>();
    await this.eachTarget(texts, async (t) => void groups.set(t.backend, [...(groups.get(t.backend) ?? []), t]));
    await this.eachHost(
      [...groups],
      ([, targets]) => targets.map((t) => t.display).join(', '),
      ([backend, targets]) => work(backend, targets),
    );
  }

  /**
   * Targets named on the command line, or the instances of a deployment on
   * the hosts named (`--with FILE HOST...`); its instances on other hosts
   * are reported, not contacted.
   */
  targetsOf(texts: string[], withFile: string | undefined): string[] {
    if (withFile !== undefined) {
      const { targets, elsewhere } = this.runtime.deploymentTargets(withFile, texts);
      for (const t of elsewhere) this.report(t, 'not contacted: its host is not among the hosts named');
      return targets;
    }
    if (texts.length === 0) throw invalid('name at least one target (or --with FILE)');
    return texts;
  }

  close(): void {
    this.backendsMade?.close();
  }
}
