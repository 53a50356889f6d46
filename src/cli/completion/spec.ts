import type { Command, Option } from 'commander';

/**
 * The command definitions (src/cli/program.ts) as plain data, for the
 * shell completions and the man page: they are generated from the same
 * commander program that parses the command line, so they cannot drift.
 */

/** What a word completes to: a container ([HOST/]NAME), an agent (HOST[:PORT]), a file, one of fixed words, or nothing known. */
export type Kind = 'container' | 'host' | 'file' | 'none' | { words: string[] };

export interface OptionSpec {
  /** "-p, --ports <INTERNAL:EXTERNAL,...>" */
  flags: string;
  short?: string;
  long?: string;
  /** The value's placeholder ("<file>"), when the option takes one. */
  value?: string;
  /** What its value completes to (only when it takes one). */
  kind: Kind;
  description: string;
}

export interface ArgumentSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  kind: Kind;
  description: string;
}

export interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  args: ArgumentSpec[];
}

export interface ProgramSpec {
  name: string;
  description: string;
  version: string;
  options: OptionSpec[];
  commands: CommandSpec[];
}

/** By the placeholder's name: files, agents, containers, or a choice "<a|b>". */
function valueKind(placeholder: string): Kind {
  const inner = placeholder.replace(/^[<[]|[>\]]$/g, '');
  if (/^[a-z-]+(\|[a-z-]+)+$/.test(inner)) return { words: inner.split('|') };
  if (/^(file|dir|path)$/.test(inner)) return 'file';
  if (/^(host|source)$/.test(inner)) return 'host';
  if (/^name(,\.\.\.)?$/.test(inner)) return 'container';
  return 'none';
}

/** By the argument's name: gear's names for containers (targets, ids, names) and agents (hosts); one described as a directory is a path (build's source). */
function argumentKind(name: string, description: string): Kind {
  if (/^an? directory\b/.test(description)) return 'file';
  if (/^(targets?|ids?|names?|args)$/.test(name)) return 'container';
  if (/^(hosts?|source)$/.test(name)) return 'host';
  if (name === 'file') return 'file';
  return 'none';
}

function optionSpec(o: Option): OptionSpec {
  const value = /[<[][^>\]]*[>\]]/.exec(o.flags)?.[0];
  return {
    flags: o.flags,
    ...(o.short ? { short: o.short } : {}),
    ...(o.long ? { long: o.long } : {}),
    ...(value ? { value } : {}),
    kind: o.argChoices ? { words: o.argChoices } : value ? valueKind(value) : 'none',
    description: o.description,
  };
}

/** commander's help and version options are not in `options` until help is built: added as the user sees them. */
const HELP: OptionSpec = { flags: '-h, --help', short: '-h', long: '--help', kind: 'none', description: 'display help for command' };

export function programSpec(program: Command): ProgramSpec {
  return {
    name: program.name(),
    description: program.description(),
    version: program.version() ?? '',
    options: [...program.options.map(optionSpec), HELP],
    // Hidden commands (apply-links: run by units, not by people) are not offered, as --help does not list them.
    commands: program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => ({
      name: c.name(),
      description: c.description(),
      options: [...c.options.map(optionSpec), HELP],
      args: c.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, kind: a.argChoices ? { words: a.argChoices } : argumentKind(a.name(), a.description), description: a.description })),
    })),
  };
}
