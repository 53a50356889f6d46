import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, curl, gear, hostIp, run, sh, startAgent, stateListing, stopAgent } from './harness.js';

// Git repositories and SSH access (issue 14) on a real host: Debian's sshd,
// started here as a transient unit after `gear ssh-setup`, asking gear for
// keys (AuthorizedKeysCommand); git over it; logins into containers.
const IP = hostIp(H);
const SSH = 'ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR -o ConnectTimeout=20';
const as = (key: string) => `${SSH} -i /root/k-${key}`;
/** The same at LogLevel INFO: the client says why a channel was refused ("administratively prohibited"). */
const asInfo = (key: string) => as(key).replace('LogLevel=ERROR', 'LogLevel=INFO');
const GIT = 'git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=master';

/** A builder (busybox): assemble copies the source to /app; the image's run prints it. */
const MAKE_BUILDER = String.raw`
set -e
d=$(mktemp -d)
mkdir -p $d/s2i
printf '#!/bin/sh\nset -e\nmkdir -p /app\ncp -r /tmp/src/. /app/\necho "assemble: $(find /app -type f | wc -l) files"\n' > $d/s2i/assemble
printf '#!/bin/sh\nexec cat /app/hi.txt\n' > $d/s2i/run
chmod 755 $d/s2i/*
docker rm -f gear-test-mkgitbuilder >/dev/null 2>&1 || true
docker create --name gear-test-mkgitbuilder test/web true >/dev/null
docker cp $d/s2i gear-test-mkgitbuilder:/s2i
docker commit --change 'LABEL io.openshift.s2i.scripts-url=image:///s2i' gear-test-mkgitbuilder test/gitbuilder >/dev/null
docker rm gear-test-mkgitbuilder >/dev/null
rm -rf $d
`;

test.before(async () => {
  await sh(H, MAKE_BUILDER);
  await sh(H, "rm -f /root/k-*; for k in write read other; do ssh-keygen -q -t ed25519 -N '' -C \"key $k\" -f /root/k-$k; done");
  for (const n of ['web-1', 'web-2']) {
    const r = await gear(H, ['install', 'test/web', n, '--start', '-p', '8080:0']);
    assert.is(r.code, 0, r.stderr);
  }
  // /run/sshd, as the ssh service makes it (sshd -t, which ssh-setup runs, needs it).
  await sh(H, 'mkdir -p /run/sshd');
  const setup = await gear(H, ['ssh-setup']);
  assert.is(setup.code, 0, setup.stderr);
  await sh(H, 'systemd-run --unit=gear-test-sshd --collect -p Restart=no /usr/sbin/sshd -D -e >/dev/null');
  await sh(H, `for i in $(seq 600); do ssh-keyscan -T 2 ${IP} >/dev/null 2>&1 && exit 0; sleep 0.2; done; journalctl -u gear-test-sshd --no-pager | tail; exit 1`);
  await startAgent(H);
});

test.after(async () => {
  await sh(H, 'systemctl stop gear-test-sshd gear-test-gitd 2>/dev/null; true');
  await gear(H, ['delete', 'web-1', 'web-2']);
  await stopAgent(H);
});

