import { randomInt } from 'node:crypto';

/**
 * Instance ids: IdPrefix + NAME-N, or with RandomizeIds IdPrefix + random
 * characters. The seed's random ids were base64url without the prefix
 * (they could start with "-" or "_", and were 50 characters long); gear's
 * keep the prefix and use lower-case letters and digits only, so every id
 * is a valid container name whatever the prefix.
 */

export const RANDOM_ID_CHARS = 16;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export const numberedId = (prefix: string, name: string, n: number) => `${prefix}${name}-${n}`;

/** IdPrefix + 16 characters of [a-z0-9] (about 82 random bits). */
export function randomId(prefix: string, pick: (n: number) => number = randomInt): string {
  let id = prefix;
  for (let i = 0; i < RANDOM_ID_CHARS; i++) id += ALPHABET[pick(ALPHABET.length)];
  return id;
}
