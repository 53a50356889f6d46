import { validateEnvVar, type EnvVar } from './env.js';

/**
 * The seed system's env-file rules (GEARD-WIRE.md §6), for `--env-format
 * geard` and for environments fetched from a URL (Environment.Source):
 *
 * - a line without "=" is ignored; the line splits at its first "=";
 * - the name loses leading spaces and tabs; a space or tab left in it makes
 *   the line bad; it is 1 to 1024 bytes;
 * - the value is unquoted as Go's strconv.Unquote does ("…" with escapes,
 *   `…` raw, 'x' one character) when it is one quoted string, else taken as
 *   it is; then surrounding whitespace is trimmed; at most 8192 bytes;
 * - no comments, no `export`: `#A=1` defines "#A";
 * - the last of duplicate names wins.
 *
 * Bad lines are skipped, as the seed does. gear then holds each variable to
 * its own rules (validateEnvVar: a shell-like name, no line break or NUL in
 * the value, which its env file could not carry): a line that passes the
 * seed's rules but not gear's is skipped too, and reported in `skipped`.
 */
export interface GeardEnv {
  Variables: EnvVar[];
  /** Lines that define nothing, with why (never the value: it may be a secret). */
  skipped: { line: number; reason: string }[];
}

const MAX_NAME_BYTES = 1024;
const MAX_VALUE_BYTES = 8192;

export function parseGeardEnv(text: string): GeardEnv {
  const found = new Map<string, string>();
  const skipped: GeardEnv['skipped'] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const eq = line.indexOf('=');
    if (eq < 0) return; // not an assignment: silently ignored, as the seed does
    const skip = (reason: string) => skipped.push({ line: i + 1, reason });
    const name = line.slice(0, eq).replace(/^[ \t]+/, '');
    if (/[ \t]/.test(name)) return skip('the name has white space');
    if (name === '') return skip('the name is empty');
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) return skip(`the name is longer than ${MAX_NAME_BYTES} bytes`);
    const value = goTrimSpace(goUnquote(line.slice(eq + 1)) ?? line.slice(eq + 1));
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES) return skip(`the value of ${name} is longer than ${MAX_VALUE_BYTES} bytes`);
    try {
      validateEnvVar(name, value);
    } catch (err) {
      return skip((err as Error).message);
    }
    found.delete(name); // the last one wins; listed where it was last defined
    found.set(name, value);
  });
  return { Variables: [...found].map(([Name, Value]) => ({ Name, Value })), skipped };
}

// Go's unicode.IsSpace (strings.TrimSpace): not JavaScript's \s, which also takes U+FEFF.
const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'g');
export const goTrimSpace = (s: string) => s.replace(TRIM, '');

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };

/**
 * Go's strconv.Unquote: the string's content if `s` is exactly one Go
 * string or rune literal, else undefined. \x and octal escapes give bytes,
 * decoded as UTF-8 with the rest.
 */
export function goUnquote(s: string): string | undefined {
  if (s.length < 2) return undefined;
  const quote = s[0]!;
  if (s[s.length - 1] !== quote) return undefined;
  const body = s.slice(1, -1);
  if (quote === '`') return body.includes('`') ? undefined : body.replace(/\r/g, '');
  if (quote !== '"' && quote !== "'") return undefined;
  if (body.includes('\n')) return undefined;
  const bytes: number[] = [];
  const pushText = (t: string) => bytes.push(...Buffer.from(t, 'utf8'));
  let runes = 0;
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    runes++;
    if (c === quote) return undefined; // an unescaped quote inside
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushText(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return undefined;
    if (e in SIMPLE_ESCAPES) {
      bytes.push(SIMPLE_ESCAPES[e]!);
      i += 2;
    } else if (e === quote) {
      bytes.push(e.charCodeAt(0));
      i += 2;
    } else if (e === 'x') {
      const hex = body.slice(i + 2, i + 4);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 4;
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
      bytes.push(parseInt(oct, 8));
      i += 4;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex)) return undefined;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      pushText(String.fromCodePoint(cp));
      i += 2 + n;
    } else return undefined;
  }
  if (quote === "'" && runes !== 1) return undefined;
  return Buffer.from(bytes).toString('utf8');
}