test('ssh-setup shows the lines it adds to sshd_config; the sudoers rule and every key file are root\'s alone', async () => {
  const config = await sh(H, 'cat /etc/ssh/sshd_config');
  assert.match(config, /\n# gear ssh-setup: begin [^\n]*\nMatch User ctr-\*,repo-\*\n\tAuthorizedKeysCommand \/\S+\/bin\/gear auth-keys-command %u\n/);
  assert.match(config, /\tAllowTcpForwarding no\n/);
  assert.is((await sh(H, 'stat -c %a /etc/sudoers.d/gear-ssh')).trim(), '440');
  const again = await gear(H, ['ssh-setup']);
  assert.match(again.stdout, /^already in \/etc\/ssh\/sshd_config:\n# gear ssh-setup: begin/);
  assert.is(await sh(H, 'grep -c "gear ssh-setup: begin" /etc/ssh/sshd_config'), '1\n');
});

test('create-repo; clone and push with a write key over sshd; clone with a read key; its push refused', async () => {
  const c = await gear(H, ['create-repo', 'r1']);
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout, /^created repository r1 \(\/var\/lib\/gear\/git\/r1\.git, user repo-r1\)\n$/);
  assert.is((await sh(H, 'stat -c "%U %a" /var/lib/gear/git/r1.git')).trim(), 'repo-r1 700');
  assert.is((await gear(H, ['add-keys', '--write', '--key-file', '/root/k-write.pub', 'repo://r1'])).code, 0);
  const read = await gear(H, ['add-keys', '--key-file', '/root/k-read.pub', 'repo://r1']);
  assert.is(read.code, 0, read.stderr);
  assert.match(read.stdout, /^SHA256:[A-Za-z0-9+/]{43}: may log in as repo-r1\n$/);
  const push = await run(H, ['sh', '-c', `set -e; rm -rf /root/w1; GIT_SSH_COMMAND='${as('write')}' git clone -q ssh://repo-r1@${IP}/~ /root/w1 2>&1; cd /root/w1; echo 'hello from git' > hi.txt; ${GIT} add hi.txt; ${GIT} commit -qm one; GIT_SSH_COMMAND='${as('write')}' git push -q origin HEAD:refs/heads/master 2>&1`]);
  assert.is(push.code, 0, push.stdout + push.stderr);
  const clone = await run(H, ['sh', '-c', `set -e; rm -rf /root/r1; GIT_SSH_COMMAND='${as('read')}' git clone -q repo-r1@${IP}:~ /root/r1; cat /root/r1/hi.txt`]);
  assert.is(clone.code, 0, clone.stderr);
  assert.is(clone.stdout, 'hello from git\n');
  const refused = await run(H, ['sh', '-c', `cd /root/r1 && echo more > more.txt && ${GIT} add more.txt && ${GIT} commit -qm two && GIT_SSH_COMMAND='${as('read')}' git push origin HEAD:refs/heads/master`]);
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /gear: this key may read the repository, not push to it/);
  assert.is((await sh(H, `cd /root/w1 && GIT_SSH_COMMAND='${as('write')}' git fetch -q origin && git log --format=%s origin/master`)).trim(), 'one');
  // git archive --remote (git-upload-archive) with the read key: the tree as a tar.
  assert.is(await sh(H, `GIT_SSH_COMMAND='${as('read')}' git archive --remote=ssh://repo-r1@${IP}/~ master | tar tf -`), 'hi.txt\n');
  // Keys: root's alone.
  assert.is(await sh(H, 'find /var/lib/gear/ssh -perm /077 -printf "%p %m\\n"'), '');
  assert.is((await sh(H, 'stat -c %a /var/lib/gear/ssh')).trim(), '700');
});

