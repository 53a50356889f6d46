import { invalid } from './errors.js';

/**
 * Isolated containers (install --isolate, the seed's Isolate): each runs as
 * a host user and group of its own, with a uid (= gid) from gear's range,
 * recorded in its definition. The pure part: the range, the user's name,
 * what an image must be to run that way, the SELinux level, the flags of
 * `docker run`. See docs/decisions.md ("Isolation").
 */

/** What a definition records of an isolated container. */
export interface Isolation {
  /** Host uid the container's processes run as; the gid is the same number. */
  Uid: number;
  Gid: number;
  /** The host user (and group) of that uid, made by gear: `ctr-NAME`, or `gear-UID` for names a user name cannot hold. */
  User: string;
  /** SELinux MCS level (s0:cA,cB) passed to docker, only when SELinux enforced at install. */
  Label?: string;
}

/** Categories of MCS levels: c0..c1023, as container-selinux allots them; pairs of two. */
const CATEGORIES = 1024;
const MCS_LEVELS = (CATEGORIES * (CATEGORIES - 1)) / 2;

export interface IdRange {
  first: number;
  last: number;
}

/**
 * 70000-79999: above the regular users' (login.defs UID_MAX 60000) and
 * systemd's (homed 60001-60513, DynamicUser 61184-65519, nobody 65534),
 * below the subordinate ids userns-remap and rootless runtimes take
 * (100000 and up), in what systemd's UID/GID notes leave unused.
 */
export const DEFAULT_UID_RANGE: IdRange = { first: 70000, last: 79999 };

/** GEAR_UID_RANGE "FIRST-LAST": above the system and regular users, not 65534/65535, at most 2^31-2. */
export function parseIdRange(text: string, what = 'GEAR_UID_RANGE'): IdRange {
  const m = /^([0-9]{1,10})-([0-9]{1,10})$/.exec(text);
  if (!m) throw invalid(`${what} ${JSON.stringify(text)} is not a range FIRST-LAST`);
  const [first, last] = [Number(m[1]), Number(m[2])];
  if (first < 1000 || last > 2147483646 || first > last) throw invalid(`${what} ${text} must be FIRST-LAST with 1000 <= FIRST <= LAST <= 2147483646`);
  if (first <= 65535 && last >= 65534) throw invalid(`${what} ${text} holds 65534-65535 (nobody, and -1 of 16-bit ids)`);
  // Each uid of the range has an MCS level of its own (mcsLevel).
  if (last - first >= MCS_LEVELS) throw invalid(`${what} ${text} holds more than ${MCS_LEVELS} ids`);
  return { first, last };
}

/**
 * The host user of a container: `ctr-NAME`, the unit's own name (a
 * sysadmin reading `ps -o user` or `ls -l` sees which container), when NAME
 * is a user name every useradd takes (lower case letters, digits, `_`,
 * `-`; 32 characters in all). Other names (upper case, dots, long ones)
 * get `gear-UID`; the user's comment names the container either way.
 */
export function hostUserName(id: string, uid: number): string {
  const name = `ctr-${id}`;
  return /^[a-z0-9_-]+$/.test(id) && name.length <= 32 ? name : `gear-${uid}`;
}

/** The comment (GECOS) of a container's host user: gear's mark on it. */
export const hostUserComment = (id: string) => `gear container ${id}`;

/**
 * Why an image cannot run isolated, from its configured USER (Config.User
 * of `docker image inspect`), or undefined when it can. An image that runs
 * as root (no USER, root, 0) is run as the container's uid instead. One
 * that names a user of its own was built for that user: its files belong
 * to it and its name resolves only inside the image; running it as another
 * uid breaks it in ways gear cannot see, so it is refused.
 */
export function imageUserRefusal(image: string, user: string | undefined): string | undefined {
  const u = (user ?? '').trim();
  if (u === '' || /^(root|0)(:(root|0))?$/.test(u)) return undefined;
  return `image ${image} runs as its own user ${JSON.stringify(u)} (USER in the image): --isolate would run it as another uid, which its files are not made for; install it without --isolate`;
}


/**
 * The SELinux MCS level of the container whose uid is `index` places into
 * the range: a pair of categories cA,cB (A < B), distinct for every index
 * below 1024*1023/2 = 523776 (the range is checked against that). Two
 * categories, as Docker and podman pick them, so no container's level
 * dominates another's.
 */
export function mcsLevel(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MCS_LEVELS) throw invalid(`no MCS level for index ${index}`);
  // Pairs in order (0,1) (0,2) ... (0,1023) (1,2) ...: row a has 1023-a pairs.
  let a = 0;
  let rest = index;
  while (rest >= CATEGORIES - 1 - a) {
    rest -= CATEGORIES - 1 - a;
    a++;
  }
  return `s0:c${a},c${a + 1 + rest}`;
}

/** The host's SELinux mode, from /sys/fs/selinux/enforce (absent: SELinux is off or not in the kernel). */
export type SelinuxMode = 'enforcing' | 'permissive' | 'disabled';
export const selinuxMode = (enforce: string | undefined): SelinuxMode =>
  enforce === undefined ? 'disabled' : enforce.trim() === '1' ? 'enforcing' : 'permissive';

/** What gear says of SELinux for an isolated container, in install's note and status. */
export function selinuxText(iso: Isolation, mode?: SelinuxMode): string {
  if (iso.Label) return `SELinux level ${iso.Label}`;
  return `no SELinux label (SELinux is ${mode === 'enforcing' ? 'enforcing now, but was not at install: install again to get one' : mode ?? 'not enforcing'} on this host)`;
}

/**
 * `docker run` flags of an isolated container: its uid and gid, no
 * capabilities (a non-root process has none in effect, but setuid files
 * could give them back: dropped from the bounding set, and
 * no-new-privileges stops setuid and file capabilities), and its MCS level
 * when it has one.
 */
export function isolationRunArgs(iso: Isolation): string[] {
  return [
    '--user',
    `${iso.Uid}:${iso.Gid}`,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    ...(iso.Label ? ['--security-opt', `label=level:${iso.Label}`] : []),
  ];
}

/** The ids (third field) of /etc/passwd or /etc/group text. */
export function idsInUserDb(text: string | undefined): Set<number> {
  const ids = new Set<number>();
  for (const line of (text ?? '').split('\n')) {
    const id = line.split(':')[2];
    if (id !== undefined && /^[0-9]+$/.test(id)) ids.add(Number(id));
  }
  return ids;
}

/** The entry of `name` in /etc/passwd or /etc/group text: its id and (passwd) comment. */
export function userDbEntry(text: string | undefined, name: string): { id: number; comment: string } | undefined {
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return { id: Number(f[2]), comment: f[4] ?? '' };
  }
  return undefined;
}

/** "as ctr-web-1 (uid 70001, gid 70001)" */
export const isolationText = (iso: Isolation) => `as ${iso.User} (uid ${iso.Uid}, gid ${iso.Gid})`;
