/** FILE.<timestamp> for a descriptor FILE; a resolved file's own timestamp is replaced, not stacked. */
export function resolvedName(file: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]+Z$/, '').replace('T', '-');
  return `${file.replace(/\.[0-9]{8}-[0-9]{6}(?:-[0-9]+)?$/, '')}.${stamp}`;
}