test('a repository key runs git on its own repository and nothing else: no shell, no other path, no pty, no forwarding', async () => {
  for (const [cmd, message] of [
    ['', /gear: this login runs git only/],
    ['id', /gear: only git clone, fetch, push and archive of this repository are allowed/],
    ["git-upload-pack '/etc'", /gear: only git clone/],
    ["git-upload-pack '~/../../../../etc'", /gear: only git clone/],
    ["git-upload-pack '~'; id", /gear: only git clone/],
  ] as const) {
    const r = await run(H, ['sh', '-c', `${as('write')} repo-r1@${IP} "${cmd}" </dev/null`]);
    assert.is(r.code, 1, `${cmd}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.not.match(r.stdout, /uid=/);
  }
  const tty = await run(H, ['sh', '-c', `${as('write')} -tt repo-r1@${IP} id </dev/null`]);
  assert.is.not(tty.code, 0);
  assert.match(tty.stderr, /PTY allocation request failed/);
  const fwd = await run(H, ['sh', '-c', `${asInfo('write')} -W 127.0.0.1:22 repo-r1@${IP} </dev/null`]);
  assert.is(fwd.code, 255);
  assert.match(fwd.stderr, /administratively prohibited/);
});

test('ssh ctr-web-1@host runs inside web-1; the same key is refused for web-2; -L and -R forwarding refused', async () => {
  const add = await gear(H, ['add-keys', '--key-file', '/root/k-other.pub', 'web-1']);
  assert.is(add.code, 0, add.stderr);
  assert.match(add.stdout, /may log in as ctr-web-1\n$/);
  const r = await run(H, ['sh', '-c', `${as('other')} ctr-web-1@${IP} 'id; hostname' </dev/null`]);
  assert.is(r.code, 0, r.stderr);
  const hostname = (await sh(H, "docker inspect -f '{{.Config.Hostname}}' ctr-web-1")).trim();
  const [id, name, ...rest] = r.stdout.split('\n');
  assert.match(id!, /^uid=0\(root\) gid=0\(root\)/);
  assert.is(name, hostname);
  assert.equal(rest, ['']);
  const web2 = await run(H, ['sh', '-c', `${as('other')} ctr-web-2@${IP} id </dev/null`]);
  assert.is(web2.code, 255);
  assert.match(web2.stderr, /Permission denied \(publickey\)/);
  const repo = await run(H, ['sh', '-c', `${as('other')} repo-r1@${IP} "git-upload-pack '~'" </dev/null`]);
  assert.is(repo.code, 255);
  const remote = await run(H, ['sh', '-c', `${as('other')} -o ExitOnForwardFailure=yes -R 127.0.0.1:9998:127.0.0.1:22 ctr-web-1@${IP} true </dev/null`]);
  assert.is(remote.code, 255);
  assert.match(remote.stderr, /remote port forwarding failed/);
  // -L: the local end listens; the host's sshd refuses the channel when it is used.
  const local = await run(H, [
    'bash',
    '-c',
    `${asInfo('other')} -L 127.0.0.1:9997:127.0.0.1:22 ctr-web-1@${IP} 'sleep 120' </dev/null 2>/tmp/fwd.err & pid=$!
     for i in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/9997 && timeout 2 cat <&3) 2>/dev/null | grep -q SSH- && echo LEAKED; grep -q 'open failed' /tmp/fwd.err && break; sleep 0.2; done
     kill $pid; cat /tmp/fwd.err`,
  ]);
  assert.match(local.stdout, /administratively prohibited/, local.stdout + local.stderr);
  assert.not.match(local.stdout, /LEAKED/);
});

test('an isolated container: the login runs as its uid (the container\'s user), and a re-install keeps the login', async () => {
  const inst = await gear(H, ['install', 'test/web', 'web-iso', '--isolate', '--start', '-p', '8080:0']);
  assert.is(inst.code, 0, inst.stderr);
  const add = await gear(H, ['add-keys', '--key-file', '/root/k-other.pub', 'web-iso']);
  assert.is(add.code, 0, add.stderr);
  const uid = (await sh(H, 'id -u ctr-web-iso')).trim();
  const r = await run(H, ['sh', '-c', `${as('other')} ctr-web-iso@${IP} 'id -u' </dev/null`]);
  assert.is(r.stdout, `${uid}\n`, r.stderr);
  const again = await gear(H, ['install', 'test/web', 'web-iso', '--isolate', '--start', '-p', '8080:0']);
  assert.is(again.code, 0, again.stderr);
  assert.is((await run(H, ['sh', '-c', `${as('other')} ctr-web-iso@${IP} 'id -u' </dev/null`])).stdout, `${uid}\n`);
  // Deleted: its user and its grants go; the key is refused.
  const del = await gear(H, ['delete', 'web-iso']);
  assert.is(del.code, 0, del.stderr);
  assert.is(await sh(H, 'getent passwd ctr-web-iso || true; ls /var/lib/gear/ssh/access'), 'ctr-web-1\nrepo-r1\n');
  assert.is((await run(H, ['sh', '-c', `${as('other')} ctr-web-iso@${IP} id </dev/null`])).code, 255);
});

test('GET /repository/NAME/archive/REF: a tar of the tree; gear archive-repo too; unknown ref 404', async () => {
  const r = await run(H, ['sh', '-c', "curl -sf --unix-socket /run/gear/gear.sock http://x/repository/r1/archive/master | tar xOf - hi.txt"]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'hello from git\n');
  const cli = await run(H, ['sh', '-c', `${GEAR} archive-repo r1 master | tar tf -`]);
  assert.is(cli.stdout, 'hi.txt\n', cli.stderr);
  const missing = await curl(H, ['--unix-socket', '/run/gear/gear.sock', 'http://x/repository/r1/archive/nope']);
  assert.is(missing.status, 404);
  assert.match(missing.body, /repository r1 has no commit \\"nope\\"/);
  // A ref with "/" (feature/x): as it is in the path, or with %2F; the CLI too. Path tricks and git's bad refs are 400.
  await sh(H, `set -e; cd /root/w1; git checkout -q -b feature/x; echo feature > feature.txt; ${GIT} add feature.txt; ${GIT} commit -qm feature; GIT_SSH_COMMAND='${as('write')}' git push -q origin feature/x; git checkout -q master`);
  for (const path of ['feature/x', 'feature%2Fx', 'refs/heads/feature/x']) {
    const f = await run(H, ['sh', '-c', `curl -sf --unix-socket /run/gear/gear.sock http://x/repository/r1/archive/${path} | tar tf - | sort`]);
    assert.is(f.stdout, 'feature.txt\nhi.txt\n', `${path}: ${f.stderr}`);
  }
  assert.is((await run(H, ['sh', '-c', `${GEAR} archive-repo r1 feature/x | tar tf - | sort`])).stdout, 'feature.txt\nhi.txt\n');
  assert.is((await run(H, ['sh', '-c', `GEAR_AGENT=unix:///run/gear/gear.sock ${GEAR} archive-repo r1 feature/x | tar tf - | sort`])).stdout, 'feature.txt\nhi.txt\n');
  for (const [path, ref] of [
    ['feature/../master', 'feature/../master'],
    ['%2e%2e/%2e%2e/etc', '../../etc'],
    ['feature//x', 'feature//x'],
    ['feature/x/', 'feature/x/'],
    ['-x', '-x'],
    ['feature/.x', 'feature/.x'],
    ['feature/x.lock', 'feature/x.lock'],
    ['master@%7B1%7D', 'master@{1}'],
    ['HEAD~1', 'HEAD~1'],
    ['x%0Ay', 'x\ny'],
  ] as const) {
    const bad = await curl(H, ['--path-as-is', '--unix-socket', '/run/gear/gear.sock', `http://x/repository/r1/archive/${path}`]);
    assert.is(bad.status, 400, `${path}: ${bad.body}`);
    assert.is(JSON.parse(bad.body).Message, `ref ${JSON.stringify(ref)} is not valid`, path);
  }
  const nobranch = await curl(H, ['--unix-socket', '/run/gear/gear.sock', 'http://x/repository/r1/archive/feature/y']);
  assert.is(nobranch.status, 404, nobranch.body);
  // The seed's curl: no body, no Accept (a change answers 204, as gear's other PUTs); JSON when asked.
  const put = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', 'http://x/repository/r3']);
  assert.is(put.status, 204, put.body);
  const json = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', '-H', 'Accept: application/json', '-H', 'Content-Type: application/json', '-d', '{}', 'http://x/repository/r4']);
  assert.is(json.status, 201, json.body);
  assert.match(json.body, /^\{"Id":"r4","Path":"\/var\/lib\/gear\/git\/r4\.git","User":"repo-r4","Uid":[0-9]+\}$/);
  const dup = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', 'http://x/repository/r3']);
  assert.is(dup.status, 409, dup.body);
});

