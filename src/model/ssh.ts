import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { invalid } from './errors.js';
import { closed } from './schema.js';

/**
 * The pure part of Git repositories and SSH access (issue 14): repository
 * names, public keys read strictly, the authorized_keys lines gear prints
 * for sshd, the git commands a key may run, and the sshd_config block of
 * `gear ssh-setup`. Design and why it is safe: docs/decisions.md ("SSH").
 */

/**
 * A repository's name: it becomes a directory (STATE/git/NAME.git) and a
 * host user (repo-NAME, at most 32 characters for useradd), so only lower
 * case letters, digits, "_" and "-", starting with a letter or digit: no
 * "/", no "..", nothing a path or a user database could read otherwise.
 */
export function validateRepoName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw invalid('repository name must not be empty');
  if (!/^[a-z0-9][a-z0-9_-]{0,26}$/.test(name))
    throw invalid(`repository name ${JSON.stringify(name.slice(0, 64))} is not valid`, 'use 1-27 lower case letters, digits, "_" and "-", starting with a letter or digit');
  return name;
}

/** The host user of a repository (its files are this user's; git runs as it). */
export const repoUserName = (name: string) => `repo-${name}`;
export const repoUserComment = (name: string) => `gear repository ${name}`;
/** Who holds a repository's uid reservation (a container name cannot contain ":"). */
export const repoUidOwner = (name: string) => `repo:${name}`;
export const isRepoUidOwner = (owner: string) => owner.startsWith('repo:');

/** What an SSH login name reaches: `ctr-NAME` a container, `repo-NAME` a repository; anything else nothing. */
export function sshTarget(user: string): { kind: 'ctr' | 'repo'; name: string } | undefined {
  const m = /^(ctr|repo)-([a-z0-9][a-z0-9_-]{0,27})$/.exec(user);
  return m ? { kind: m[1] as 'ctr' | 'repo', name: m[2]! } : undefined;
}

/** The key types sshd takes whose public blob begins with the type's own name. */
export const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export interface PublicKey {
  type: string;
  /** The key's blob, base64 (canonical: re-encoded from its bytes). */
  blob: string;
  /** OpenSSH's SHA256 fingerprint: "SHA256:" + unpadded base64 of the blob's digest. */
  fingerprint: string;
}

/**
 * One public key line, read strictly: `TYPE BASE64 [COMMENT]` and nothing
 * else. A line that begins with options (`command=...,no-pty ssh-rsa ...`)
 * is refused: gear writes the options itself. The base64 must be canonical
 * and its blob must name the same type (length-prefixed string first), so
 * nothing but a key reaches sshd. The comment is not kept.
 */
export function parsePublicKey(line: string): PublicKey {
  const text = line.replace(/\r?\n$/, '');
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) throw invalid('public key: the line holds control characters');
  if (text.length > 16384) throw invalid('public key: the line is longer than 16384 characters');
  const fields = text.trim().split(/[ \t]+/);
  const type = fields[0] ?? '';
  if (!(KEY_TYPES as readonly string[]).includes(type)) {
    if (/[=,"]/.test(type)) throw invalid('public key: options before the key type are not accepted (gear sets the options of its keys)');
    throw invalid(`public key: type ${JSON.stringify(type.slice(0, 40))} is not one of ${KEY_TYPES.join(', ')}`);
  }
  const b64 = fields[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw invalid('public key: the key is not base64');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) throw invalid('public key: the key is not canonical base64');
  const inner = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (inner !== type.length || bytes.subarray(4, 4 + inner).toString('latin1') !== type || bytes.length <= 4 + inner)
    throw invalid(`public key: the key's data is not a ${type} key`);
  const fingerprint = `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
  return { type, blob: b64, fingerprint };
}

/** A key file's keys: one per line, blank lines and `#` comments skipped; at least one, at most 100. */
export function parseKeyFile(text: string): PublicKey[] {
  const keys: PublicKey[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.trim().startsWith('#')) return;
    try {
      keys.push(parsePublicKey(line));
    } catch (err) {
      throw invalid(`line ${i + 1}: ${(err as Error).message}`);
    }
  });
  if (keys.length === 0) throw invalid('no public key given');
  if (keys.length > 100) throw invalid('at most 100 keys at once');
  return keys;
}

