import { Type, type Static } from '@sinclair/typebox';
import { invalid } from './errors.js';
import { closed } from './schema.js';

/**
 * Environment variables and the env file gear hands to `docker run
 * --env-file`. Docker reads that file line by line and takes everything after
 * the first "=" literally (no quotes, no escapes), so a value round-trips
 * exactly as long as it holds no line break or NUL: those are refused.
 */
export interface EnvVar {
  Name: string;
  Value: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_KEY = 256;
const MAX_VALUE = 64 * 1024;

/** A variable as the API takes it; validateEnvVar checks what the schema cannot say. */
export const EnvVarSchema = Type.Object({ Name: Type.String({ maxLength: MAX_KEY }), Value: Type.String({ maxLength: MAX_VALUE }) }, closed);
export const VariablesSchema = Type.Array(EnvVarSchema, { maxItems: 1000 });

/** The API's `Variables` (checked against VariablesSchema): each valid, no name twice. */
export function validateVariables(vars: Static<typeof VariablesSchema> = []): EnvVar[] {
  const seen = new Set<string>();
  return vars.map(({ Name, Value }) => {
    const parsed = validateEnvVar(Name, Value);
    if (seen.has(parsed.Name)) throw invalid(`environment variable ${parsed.Name} is given twice`);
    seen.add(parsed.Name);
    return parsed;
  });
}

export function validateEnvVar(name: unknown, value: unknown): EnvVar {
  if (typeof name !== 'string' || !KEY.test(name) || name.length > MAX_KEY)
    throw invalid(`environment variable name ${JSON.stringify(name)} is not valid (letters, digits, "_"; not starting with a digit)`);
  if (typeof value !== 'string') throw invalid(`environment variable ${name} must have a string value`);
  if (/[\n\r\0]/.test(value)) throw invalid(`environment variable ${name} contains a line break or NUL, which an env file cannot hold`);
  if (value.length > MAX_VALUE) throw invalid(`environment variable ${name} is longer than ${MAX_VALUE} characters`);
  return { Name: name, Value: value };
}

/** `NAME=VALUE` as given on the command line; the value is everything after the first "=". */
export function parseAssignment(text: string): EnvVar {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalid(`${JSON.stringify(text)} must look like NAME=VALUE`);
  return validateEnvVar(text.slice(0, eq), text.slice(eq + 1));
}

/**
 * Parse an env file a user wrote (`--env-file`): NAME=VALUE lines, blank lines
 * and #-comments skipped, `export ` prefixes tolerated, values taken
 * literally. Errors name the offending line.
 */
export function parseEnvFile(text: string, source = 'env file'): EnvVar[] {
  const vars: EnvVar[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*(#.*)?$/.test(line)) return;
    const body = line.replace(/^\s*(export\s+)?/, '');
    try {
      vars.push(parseAssignment(body));
    } catch (err) {
      throw invalid(`${source}, line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return vars;
}

/** Later assignments win; order of first appearance is kept so files diff nicely. */
export function mergeEnv(...lists: EnvVar[][]): EnvVar[] {
  const merged = new Map<string, string>();
  for (const list of lists) for (const v of list) merged.set(v.Name, v.Value);
  return [...merged].map(([Name, Value]) => ({ Name, Value }));
}

export function renderEnvFile(vars: EnvVar[]): string {
  return vars.map((v) => `${v.Name}=${v.Value}\n`).join('');
}
