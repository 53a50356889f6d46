import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { Cli } from '../cli.js';
import { readText } from '../files.js';
import { refuseReadableStdout, sameFile, writePrivateFile } from '../private-output.js';

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
 * `gear import COMPOSE-FILE [-o FILE]`: a deployment descriptor from a
 * Compose file (model/compose.ts), on stdout or into FILE (0600, replaced
 * whole); a warning on stderr for each key with no equivalent. env_files
 * and the `.env` used for ${VAR} are read beside the Compose file, as
 * Compose reads them; this shell's variables win over .env. A descriptor
 * with environment values is not printed into a file others can read
 * (cli/private-output.ts).
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('import')
    .description('print a deployment descriptor (JSON, for gear deploy) made from a Compose file; warns of what has no equivalent')
    .argument('<compose-file>', 'a Compose file (compose.yml, docker-compose.yml)')
    .option('-o, --output <file>', 'write the descriptor to FILE, readable by you only (0600), replaced whole; it holds the environment values')
    .action(async (file: string, o: { output?: string }) => {
      // yaml and the descriptor's model: loaded by this command alone.
      const { composeEnvFile, importCompose } = await import('../../model/compose.js');
      const text = readText(file, 'Compose file');
      const base = dirname(resolve(file));
      const dotEnv = readBeside(base, '.env');
      const variables: Record<string, string | undefined> = {
        ...(dotEnv === undefined ? {} : Object.fromEntries(composeEnvFile(dotEnv, '.env').map((v) => [v.Name, v.Value]))),
        ...process.env,
      };
      const { descriptor, warnings } = importCompose({ text, file, variables, readEnvFile: (p) => readBeside(base, p) });
      // As gear writes resolved files: one line per port, link or variable.
      const out = `${cli.runtime.readableJson(descriptor)}\n`;
      const secret = (descriptor.Containers as { Environment?: unknown[] }[]).some((c) => c.Environment?.length);
      // Checked before anything is said: a refusal leaves one line, not warnings and then the line.
      if (o.output === undefined && secret) refuseReadableStdout('the descriptor holds environment values (often secrets)');
      if (o.output !== undefined && sameFile(o.output, file)) throw invalid(`-o ${o.output} is the Compose file itself: name another file`);
      for (const w of warnings) process.stderr.write(`gear: import: warning: ${file}: ${w}\n`);
      if (o.output === undefined) return cli.print(out);
      writePrivateFile(o.output, out);
      process.stderr.write(`gear: import: wrote ${o.output} (0600)\n`);
    });
}
