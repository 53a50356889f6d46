import { Type, type Static, type TNull, type TSchema, type TUnion } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { invalid } from './errors.js';

/** Objects of the API refuse fields they do not define: a typo must not pass silently. */
export const closed = { additionalProperties: false } as const;

/**
 * A field that also takes `null`, meaning the same as absent: geard's Go
 * clients send `null` for an empty list or object (`"NetworkLinks":null`).
 * Its errors name what a non-null value must be (see describeSchemaError).
 */
export const nullable = <T extends TSchema>(schema: T): TUnion<[T, TNull]> => Type.Union([schema, Type.Null()]);

/**
 * A JSON schema (TypeBox) used as a check: compiled on first use (a CLI
 * command that never parses a request never pays for it), then one call per
 * value. A refused value gets one readable message naming the first field
 * at fault, e.g. `body/Ports[0].Internal must be <= 65535`.
 */
export class SchemaCheck<T extends TSchema> {
  private compiled?: TypeCheck<T>;

  constructor(readonly schema: T) {}

  /**
   * The value, typed, or an `invalid` error. `where` names the value:
   * "NetworkLinks" gives `NetworkLinks[0].FromPort ...`; a name ending in
   * "/" (the parts of a request: "body/", "query/") gives `body/Ports[0]...`.
   */
  check(value: unknown, where: string, prefix = ''): Static<T> {
    const compiled = (this.compiled ??= TypeCompiler.Compile(this.schema));
    if (compiled.Check(value)) return value;
    const first = compiled.Errors(value).First();
    throw invalid(`${prefix}${first ? describeSchemaError(first, where) : `${at(where, [])} is not valid`}`);
  }
}

/** JSON pointer segments ("/Ports/0/Internal" -> Ports, 0, Internal). */
const segments = (pointer: string) =>
  pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/** A readable path: where + Ports[0].Internal. */
function at(where: string, path: string[]): string {
  let out = where;
  for (const s of path) out += /^[0-9]+$/.test(s) ? `[${s}]` : out === '' || out.endsWith('/') ? s : `.${s}`;
  return out.endsWith('/') ? out.slice(0, -1) : out;
}

type Bounds = { minimum?: number; maximum?: number; minLength?: number; maxLength?: number; minItems?: number; maxItems?: number };

/** The one-line message for a schema error: the field, then what it must be. */
export function describeSchemaError(e: ValueError, where: string): string {
  const path = segments(e.path);
  const s = e.schema as Bounds & { properties?: object };
  const field = at(where, path);
  switch (e.type) {
    case ValueErrorType.Union: {
      // A nullable field (nullable()), or one of several forms: describe what the form the value
      // took found wrong (an error deeper than the field itself), else what the first non-null form wants.
      const variants = (e.errors ?? []).map((it) => it.First()).filter((v): v is ValueError => v !== undefined && v.type !== ValueErrorType.Null);
      const chosen = variants.find((v) => v.path !== e.path) ?? variants[0];
      return chosen ? describeSchemaError(chosen, where) : `${field} is not valid`;
    }
    case ValueErrorType.ObjectAdditionalProperties: {
      // The name as sent, cut short: a message never carries a megabyte of someone's key.
      const name = path.at(-1)!;
      return `${at(where, path.slice(0, -1))} has an unknown field ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name)}`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return `${field} is required`;
    case ValueErrorType.Object: {
      const keys = Object.keys(s.properties ?? {});
      return `${field} must be an object${keys.length && keys.length <= 4 ? ` {${keys.join(', ')}}` : ''}`;
    }
    case ValueErrorType.Array:
      return `${field} must be a list`;
    case ValueErrorType.ArrayMinItems:
      return s.minItems === 1 ? `${field} must be a non-empty list` : `${field} must have at least ${s.minItems} items`;
    case ValueErrorType.ArrayMaxItems:
      return `${field} must have at most ${s.maxItems} items`;
    case ValueErrorType.String:
      // A query parameter given twice arrives as a list.
      return Array.isArray(e.value) && where.startsWith('query') ? `${field} is given more than once` : `${field} must be string`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? `${field} must not be empty` : `${field} must be at least ${s.minLength} characters long`;
    case ValueErrorType.StringMaxLength:
      return `${field} must be at most ${s.maxLength} characters long`;
    case ValueErrorType.Integer:
      return `${field} must be an integer${s.minimum !== undefined && s.maximum !== undefined ? ` ${s.minimum}-${s.maximum}` : ''}`;
    case ValueErrorType.Number:
      return `${field} must be a number`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `${field} must be >= ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `${field} must be <= ${s.maximum}`;
    case ValueErrorType.Boolean:
      return `${field} must be true or false`;
    default:
      return `${field} is not valid (${e.message.toLowerCase()})`;
  }
}
