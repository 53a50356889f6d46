import { parseEnvFile, type EnvVar } from '../model/env.js';
import { parseGeardEnv } from '../model/env-geard.js';
import { invalid } from '../model/errors.js';
import type { Cli } from './cli.js';
import { readText } from './files.js';


export function readEnvFile(path: string, format: string | undefined, cli: Pick<Cli, 'progress'>): EnvVar[] {
  const text = readText(path, 'env file');
  if (format === undefined || format === 'strict') return parseEnvFile(text, path);
  if (format !== 'geard') throw invalid(`--env-format must be strict or geard, not ${JSON.stringify(format)}`);
  const { Variables, skipped } = parseGeardEnv(text);
  // Names and reasons only: a value may be a secret.
  for (const s of skipped) cli.progress.note?.(`gear: ${path}, line ${s.line} skipped: ${s.reason}`);
  return Variables;
}
