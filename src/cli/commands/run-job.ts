import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { JobResult } from '../../operations/jobs.js';
import type { Progress } from '../../operations/operation.js';
import type { Cli } from '../cli.js';

/** A whole number of seconds, for --timeout. */
export function seconds(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) < 1) throw invalid(`${what} must be whole seconds (at least 1)`);
  return Number(text);
}

/**
 * A progress that writes a run's output to this process's stdout and
 * stderr, and a signal that Ctrl-C (or SIGTERM) aborts: the run's unit is
 * stopped, here or by the agent when the request goes.
 */
export function outputProgress(cli: Cli): Progress {
  const abort = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort());
  return {
    ...cli.progress,
    output: (chunk, stream) => void (stream === 'stderr' ? process.stderr : process.stdout).write(chunk),
    signal: abort.signal,
  };
}

/** `gear run-job [HOST/]IMAGE [-- CMD ARGS...]`: POST /jobs, its output here, its exit status as gear's. */
export function register(program: Command, cli: Cli): void {
  program
    .command('run-job')
    .description("run a one-off container in a transient unit: its output printed, its exit status gear's, removed after")
    .argument('<image>', 'the image (pulled if it is not here)')
    .argument('[command...]', 'the command and its arguments (after --), instead of the image\'s')
    .option('--entrypoint <cmd>', "run CMD instead of the image's entrypoint")
    .option('--timeout <seconds>', 'stop it after this long (default 3600)')
    .option('--on <host>', 'run it on this agent (HOST[:PORT])')
    .action(async (image: string, command: string[], o: { entrypoint?: string; timeout?: string; on?: string }) => {
      const backend = cli.backends().forServer(o.on ?? '');
      const timeout = seconds(o.timeout, '--timeout');
      const body = { Image: image, Arguments: command, ...(o.entrypoint ? { Command: o.entrypoint } : {}), ...(timeout ? { Timeout: timeout } : {}) };
      const r: JobResult = await backend.call(cli.operations.runJob, { params: {}, query: {}, body }, outputProgress(cli));
      if (r.Result === 'timeout') process.stderr.write(`gear: job ${r.Id} stopped: it ran longer than its time limit (${r.Timeout} s)\n`);
      if (r.Result === 'cancelled') process.stderr.write(`gear: job ${r.Id} cancelled\n`);
      // Its exit status as gear's; a job stopped without one (killed) is a failure all the same.
      cli.exitCode = r.ExitCode !== 0 ? Math.min(r.ExitCode, 255) : r.Result === 'exited' ? 0 : 1;
    });
}
