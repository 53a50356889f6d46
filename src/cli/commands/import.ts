import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { composeEnvFile, importCompose } from '../../model/compose.js';
import { readableJson } from '../../model/deployment/format.js';
import type { Cli } from '../cli.js';
import { readText } from '../files.js';

/** A file beside the Compose file, or undefined when it is not there. */
function readBeside(base: string, path: string): string | undefined {
  try {
    return readFileSync(resolve(base, path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * `gear import COMPOSE-FILE`: a deployment descriptor on stdout from a
 * Compose file (model/compose.ts); a warning on stderr for each key with no
 * equivalent. env_files and the `.env` used for ${VAR} are read beside the
 * Compose file, as Compose reads them; this shell's variables win over .env.
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('import')
    .description('print a deployment descriptor (JSON, for gear deploy) made from a Compose file; warns of what has no equivalent')
    .argument('<compose-file>', 'a Compose file (compose.yml, docker-compose.yml)')
    .action((file: string) => {
      const text = readText(file, 'Compose file');
      const base = dirname(resolve(file));
      const dotEnv = readBeside(base, '.env');
      const variables: Record<string, string | undefined> = {
        ...(dotEnv === undefined ? {} : Object.fromEntries(composeEnvFile(dotEnv, '.env').map((v) => [v.Name, v.Value]))),
        ...process.env,
      };
      const { descriptor, warnings } = importCompose({ text, file, variables, readEnvFile: (p) => readBeside(base, p) });
      for (const w of warnings) process.stderr.write(`gear: import: warning: ${file}: ${w}\n`);
      // As gear writes resolved files: one line per port, link or variable.
      cli.print(`${readableJson(descriptor)}\n`);
    });
}
