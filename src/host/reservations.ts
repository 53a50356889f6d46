import type { HostFs } from './fs.js';

/**
 * What port and uid reservations share: a directory of files, each named by
 * the reserved number and holding its owner's name. Read back as
 * number -> owner; a file being written (still empty) has no owner yet.
 */
export async function readReservations(fs: HostFs, dir: string): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  for (const entry of await fs.list(dir)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const owner = (await fs.read(`${dir}/${entry}`))?.trim();
    if (owner) owners.set(Number(entry), owner);
  }
  return owners;
}
