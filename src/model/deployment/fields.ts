import { invalid } from '../errors.js';

/** Reading a descriptor's JSON: fields by case-insensitive name, lists, flags, and errors that name the field. */

export const show = (v: unknown) => JSON.stringify(v);

/** A field error: "containers[1].links[0].to: no container named "db"". */
export const fieldError = (path: string, message: string) => invalid(`${path}: ${message}`);

/**
 * An object's fields by lower-cased name (the seed's keys are
 * case-insensitive); unknown fields are refused, so a typo never passes
 * as a default.
 */
export function fields(value: unknown, path: string, known: string[]): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, 'must be an object');
  const out = new Map<string, unknown>();
  for (const [key, v] of Object.entries(value)) {
    const k = key.toLowerCase();
    if (!known.includes(k)) throw fieldError(path ? `${path}.${key}` : key, `unknown field (known: ${known.join(', ')})`);
    if (out.has(k)) throw fieldError(path ? `${path}.${key}` : key, 'is given twice (keys are case-insensitive)');
    out.set(k, v);
  }
  return out;
}

export function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fieldError(path, 'must be a list');
  return value;
}

export function wrap<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fieldError(path, (err as Error).message);
  }
}

export function bool(value: unknown, path: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw fieldError(path, 'must be true or false');
  return value;
}