test('builds from repo://NAME and from a git URL (git daemon in the host); the result runs', async () => {
  const fromRepo = await gear(H, ['build', 'repo://r1', 'test/gitbuilder', 'test/from-repo:1']);
  assert.is(fromRepo.code, 0, fromRepo.stderr);
  assert.match(fromRepo.stdout, /assemble: 1 files\n/);
  assert.is((await gear(H, ['run-job', 'test/from-repo:1'])).stdout, 'hello from git\n');
  await sh(H, `set -e; rm -rf /srv/git /root/src; mkdir -p /srv/git; ${GIT} init -q /root/src; echo 'hello from the git URL' > /root/src/hi.txt; cd /root/src; ${GIT} add hi.txt; ${GIT} commit -qm u; git clone -q --bare /root/src /srv/git/src.git; chown -R nobody:nogroup /srv/git
    systemd-run --unit=gear-test-gitd --collect -p User=nobody git daemon --reuseaddr --export-all --base-path=/srv/git --listen=${IP} --port=9418 >/dev/null
    for i in $(seq 600); do git ls-remote git://${IP}/src.git >/dev/null 2>&1 && exit 0; sleep 0.2; done; journalctl -u gear-test-gitd --no-pager | tail -5; exit 1`);
  const fromUrl = await gear(H, ['build', `git://${IP}/src.git`, 'test/gitbuilder', 'test/from-url:1']);
  assert.is(fromUrl.code, 0, fromUrl.stderr);
  assert.is((await gear(H, ['run-job', 'test/from-url:1'])).stdout, 'hello from the git URL\n');
  // .s2iignore in a git tree, as in a directory: what it names is not sent, and a symlink out of the tree under an
  // ignored directory is not refused (it is not sent). From the git URL, and from a host repository's branch.
  await sh(H, `set -e; cd /root/src; mkdir -p node_modules/dep; echo x > node_modules/dep/big.js; ln -s /etc/passwd node_modules/out; echo log > debug.log; echo log > sub.log; printf 'node_modules/\\n*.log\\n' > .s2iignore
    ${GIT} add -A; ${GIT} commit -qm ignore; rm -rf /srv/git/src.git; git clone -q --bare /root/src /srv/git/src.git; chown -R nobody:nogroup /srv/git; GIT_SSH_COMMAND='${as('write')}' git push -q ssh://repo-r1@${IP}/~ HEAD:refs/heads/feature/ign`);
  for (const [source, tag] of [[`git://${IP}/src.git`, 'test/from-url:ign'], ['repo://r1#feature/ign', 'test/from-repo:ign']] as const) {
    const b = await gear(H, ['build', source, 'test/gitbuilder', tag]);
    assert.is(b.code, 0, `${source}: ${b.stderr}`);
    assert.match(b.stdout, /assemble: 2 files\n/);
    const files = await gear(H, ['run-job', tag, '--', 'sh', '-c', 'cd /app && find . | sort']);
    assert.is(files.stdout, '.\n./.s2iignore\n./hi.txt\n', `${source}: ${files.stderr}`);
  }
});

