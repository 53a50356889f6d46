import { invalid } from '../model/errors.js';
import { isGeardSlice } from '../model/names.js';

/**
 * The seed system's (geard's) command-line forms that gear reads as well as
 * its own: comma lists for -p/-n/-v, `-n=VALUE`, `--flag=true|false` for
 * boolean flags, NAME=VALUE arguments after an install's names, slices
 * named without ".slice", and `local` for this host. Each is turned into
 * gear's own form here, so that commands build the same request either way.
 */

const show = (text: string) => JSON.stringify(text);

/**
 * One use of a list flag: items separated by commas. geard's pflag handed
 * `-n=VALUE` over as "=VALUE": one leading "=" is dropped. An empty item
 * ("8080:0,", ",", "a,,b") is a mistake, not nothing.
 */
export function listItems(flag: string, value: string): string[] {
  const list = value.startsWith('=') ? value.slice(1) : value;
  if (list === '') throw invalid(`${flag} needs a value`);
  const items = list.split(',');
  if (items.some((i) => i === '')) throw invalid(`${flag} ${show(value)} has an empty item (items are separated by single commas)`);
  return items;
}

/**
 * A commander argument parser for a list flag: every use adds its items
 * (gear's repeatable flags), so `-p 80:0 -p 81:0` and `-p 80:0,81:0` are the
 * same. geard kept only the last use; see docs/decisions.md.
 */
export const listFlag =
  (flag: string) =>
  (value: string, previous: string[] = []): string[] => [...previous, ...listItems(flag, value)];

/** The items of a list flag given under two names (gear's and geard's), in the order of the names. */
export const itemsOf = (...uses: (string[] | undefined)[]): string[] => uses.flatMap((u) => u ?? []);

/**
 * An install's arguments after the image: containers, and NAME=VALUE
 * environment variables (an argument with "=" is one: no container name or
 * host can hold "="). Their order among the names does not matter.
 */
export function splitInstallArgs(args: string[]): { targets: string[]; assignments: string[] } {
  return { targets: args.filter((a) => !a.includes('=')), assignments: args.filter((a) => a.includes('=')) };
}

/** The image argument of install: never a NAME=VALUE (those come after the container names). */
export function checkImageArg(image: string): string {
  if (image.includes('='))
    throw invalid(`the first argument is the image, and ${show(image)} is not one (NAME=VALUE variables come after the container names)`);
  return image;
}

/**
 * `--slice NAME`: geard's classes (container-small, its default) mean gear's
 * default slice (no SystemdSlice sent, as when its body names them over the
 * API); other names without ".slice" get it (gear's units need it).
 */
export const sliceName = (text: string): string | undefined =>
  isGeardSlice(text) ? undefined : text.endsWith('.slice') ? text : `${text}.slice`;

/** Boolean flags that geard's pflag also took as `--NAME=true` / `--NAME=false`. */
const BOOLEAN_FLAGS = new Set(['start', 'isolate', 'socket-activated', 'all', 'quiet', 'dry-run', 'repair', 'no-wait', 'reset', 'clear', 'keep-volumes', 'json', 'follow']);

/**
 * The command line with `--FLAG=true` turned into `--FLAG` and
 * `--FLAG=false` dropped, for gear's boolean flags (commander takes no value
 * for them); `--FLAG=` anything else is refused. Everything after "--" is
 * left alone.
 */
export function normalizeBooleanFlags(argv: string[]): string[] {
  const out: string[] = [];
  let ended = false;
  for (const arg of argv) {
    const m = ended ? null : /^--([a-z-]+)=(.*)$/s.exec(arg);
    if (arg === '--') ended = true;
    if (m && BOOLEAN_FLAGS.has(m[1]!)) {
      // Anything else is a mistake, named as one (commander would call it an unknown option).
      if (m[2] !== 'true' && m[2] !== 'false') throw invalid(`--${m[1]} takes true or false, not ${show(m[2]!)}`);
      if (m[2] === 'true') out.push(`--${m[1]}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** `local`: geard's name for this host, as a host argument or in `local/NAME`. */
export const LOCAL_HOST = 'local';

/** The host a deploy without hosts places everything on (the seed's name for it, too). */
export const LOCAL_DEPLOY_HOST = 'localhost';
