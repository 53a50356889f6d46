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

/**
 * An environment's id: env/ID.env under the state directory, and the
 * argument of `gear env`/`gear set-env`. A container's own environment has
 * its name as id. Names' alphabet and length, except that an id may also
 * start with "_" or "-": the seed's CLI makes random base64url ids (22
 * characters of [A-Za-z0-9_-]) whenever it sends variables without
 * --env-id, and one in 32 of them starts so. The id only ever appears after
 * the state directory in a path, never as an argument of its own.
 */
const ENV_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
export const MAX_ENV_ID_LENGTH = 64;

export function validateEnvId(id: unknown, what = 'environment id'): string {
  if (typeof id !== 'string' || id.length === 0) throw invalid(`${what} must not be empty`);
  if (id.length > MAX_ENV_ID_LENGTH) throw invalid(`${what} is ${id.length} characters long; the limit is ${MAX_ENV_ID_LENGTH}`);
  if (!ENV_ID.test(id) || id.includes('..'))
    throw invalid(`${what} ${JSON.stringify(id)} is not valid`, 'use letters, digits, "_", "." and "-"');
  return id;
}

/** The most an environment fetched from a URL may be (the seed's limit). */
export const MAX_SOURCE_BYTES = 100 * 1024;

/** Environment.Source: an http or https URL the agent GETs (checked before anything is fetched). */
export function validateEnvSource(source: unknown, what = 'Environment.Source'): URL {
  if (typeof source !== 'string' || source.length > 2048) throw invalid(`${what} must be a URL of at most 2048 characters`);
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw invalid(`${what} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${what} must be an http:// or https:// URL, not ${url.protocol}`);
  return url;
}

/** A URL as errors show it: no credentials, no query (either may carry a secret). */
export const showSource = (url: URL) => `${url.protocol}//${url.host}${url.pathname}`;
