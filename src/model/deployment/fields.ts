import { invalid } from '../errors.js';

/** Reading a descriptor's JSON: fields by case-insensitive name, lists, flags, and errors that name the field. */

export const show = (v: unknown) => JSON.stringify(v);

/** A field error: "containers[1].links[0].to: no container named "db"". */
export const fieldError = (path: string, message: string) => invalid(`${path}: ${message}`);

/** Where warnings about a descriptor go ("containers[0].notify: unknown field, ignored ..."). */
export type Warn = (message: string) => void;

/**
 * An object's fields by lower-cased name (the seed's keys are
 * case-insensitive). Unknown fields are ignored, as the seed's JSON decoder
 * did, so its files keep working; each one is reported through `warn`, so a
 * typo does not pass unseen.
 */
export function fields(value: unknown, path: string, known: string[], warn: Warn): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, 'must be an object');
  const out = new Map<string, unknown>();
  for (const [key, v] of Object.entries(value)) {
    const k = key.toLowerCase();
    const at = path ? `${path}.${key}` : key;
    if (!known.includes(k)) {
      warn(`${at}: unknown field, ignored (known: ${known.join(', ')})`);
      continue;
    }
    if (out.has(k)) throw fieldError(at, 'is given twice (keys are case-insensitive)');
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

/** An optional string field ("" when absent or null). */
export function text(value: unknown, path: string, max: number): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw fieldError(path, 'must be a string');
  if (value.length > max) throw fieldError(path, `is longer than ${max} characters`);
  return value;
}