test('bad input: one readable line, exit 1, nothing changed (names with path tricks, malformed keys, smuggled options, symlinks out of a repository)', async () => {
  // A repository whose tree holds a symlink out of it: pushed, then refused as a build source.
  await sh(H, `set -e; ${GEAR} create-repo evil >/dev/null; ${GEAR} add-keys --write --key-file /root/k-write.pub repo://evil >/dev/null; rm -rf /root/evil; ${GIT} init -q /root/evil; cd /root/evil; ln -s /etc/passwd leak; ${GIT} add leak; ${GIT} commit -qm evil; GIT_SSH_COMMAND='${as('write')}' git push -q ssh://repo-evil@${IP}/~ HEAD:refs/heads/master`);
  await sh(H, `set -e; cd /root/evil; git checkout -q -b ignlink; ln -s /etc/passwd .s2iignore; ${GIT} add .s2iignore; ${GIT} commit -qm l; git checkout -q master; git checkout -q -b ignneg; printf '!leak\\n' > .s2iignore; ${GIT} add .s2iignore; ${GIT} commit -qm n
    GIT_SSH_COMMAND='${as('write')}' git push -q ssh://repo-evil@${IP}/~ ignlink ignneg`);
  const key = (await sh(H, 'cut -d" " -f1,2 /root/k-read.pub')).trim();
  await sh(H, `printf 'ssh-ed25519 AAAA!!!\\n' > /root/bad1.pub; printf 'command="/bin/sh",no-pty %s\\n' '${key}' > /root/bad2.pub; printf 'ssh-rsa ${key.split(' ')[1]}\\n' > /root/bad3.pub; printf '# nothing\\n' > /root/bad4.pub`);
  const before = await stateListing(H);
  const passwd = await sh(H, 'cat /etc/passwd');
  for (const [args, message] of [
    [['create-repo', '../x'], /^gear: repository name "\.\.\/x" is not valid \(use 1-27 lower case letters/],
    [['create-repo', 'a/b'], /^gear: repository name "a\/b" is not valid/],
    [['create-repo', 'Upper'], /^gear: repository name "Upper" is not valid/],
    [['create-repo', '.git'], /^gear: repository name "\.git" is not valid/],
    [['create-repo', 'r1'], /^gear: repository r1 exists\n$/],
    [['create-repo', 'r9', 'file:///etc'], /^gear: git URL "file:\/\/\/etc": only http, https and git URLs are accepted\n$/],
    [['create-repo', 'r9', 'ext::sh -c id'], /^gear: git URL "ext::sh -c id": only http, https and git URLs are accepted\n$/],
    [['add-keys', '--key-file', '/root/bad1.pub', 'repo://r1'], /^gear: line 1: public key: the key is not base64\n$/],
    [['add-keys', '--key-file', '/root/bad2.pub', 'repo://r1'], /^gear: line 1: public key: options before the key type are not accepted/],
    [['add-keys', '--key-file', '/root/bad3.pub', 'repo://r1'], /^gear: line 1: public key: the key's data is not a ssh-rsa key\n$/],
    [['add-keys', '--key-file', '/root/bad4.pub', 'repo://r1'], /^gear: no public key given\n$/],
    [['add-keys', '--key-file', '/root/k-read.pub', 'repo://../r1'], /^gear: repository name "\.\.\/r1" is not valid/],
    [['add-keys', '--key-file', '/root/k-read.pub', 'repo://nope'], /^gear: repository nope does not exist\n$/],
    [['add-keys', '--key-file', '/root/k-read.pub', 'nope'], /^gear: container nope is not installed\n$/],
    [['build', 'repo://evil', 'test/gitbuilder', 'test/evil:1'], /^gear: source: the symlink "leak" points out of the source tree \(to "\/etc\/passwd"\)\n$/],
    [['build', 'repo://r1#../x', 'test/gitbuilder', 'test/evil:1'], /^gear: ref "\.\.\/x" is not valid\n$/],
    [['build', 'repo://evil#ignlink', 'test/gitbuilder', 'test/evil:1'], /^gear: source: \.s2iignore is not a regular file\n$/],
    [['build', 'repo://evil#ignneg', 'test/gitbuilder', 'test/evil:1'], /^gear: \.s2iignore line 1: negated patterns \("!leak"\) are not supported\n$/],
    [['build', 'repo://r1#feature/../x', 'test/gitbuilder', 'test/evil:1'], /^gear: ref "feature\/\.\.\/x" is not valid\n$/],
  ] as const) {
    const r = await gear(H, [...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, r.stderr);
    assert.is(r.stderr.split('\n').length, 2, r.stderr);
  }
  // The API: a key line with a second line (options) inside, path tricks in the route.
  const body = JSON.stringify({ Keys: [{ Type: 'authorized_keys', Value: `${key}\ncommand="sh" ${key}` }], Repositories: [{ Id: 'r1' }] });
  const api = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'POST', '-H', 'Content-Type: application/json', '-d', body, 'http://x/keys']);
  assert.is(api.status, 400, api.body);
  assert.match(api.body, /control characters/);
  const trick = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'PUT', 'http://x/repository/..%2Fetc']);
  assert.is(trick.status, 400, trick.body);
  assert.is(await stateListing(H), before);
  assert.is(await sh(H, 'cat /etc/passwd'), passwd);
  assert.is(await sh(H, 'docker images -q test/evil'), '');
});