/** A fingerprint as a file name: base64url (no "/"). */
export const fingerprintFile = (fp: string) => fp.replace(/^SHA256:/, '').replace(/\+/g, '-').replace(/\//g, '_');
export const fingerprintOfFile = (file: string) => /^[A-Za-z0-9_-]{43}$/.test(file) ? `SHA256:${file.replace(/-/g, '+').replace(/_/g, '/')}` : undefined;

export type Access = 'read' | 'write';

/**
 * A fingerprint as `gear list-keys` and `ssh-keygen -lf` print it:
 * "SHA256:" and 43 base64 characters (no padding). Anything else is 400.
 */
export function validateFingerprint(fp: unknown, what = 'fingerprint'): string {
  if (typeof fp !== 'string' || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(fp))
    throw invalid(`${what} ${JSON.stringify(typeof fp === 'string' ? fp.slice(0, 80) : fp)} is not a key fingerprint (SHA256: and 43 base64 characters, as ssh-keygen -lf prints it)`);
  return fp;
}

/**
 * What a login's forced command is: the words gear's login shell reads
 * (`gear ssh-serve KIND NAME [write]`). Written by gear only; the shell
 * checks them against the login's own user again.
 */
export const forcedCommand = (kind: 'ctr' | 'repo', name: string, access?: Access) => `ssh-serve ${kind} ${name}${kind === 'repo' ? ` ${access ?? 'read'}` : ''}`;

export function parseForcedCommand(cmd: string): { kind: 'ctr' | 'repo'; name: string; access: Access } | undefined {
  const m = /^ssh-serve (ctr|repo) ([a-z0-9][a-z0-9_-]{0,27})(?: (read|write))?$/.exec(cmd);
  if (!m || (m[1] === 'repo') !== (m[3] !== undefined)) return undefined;
  return { kind: m[1] as 'ctr' | 'repo', name: m[2]!, access: (m[3] as Access | undefined) ?? 'write' };
}

/**
 * The authorized_keys line sshd gets for a key: `restrict` (no port,
 * agent or X11 forwarding, no pty, no ~/.ssh/rc) and the forced command;
 * a container's login may have a terminal (`pty`), a repository's not.
 */
export function authorizedKeysLine(key: PublicKey, kind: 'ctr' | 'repo', name: string, access: Access): string {
  return `restrict${kind === 'ctr' ? ',pty' : ''},command="${forcedCommand(kind, name, access)}" ${key.type} ${key.blob}`;
}

/** The git commands a repository's key may run, and what each needs. */
const GIT_VERBS: Record<string, Access> = { 'git-upload-pack': 'read', 'git-upload-archive': 'read', 'git-receive-pack': 'write' };

/**
 * The command git's client sent (SSH_ORIGINAL_COMMAND), checked: one of the
 * three git services, on the login's own repository (`~`, `~/`, `/~`,
 * quoted as git quotes it), with the access it needs. Anything else is
 * refused with a line for the client's stderr.
 */
export function parseGitCommand(original: string | undefined, access: Access): { verb: string } {
  if (!original) throw invalid('this login runs git only (git clone ssh://USER@HOST/~); no shell');
  const m = /^(git[ -](?:upload-pack|receive-pack|upload-archive)) '?(\/?~\/?)'?$/.exec(original.trim());
  if (!m) throw invalid('only git clone, fetch, push and archive of this repository are allowed (path ~)');
  const verb = m[1]!.replace(' ', '-');
  if (GIT_VERBS[verb] === 'write' && access !== 'write') throw invalid('this key may read the repository, not push to it');
  return { verb };
}

/**
 * A git reference for an archive or a build (`main`, `feature/x`, `v1.2`,
 * a commit id), by git's check-ref-format rules, narrowed: letters, digits
 * and `._/-` only (so no space, control character, `~^:?*[\\`, `@{`);
 * not starting with "-" (never an option) or "/"; no empty component
 * ("//", a trailing "/"), no component starting with "." or ending with
 * ".lock", no "..", not ending with ".". At most 255 characters.
 */
export function validateRef(ref: unknown): string {
  if (typeof ref !== 'string' || ref === '') throw invalid('ref must not be empty');
  const parts = ref.split('/');
  if (
    !/^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$/.test(ref) ||
    ref.includes('..') ||
    ref.endsWith('.') ||
    parts.some((p) => p === '' || p.startsWith('.') || p.endsWith('.lock'))
  )
    throw invalid(`ref ${JSON.stringify(ref.slice(0, 64))} is not valid`);
  return ref;
}

/**
 * A repository to clone or a build's git source: http, https or git URLs
 * only (not file://, ssh:// or git's ext:: transport: those would let a
 * caller read the agent's own files or run its commands), no credentials,
 * no whitespace. `#REF` at the end picks a branch or tag.
 */
export function parseGitUrl(text: string): { url: string; ref?: string } {
  const [url, ref, ...rest] = text.split('#');
  if (rest.length) throw invalid(`git URL ${JSON.stringify(text.slice(0, 200))} has more than one "#"`);
  let u: URL;
  try {
    u = new URL(url!);
  } catch {
    throw invalid(`git URL ${JSON.stringify(text.slice(0, 200))} is not a URL`);
  }
  if (!['http:', 'https:', 'git:'].includes(u.protocol)) throw invalid(`git URL ${JSON.stringify(text.slice(0, 200))}: only http, https and git URLs are accepted`);
  if (u.username || u.password) throw invalid('git URL: credentials in the URL are not accepted');
  if (/[\s\x00-\x1f\x7f]/.test(url!)) throw invalid('git URL: whitespace or control characters');
  return { url: url!, ...(ref !== undefined ? { ref: validateRef(ref) } : {}) };
}

/** repo://NAME[#REF]: a repository of this host as a build's source. */
export function parseRepoSource(text: string): { name: string; ref?: string } | undefined {
  if (!text.startsWith('repo://')) return undefined;
  const [name, ref, ...rest] = text.slice('repo://'.length).split('#');
  if (rest.length) throw invalid(`source ${JSON.stringify(text.slice(0, 200))} has more than one "#"`);
  return { name: validateRepoName(name), ...(ref !== undefined ? { ref: validateRef(ref) } : {}) };
}

export const SSHD_BEGIN = '# gear ssh-setup: begin (gear ssh-setup --remove takes these lines out)';
export const SSHD_END = '# gear ssh-setup: end';

/**
 * The lines `gear ssh-setup` appends to sshd_config (a Match block, so at
 * the end): for ctr-* and repo-* logins only, keys come from gear alone
 * (AuthorizedKeysCommand; no authorized_keys file, no password), and
 * nothing but the forced command: every forwarding off, also where a key
 * line would allow it.
 */
export function sshdBlock(gearBin: string): string[] {
  return [
    SSHD_BEGIN,
    'Match User ctr-*,repo-*',
    `\tAuthorizedKeysCommand ${gearBin} auth-keys-command %u`,
    '\tAuthorizedKeysCommandUser root',
    '\tAuthorizedKeysFile none',
    '\tPasswordAuthentication no',
    '\tKbdInteractiveAuthentication no',
    '\tAllowTcpForwarding no',
    '\tAllowStreamLocalForwarding no',
    '\tAllowAgentForwarding no',
    '\tX11Forwarding no',
    '\tPermitTunnel no',
    '\tGatewayPorts no',
    '\tPermitUserRC no',
    SSHD_END,
  ];
}

/** sshd_config without gear's block (and the blank line before it); the same text when there is none. */
export function withoutSshdBlock(config: string): string {
  const lines = config.split('\n');
  const begin = lines.indexOf(SSHD_BEGIN);
  if (begin < 0) return config;
  const end = lines.indexOf(SSHD_END, begin);
  if (end < 0) throw invalid(`sshd_config has "${SSHD_BEGIN}" without its end line: fix it by hand`);
  const from = begin > 0 && lines[begin - 1] === '' ? begin - 1 : begin;
  return [...lines.slice(0, from), ...lines.slice(end + 1)].join('\n');
}

export const AddKeysBodySchema = Type.Object(
  {
    /** The seed's: [{Type: "authorized_keys", Value: "ssh-ed25519 AAAA..."}]. */
    Keys: Type.Array(Type.Object({ Type: Type.Optional(Type.String({ maxLength: 32 })), Value: Type.String({ minLength: 1, maxLength: 16384 }) }, closed), { minItems: 1, maxItems: 100 }),
    Containers: Type.Optional(Type.Array(Type.Object({ Id: Type.String({ maxLength: 64 }) }, closed), { maxItems: 256 })),
    Repositories: Type.Optional(Type.Array(Type.Object({ Id: Type.String({ maxLength: 64 }) }, closed), { maxItems: 256 })),
    /** Repositories: push too (default: clone and fetch only). */
    WriteAccess: Type.Optional(Type.Boolean()),
  },
  closed,
);

/** DELETE /keys: the keys (as POST /keys takes them, or by fingerprint) and the targets whose grants go. */
export const RemoveKeysBodySchema = Type.Object(
  {
    Keys: Type.Optional(Type.Array(Type.Object({ Type: Type.Optional(Type.String({ maxLength: 32 })), Value: Type.String({ minLength: 1, maxLength: 16384 }) }, closed), { maxItems: 100 })),
    Fingerprints: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 100 })),
    Containers: Type.Optional(Type.Array(Type.Object({ Id: Type.String({ maxLength: 64 }) }, closed), { maxItems: 256 })),
    Repositories: Type.Optional(Type.Array(Type.Object({ Id: Type.String({ maxLength: 64 }) }, closed), { maxItems: 256 })),
  },
  closed,
);

export const CreateRepoBodySchema = Type.Object({ CloneUrl: Type.Optional(Type.String({ maxLength: 2048 })) }, closed);
