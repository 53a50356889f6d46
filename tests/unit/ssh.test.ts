import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  authorizedKeysLine,
  fingerprintFile,
  fingerprintOfFile,
  parseForcedCommand,
  parseGitCommand,
  parseGitUrl,
  parseKeyFile,
  parsePublicKey,
  parseRepoSource,
  sshTarget,
  sshdBlock,
  validateRef,
  validateRepoName,
  withoutSshdBlock,
} from '../../src/model/ssh.js';
import { fakeHost, filesUnder } from '../fixtures/fake-host.js';

// Keys made by ssh-keygen; fingerprints as `ssh-keygen -lf` printed them.
const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIDUBdBK5JY1SGm4nX3k9aYQxUdQpt6LQe5PZJ0XeQ6Fy';
const EC = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJcHpUVlgdxBYFzf1yRDAzLrvRiUW9BPyWVa0VOIUBAZ2sJ+TVq38VR20OD13/vs09/pBn7suj9gt3rVJUweVzA=';

const refused = (f: () => unknown, re: RegExp) => {
  try {
    f();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`accepted, expected ${re}`);
};

test('public keys: type and blob read strictly, fingerprint as ssh-keygen -l, comment dropped', () => {
  assert.equal(parsePublicKey(`ssh-ed25519 ${ED} me@laptop`), { type: 'ssh-ed25519', blob: ED, fingerprint: 'SHA256:N57UT8u1Ap+0CAeA6FKGlV8q30bXi12/EREUPWVGA2Q' });
  assert.is(parsePublicKey(`ecdsa-sha2-nistp256 ${EC}\n`).fingerprint, 'SHA256:sAIHZhf/PghQGTGWjS0EmxnSPIYdT2q6aJKSTMdq928');
  const fp = parsePublicKey(`ecdsa-sha2-nistp256 ${EC}`).fingerprint;
  assert.is(fingerprintOfFile(fingerprintFile(fp)), fp);
  assert.not.match(fingerprintFile(fp), /[/+]/);
  assert.is(fingerprintOfFile('../x'), undefined);
});

test('public keys: options, wrong types, bad base64, a blob of another type, extra lines and control characters are refused', () => {
  refused(() => parsePublicKey(`command="sh" ssh-ed25519 ${ED}`), /options before the key type are not accepted/);
  refused(() => parsePublicKey(`no-pty,restrict ssh-ed25519 ${ED}`), /options before the key type are not accepted/);
  refused(() => parsePublicKey(`ssh-dss ${ED}`), /type "ssh-dss" is not one of/);
  refused(() => parsePublicKey('ssh-ed25519 AAAA!!'), /not base64/);
  refused(() => parsePublicKey('ssh-ed25519'), /not base64/);
  refused(() => parsePublicKey(`ssh-ed25519 ${ED.slice(0, -1)}`), /not base64|canonical/);
  refused(() => parsePublicKey(`ssh-rsa ${ED}`), /not a ssh-rsa key/);
  refused(() => parsePublicKey(`ssh-ed25519 ${ED}\nssh-ed25519 ${ED}`), /control characters/);
  refused(() => parsePublicKey(`ssh-ed25519 ${ED} a\rb`), /control characters/);
  refused(() => parsePublicKey(`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5`), /not a ssh-ed25519 key/);
});

test('key files: comments and blank lines skipped; the failing line named; at least one key', () => {
  assert.is(parseKeyFile(`# mine\n\nssh-ed25519 ${ED} a\necdsa-sha2-nistp256 ${EC}\n`).length, 2);
  refused(() => parseKeyFile(`ssh-ed25519 ${ED}\nbad`), /^line 2: public key: type "bad"/);
  refused(() => parseKeyFile('# none\n'), /no public key given/);
});

test('authorized_keys lines: restrict and a forced command; pty only for containers', () => {
  const k = parsePublicKey(`ssh-ed25519 ${ED}`);
  assert.is(authorizedKeysLine(k, 'repo', 'r1', 'write'), `restrict,command="ssh-serve repo r1 write" ssh-ed25519 ${ED}`);
  assert.is(authorizedKeysLine(k, 'repo', 'r1', 'read'), `restrict,command="ssh-serve repo r1 read" ssh-ed25519 ${ED}`);
  assert.is(authorizedKeysLine(k, 'ctr', 'web-1', 'write'), `restrict,pty,command="ssh-serve ctr web-1" ssh-ed25519 ${ED}`);
  assert.equal(parseForcedCommand('ssh-serve repo r1 read'), { kind: 'repo', name: 'r1', access: 'read' });
  assert.equal(parseForcedCommand('ssh-serve ctr web-1')?.name, 'web-1');
  for (const bad of ['ssh-serve repo r1', 'ssh-serve ctr web-1 write', 'ssh-serve repo ../x read', 'sh -c id', 'ssh-serve repo r1 write; id']) assert.is(parseForcedCommand(bad), undefined, bad);
});

