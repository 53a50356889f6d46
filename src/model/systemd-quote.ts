/**
 * Quoting for values written into unit files. systemd expands "%" specifiers
 * in most settings and "$VAR" in Exec lines, splits Exec lines on whitespace
 * and honours C-style escapes inside quotes. A line break would start a new
 * setting, so it is refused outright, as are other control characters.
 */
function refuseControl(value: string): void {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new Error(`refusing to write a control character into a unit file: ${JSON.stringify(value)}`);
}

/** A free-text setting (Description=): only specifiers need escaping. */
export function unitText(value: string): string {
  refuseControl(value);
  return value.replace(/%/g, '%%');
}

const PLAIN_WORD = /^[A-Za-z0-9_.,:/@+=-]+$/;

/** One argument of an Exec line, quoted only when it has to be. */
export function execArg(value: string): string {
  refuseControl(value);
  const escaped = value.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (PLAIN_WORD.test(value)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export const execLine = (argv: string[]) => argv.map(execArg).join(' ');

/** One word for /bin/sh: single-quoted unless plainly safe. For scripts in Exec lines (then execArg quotes for systemd). */
export function shellWord(value: string): string {
  refuseControl(value);
  return PLAIN_WORD.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
