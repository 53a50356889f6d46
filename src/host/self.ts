import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The gear program sshd runs (AuthorizedKeysCommand, a login's shell) and
 * sudo allows: GEAR_BIN, else the checkout's or image's bin/gear beside the
 * running bundle (dist/gear.js), else the bundle itself. An absolute real
 * path (sshd checks the owner and modes of each of its directories).
 */
export function gearBin(): string {
  if (process.env.GEAR_BIN) return process.env.GEAR_BIN;
  const bundle = realpathSync(process.argv[1] ?? '/usr/bin/gear');
  const bin = join(dirname(bundle), '..', 'bin', 'gear');
  return existsSync(bin) ? realpathSync(bin) : bundle;
}