test('git commands: the three services on ~ only; push needs write', () => {
  assert.equal(parseGitCommand("git-upload-pack '~'", 'read'), { verb: 'git-upload-pack' });
  assert.equal(parseGitCommand("git-receive-pack '/~'", 'write'), { verb: 'git-receive-pack' });
  assert.equal(parseGitCommand("git upload-archive '~/'", 'read'), { verb: 'git-upload-archive' });
  refused(() => parseGitCommand("git-receive-pack '~'", 'read'), /may read the repository, not push/);
  refused(() => parseGitCommand(undefined, 'write'), /runs git only/);
  for (const bad of ['id', "git-upload-pack '/etc'", "git-upload-pack '~/../x'", "git-upload-pack '~'; id", "git-upload-pack '~' x", "git-shell -c id", "git-upload-pack '~other'"])
    refused(() => parseGitCommand(bad, 'write'), /only git clone/);
});

test('repository names, refs, logins: path tricks refused', () => {
  assert.is(validateRepoName('my_repo-1'), 'my_repo-1');
  for (const bad of ['', '../x', 'a/b', '.git', 'Upper', '-x', 'a'.repeat(28), 'a b', 'x\n']) refused(() => validateRepoName(bad), /repository name/);
  assert.is(validateRef('feature/x'), 'feature/x');
  for (const good of ['feature/x', 'feature/x/y-2', 'v1.2', 'release_1.0/rc.1', 'HEAD', '0123abcd']) assert.is(validateRef(good), good);
  for (const bad of ['', '-x', '../x', 'a..b', '/x', 'x/', 'x.lock', 'a b', 'x@{1}', 'a//b', '.hidden', 'a/.b', 'a/b.lock/c', 'x.', 'x\n', 'a\\b', 'a:b', 'a~1', 'a^', 'a*', 'a?', 'a[', '%2e%2e', 'a'.repeat(256)])
    refused(() => validateRef(bad), /ref/);
  assert.equal(sshTarget('ctr-web-1'), { kind: 'ctr', name: 'web-1' });
  assert.equal(sshTarget('repo-r1'), { kind: 'repo', name: 'r1' });
  for (const u of ['root', 'ctr-', 'repo-../x', 'ctr-Web', 'gear-70001']) assert.is(sshTarget(u), undefined, u);
});

test('git URLs: http, https and git only, no credentials; #REF; repo://NAME', () => {
  assert.equal(parseGitUrl('https://example.com/a.git#v1'), { url: 'https://example.com/a.git', ref: 'v1' });
  assert.equal(parseGitUrl('git://10.0.0.1/src.git'), { url: 'git://10.0.0.1/src.git' });
  for (const bad of ['file:///etc', 'ssh://h/x', 'ext::sh -c id', 'https://u:p@h/x', 'https://h/x#a#b', 'https://h/x#-x', 'not a url']) refused(() => parseGitUrl(bad), /git URL|ref/);
  assert.equal(parseRepoSource('repo://r1#main'), { name: 'r1', ref: 'main' });
  assert.is(parseRepoSource('/srv/src'), undefined);
  refused(() => parseRepoSource('repo://../x'), /repository name/);
});

test('sshd_config: the block appended and taken out again, the rest unchanged', () => {
  const config = 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n';
  const block = sshdBlock('/usr/bin/gear');
  assert.ok(block.includes('\tAuthorizedKeysCommand /usr/bin/gear auth-keys-command %u'));
  const added = `${config}\n${block.join('\n')}\n`;
  assert.is(withoutSshdBlock(added), config);
  assert.is(withoutSshdBlock(config), config);
  refused(() => withoutSshdBlock(`${config}${block[0]}\n`), /without its end line/);
});

test('key store: a deleted target\'s grants go, and with them the keys no other login uses', async () => {
  const h = fakeHost();
  const ed = parsePublicKey(`ssh-ed25519 ${ED}`);
  const ec = parsePublicKey(`ecdsa-sha2-nistp256 ${EC}`);
  await h.host.keys.grant([ed, ec], ['ctr-a'], 'read');
  await h.host.keys.grant([ec], ['repo-b'], 'write');
  const keyFiles = () => filesUnder(h.root).filter((f) => f.startsWith('/var/lib/gear/ssh/keys/')).map((f) => f.slice(f.lastIndexOf('/') + 1)).sort();
  assert.equal(keyFiles(), [fingerprintFile(ed.fingerprint), fingerprintFile(ec.fingerprint)].sort());
  await h.host.keys.revokeAll('ctr-a');
  assert.is(await h.host.keys.has('ctr-a'), false);
  assert.equal(keyFiles(), [fingerprintFile(ec.fingerprint)], 'the key repo-b still uses is kept, the other forgotten');
  assert.equal((await h.host.keys.grants()).map((g) => `${g.login} ${g.access}`), ['repo-b write']);
  await h.host.keys.revokeAll('repo-b');
  assert.equal(keyFiles(), []);
});

test.run();
