import { validateEnvVar, type EnvVar } from '../model/env.js';
import { invalid } from '../model/errors.js';
import { bodyObject } from './operation.js';

/** The API's `Variables: [{Name, Value}]`, each validated, no name twice. */
export function parseEnvironmentVariables(value: unknown): EnvVar[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('Variables must be a list of {Name, Value}');
  const seen = new Set<string>();
  return value.map((v: unknown) => {
    const { Name, Value } = bodyObject(v, ['Name', 'Value']);
    const parsed = validateEnvVar(Name, Value ?? '');
    if (seen.has(parsed.Name)) throw invalid(`environment variable ${parsed.Name} is given twice`);
    seen.add(parsed.Name);
    return parsed;
  });
}
