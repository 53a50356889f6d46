/**
 * YAML for plain JSON-like values (the Kubernetes export): block mappings
 * and sequences, every string double-quoted with JSON's escapes (a subset
 * of YAML's double-quoted style), so no value is ever read back as another
 * type ("no", "1e3", "0x1f", "null", ":" or "#" inside). Keys are quoted
 * unless plainly safe.
 */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const RESERVED = /^(y|yes|n|no|true|false|on|off|null|~)$/i;

const key = (k: string) => (PLAIN_KEY.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k));

function scalar(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} in YAML`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  throw new Error(`cannot write a ${typeof v} in YAML`);
}

const isEmpty = (v: unknown) => typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

function block(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (typeof item === 'object' && item !== null && !isEmpty(item)) {
        const [first, ...rest] = block(item, `${indent}  `);
        return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
      }
      return [`${indent}- ${item !== null && typeof item === 'object' ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
    });
  }
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => {
    if (x === undefined) return [];
    if (typeof x === 'object' && x !== null && !isEmpty(x)) return [`${indent}${key(k)}:`, ...block(x, Array.isArray(x) ? indent : `${indent}  `)];
    return [`${indent}${key(k)}: ${x !== null && typeof x === 'object' ? (Array.isArray(x) ? '[]' : '{}') : scalar(x)}`];
  });
}

/** One YAML document per object, each begun with "---". */
export function yamlDocuments(docs: Record<string, unknown>[]): string {
  return docs.map((d) => `---\n${block(d, '').join('\n')}\n`).join('');
}
