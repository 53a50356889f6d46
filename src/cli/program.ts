import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import type { BackendSource } from './backend.js';
import { Cli } from './cli.js';
import { commands } from './commands/index.js';
import { normalizeBooleanFlags } from './syntax.js';

/** The gear program: the global options and every command (src/cli/commands/), acting through `backends` (default: from the options). */
export function makeProgram(backends?: BackendSource): { program: Command; cli: Cli } {
  const program = new Command('gear')
    .description('Run container images as systemd services, on this host or on gear agents')
    .version(VERSION, '-V, --version')
    .option('--token-file <file>', 'bearer token: sent to agents (or GEAR_TOKEN_FILE, or the token itself in GEAR_TOKEN); for `gear daemon`, the token TCP clients must send')
    .option('--ca <file>', 'TLS to agents beyond loopback, their certificate signed by this CA (or GEAR_CA)')
    .option('--fingerprint <sha256:hex>', "TLS to agents beyond loopback, their certificate pinned by its SHA-256 fingerprint (or GEAR_FINGERPRINT)")
    .option('--insecure-plaintext', 'allow the token in clear text to agents beyond loopback (or GEAR_INSECURE_PLAINTEXT=1); for `gear daemon`, allow TCP listeners beyond loopback without TLS')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText('after', '\nTargets: [ctr://][HOST[:PORT]/]NAME; without HOST (or with HOST `local`) the container is on this host.')
    .exitOverride();
  const cli = new Cli(program, backends);
  for (const command of commands) command.register(program, cli);
  return { program, cli };
}

/** Run a command line (process.argv's shape): its exit code; failures are reported on stderr, one line each. */
export async function runProgram(argv: string[], backends?: BackendSource): Promise<number> {
  const { program, cli } = makeProgram(backends);
  try {
    await program.parseAsync(normalizeBooleanFlags(argv));
    return cli.failures > 0 ? 1 : cli.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed it
    cli.report(undefined, err);
    return 1;
  } finally {
    cli.close();
  }
}
