import type { Command } from 'commander';

// Option declarations shared by commands. They load with every command line
// (commander needs them to parse it); what checks their values (cli/limits.ts,
// cli/env-files.ts) loads with the runtime (docs/decisions.md).

/** install's resource limit flags; "none" removes a limit the container has (absent keeps it). */
export function addLimitOptions(cmd: Command): Command {
  return cmd
    .option('--memory <size>', 'memory limit (K, M, G; e.g. 256M), swap included: the container is OOM-killed beyond it, and restarted; on a re-install, limits not given are kept, none removes one')
    .option('--cpus <n>', 'CPU limit in CPUs (e.g. 0.5; none)')
    .option('--pids <n>', 'the most processes and threads the container may have at once (none)');
}

/**
 * `--env-format` of `--env-file`: `strict` (gear's own rules, the default:
 * every line is NAME=VALUE, a blank or a #-comment, else the command
 * fails naming the line) or `geard` (the seed's rules, model/env-geard.ts:
 * lines without "=" ignored, quoted values unquoted; a line the seed would
 * skip is skipped with a warning naming it).
 */
export const envFormatOption = ['--env-format <format>', 'rules of --env-file: strict (gear\'s, the default) or geard (the seed\'s: lines without "=" ignored, Go-quoted values unquoted)'] as const;
