import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, allocatedPort, eventually, gear, hostIp, httpGet, sh, stateListing } from './harness.js';

// A real registry inside the test host (Debian's docker-registry, no auth, on
// loopback: Docker treats 127.0.0.0/8 registries as insecure by default).
const REGISTRY = 'localhost:5055';
const ip = hostIp(H);

test.before(async () => {
  await sh(
    H,
    `printf 'version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: /var/lib/test-registry\\nhttp:\\n  addr: 127.0.0.1:5055\\n' > /root/registry.yml
     systemctl is-active -q test-registry || systemd-run --collect --unit=test-registry docker-registry serve /root/registry.yml
     # Asked at 127.0.0.1, where it listens: busybox wget takes localhost for ::1 only, so a wait on
     # http://localhost:5055 never saw it ready (it was a fixed 5 s wait that a slow start would outlast).
     for i in $(seq 600); do busybox wget -qO- http://127.0.0.1:5055/v2/ >/dev/null 2>&1 && break; sleep 0.1; done
     busybox wget -qO- http://127.0.0.1:5055/v2/ >/dev/null || { echo "the test registry does not answer" >&2; exit 1; }
     # Each tag gets a layer of its own (2 MB of noise), so pulling it downloads something.
     for tag in 1 2; do
       img=${REGISTRY}/gear/pulled:$tag
       docker rm -f seed-$tag >/dev/null 2>&1
       docker run --name seed-$tag test/web sh -c 'head -c 2000000 /dev/urandom > /noise' &&
       docker commit -c 'CMD ["/start"]' seed-$tag $img >/dev/null && docker rm seed-$tag >/dev/null &&
       docker push -q $img >/dev/null && docker rmi $img >/dev/null || exit 1
     done`,
  );
});

test.after(async () => {
  await sh(H, 'systemctl stop test-registry || true');
});

test('install pulls a missing image with plain progress lines when not on a terminal', async () => {
  const r = await gear(H, ['install', `${REGISTRY}/gear/pulled:1`, 'pulled-1', '--start', '-p', '8080:0']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^pulling localhost:5055\/gear\/pulled:1$/m);
  assert.match(r.stderr, /: Pull complete$/m);
  assert.match(r.stderr, /Status: Downloaded newer image for localhost:5055\/gear\/pulled:1$/m);
  assert.not.match(r.stderr, /\r/, 'no terminal redraws in plain output');
  const res = await eventually(() => httpGet(`http://${ip}:${allocatedPort(r.stdout)}/`));
  assert.ok(res && /hello from test\/web/.test(res.body));
  assert.is((await gear(H, ['delete', 'pulled-1'])).code, 0);
});

test('on a terminal the pull draws one progress bar line', async () => {
  const out = await sh(H, `script -qec '${GEAR} install ${REGISTRY}/gear/pulled:2 pulled-2' /dev/null`);
  assert.match(out, /\rlocalhost:5055\/gear\/pulled:2 \[#+\.*\] +\d+%/);
  assert.match(out, /pulled-2 installed/);
  assert.is((await gear(H, ['delete', 'pulled-2'])).code, 0);
});

test('an image the registry does not have: one error line, nothing written', async () => {
  const before = await stateListing(H);
  const r = await gear(H, ['install', `${REGISTRY}/gear/absent:1`, 'absent-1', '-p', '8080:0']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /gear: absent-1: image localhost:5055\/gear\/absent:1 is not on this host and cannot be pulled: .*(not found|unknown)/);
  assert.is(r.stderr.split('\n').filter((l) => l.startsWith('gear:')).length, 1, r.stderr);
  assert.is(await stateListing(H), before);
});

test.run();