test('list-keys shows every grant; remove-keys revokes one: the real sshd refuses that key at the next login, other keys and targets keep theirs', async () => {
  const fp = async (k: string) => (await sh(H, `ssh-keygen -lf /root/k-${k}.pub | cut -d' ' -f2`)).trim();
  const [read, write, other] = [await fp('read'), await fp('write'), await fp('other')];
  const listed = await gear(H, ['list-keys']);
  assert.is(listed.code, 0, listed.stderr);
  for (const line of [`repo://r1 read ${read} ssh-ed25519`, `repo://r1 write ${write} ssh-ed25519`, `web-1 read ${other} ssh-ed25519`, `repo://evil write ${write} ssh-ed25519`])
    assert.ok(listed.stdout.split('\n').includes(line), `missing "${line}" in:\n${listed.stdout}`);
  const api = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-H', 'Accept: application/json', 'http://x/keys']);
  assert.is(api.status, 200, api.body);
  assert.ok((JSON.parse(api.body) as { Grants: unknown[] }).Grants.some((g) => JSON.stringify(g) === JSON.stringify({ Fingerprint: read, Type: 'ssh-ed25519', Login: 'repo-r1', Target: 'repo://r1', Access: 'read' })), api.body);
  const lsRemote = (key: string) => run(H, ['sh', '-c', `GIT_SSH_COMMAND='${as(key)}' git ls-remote ssh://repo-r1@${IP}/~ </dev/null`]);
  assert.is((await lsRemote('read')).code, 0);
  const keysBefore = Number(await sh(H, 'ls /var/lib/gear/ssh/keys | wc -l'));

  // By key file, locally: refused by sshd at once; the write key still works; a key no login uses is forgotten.
  const rm = await gear(H, ['remove-keys', '--key-file', '/root/k-read.pub', 'repo://r1']);
  assert.is(rm.code, 0, rm.stderr);
  assert.is(rm.stdout, `${read}: may no longer log in as repo-r1\n`);
  const refused = await lsRemote('read');
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /Permission denied \(publickey\)/);
  assert.is((await lsRemote('write')).code, 0);
  assert.not.match((await gear(H, ['list-keys'])).stdout, new RegExp(read.replace(/[+/]/g, '\\$&')));
  assert.is(Number(await sh(H, 'ls /var/lib/gear/ssh/keys | wc -l')), keysBefore - 1);

  // By fingerprint, through the agent (DELETE /keys): the container login is refused; the repository keeps the same key.
  const viaAgent = await gear(H, ['remove-keys', '--key-fingerprint', other, 'web-1'], { env: { GEAR_AGENT: 'unix:///run/gear/gear.sock' } });
  assert.is(viaAgent.code, 0, viaAgent.stderr);
  const login = await run(H, ['sh', '-c', `${as('other')} ctr-web-1@${IP} id </dev/null`]);
  assert.is(login.code, 255, login.stdout);
  assert.match(login.stderr, /Permission denied \(publickey\)/);

  // Bad input: one line, exit 1 (400/404 on the API), nothing changed.
  const before = await stateListing(H);
  const fake = `SHA256:${'A'.repeat(43)}`;
  for (const [args, message] of [
    [['remove-keys', '--key-file', '/root/k-read.pub', 'repo://r1'], new RegExp(`^gear: key ${read.replace(/[+/]/g, '\\$&')} has no access as repo-r1\\n$`)],
    [['remove-keys', '--key-fingerprint', fake, 'repo://r1', 'web-1'], /^gear: key SHA256:A{43} has no access as ctr-web-1\n$/],
    [['remove-keys', '--key-fingerprint', 'SHA256:../../etc/passwd', 'repo://r1'], /^gear: body\/Fingerprints\[0\] "SHA256:\.\.\/\.\.\/etc\/passwd" is not a key fingerprint/],
    [['remove-keys', '--key-fingerprint', `${write}\n`, 'repo://r1'], /^gear: body\/Fingerprints\[0\] .* is not a key fingerprint/],
    [['remove-keys', 'repo://r1'], /^gear: name the keys: --key-file FILE or --key-fingerprint FP\n$/],
    [['remove-keys', '--key-fingerprint', write, 'repo://../r1'], /^gear: repository name "\.\.\/r1" is not valid/],
    [['remove-keys', '--key-fingerprint', write, '../web-1'], /^gear: container name "\.\.\/web-1" is not valid/],
    [['remove-keys', '--key-fingerprint', write, 'Web.1'], /^gear: container Web\.1: its name cannot be a login name/],
    [['remove-keys', '--key-file', '/root/bad2.pub', 'repo://r1'], /^gear: line 1: public key: options before the key type are not accepted/],
  ] as const) {
    const r = await gear(H, [...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, r.stderr);
    assert.is(r.stderr.split('\n').length, 2, r.stderr);
  }
  for (const [body, status, message] of [
    [{ Fingerprints: [write] }, 400, 'name at least one container or repository'],
    [{ Repositories: [{ Id: 'r1' }] }, 400, 'name at least one key (Keys or Fingerprints)'],
    [{ Fingerprints: [fake], Repositories: [{ Id: 'r1' }] }, 404, `key ${fake} has no access as repo-r1`],
    [{ Fingerprints: [write], Repositories: [{ Id: 'r1/../evil' }] }, 400, undefined],
  ] as const) {
    const r = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'DELETE', '-H', 'Content-Type: application/json', '-d', JSON.stringify(body), 'http://x/keys']);
    assert.is(r.status, status, r.body);
    if (message) assert.is(JSON.parse(r.body).Message, message);
  }
  assert.is(await stateListing(H), before);
  assert.is((await lsRemote('write')).code, 0);

  // Granted again (the tests after count these grants).
  assert.is((await gear(H, ['add-keys', '--key-file', '/root/k-read.pub', 'repo://r1'])).code, 0);
  assert.is((await gear(H, ['add-keys', '--key-file', '/root/k-other.pub', 'web-1'])).code, 0);
  assert.is((await lsRemote('read')).code, 0);
});

