/**
 * localeCompare's order (`new Intl.Collator().compare`: ICU's root
 * collation) for names of ASCII letters, digits, `_`, `-` and `.` (gear's
 * container names), without loading ICU's collation data: about 3 MiB of
 * the agent's resident memory, paged in by the first collator made. In
 * that order the characters weigh `_ - . 0-9 a-z` with case ignored (a
 * prefix first), and only when two names are equal so is the first case
 * difference decided, lower case first. A pair with any other character
 * is left to localeCompare itself (tests/unit/name-order.test.ts holds
 * the two orders against each other).
 */
const WEIGHT = new Int8Array(128).fill(-1);
[...'_-.0123456789abcdefghijklmnopqrstuvwxyz'].forEach((c, i) => {
  WEIGHT[c.charCodeAt(0)] = i;
  WEIGHT[c.toUpperCase().charCodeAt(0)] = i;
});

const weight = (code: number) => (code < 128 ? WEIGHT[code]! : -1);

export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = weight(a.charCodeAt(i));
    const y = weight(b.charCodeAt(i));
    if (x < 0 || y < 0) return a.localeCompare(b);
    if (x !== y) return x - y;
  }
  for (let i = n; i < a.length; i++) if (weight(a.charCodeAt(i)) < 0) return a.localeCompare(b);
  for (let i = n; i < b.length; i++) if (weight(b.charCodeAt(i)) < 0) return a.localeCompare(b);
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    // Same letter, other case: lower case (the higher code) first.
    if (x !== y) return y - x;
  }
  return 0;
}