test('auth-keys-command: gear\'s lines for its logins (forced command, restrict), nothing for anyone else; ssh-setup --remove', async () => {
  const lines = (await gear(H, ['auth-keys-command', 'repo-r1'])).stdout.trim().split('\n');
  assert.is(lines.length, 2);
  for (const l of lines) assert.match(l, /^restrict,command="ssh-serve repo r1 (read|write)" ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  assert.match((await gear(H, ['auth-keys-command', 'ctr-web-1'])).stdout, /^restrict,pty,command="ssh-serve ctr web-1" ssh-ed25519 \S+\n$/);
  for (const u of ['root', 'ctr-web-2', 'repo-nope', 'nobody']) assert.is((await gear(H, ['auth-keys-command', u])).stdout, '', u);
  // gear clean leaves repositories, their users and uids alone (they are no container's).
  const users = await sh(H, 'id repo-r1; ls /var/lib/gear/uids | sort');
  const clean = await gear(H, ['clean']);
  assert.is(clean.code, 0, clean.stderr);
  assert.not.match(clean.stdout, /repo/);
  assert.is(await sh(H, 'id repo-r1; ls /var/lib/gear/uids | sort'), users);
  // delete-repo: data, grants, user and uid gone; the name can be made again, without the old keys.
  const uid = (await sh(H, 'id -u repo-r3')).trim();
  // After a login (its systemd user manager lingers after logout): the delete still removes the user.
  await sh(H, `${GEAR} add-keys --key-file /root/k-read.pub repo://r3 >/dev/null; GIT_SSH_COMMAND='${as('read')}' git ls-remote ssh://repo-r3@${IP}/~ >/dev/null`);
  const del = await gear(H, ['delete-repo', 'r3']);
  assert.is(del.code, 0, del.stderr);
  assert.is(del.stdout, 'deleted repository r3\n');
  assert.is(await sh(H, `ls /var/lib/gear/git/r3.git /var/lib/gear/ssh/access/repo-r3 /var/lib/gear/uids/${uid} 2>&1 | grep -c 'No such file'; getent passwd repo-r3 || true`), '3\n');
  assert.match((await gear(H, ['delete-repo', 'r3'])).stderr, /^gear: repository r3 does not exist\n$/);
  assert.is((await gear(H, ['create-repo', 'r3'])).code, 0);
  assert.is((await gear(H, ['auth-keys-command', 'repo-r3'])).stdout, '');
  const removed = await gear(H, ['ssh-setup', '--remove']);
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /^removed from \/etc\/ssh\/sshd_config:\n# gear ssh-setup: begin/);
  assert.is(await sh(H, 'grep -c "gear" /etc/ssh/sshd_config || true; ls /etc/sudoers.d'), '0\nREADME\n');
});

test.run();
