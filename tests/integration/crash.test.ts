import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, TEST_HOST as H, gear, sh } from './harness.js';

/** What exists on the host for container `name`: definition, unit, env file, port reservations. */
async function pieces(name: string): Promise<{ definition: boolean; unit: boolean; env: boolean; ports: number }> {
  const out = await sh(
    H,
    `test -f /var/lib/gear/containers/${name}.json && echo definition; test -f /etc/systemd/system/ctr-${name}.service && echo unit; ` +
      `test -f /var/lib/gear/env/${name}.env && echo env; grep -lx ${name} /var/lib/gear/ports/* 2>/dev/null | sed s/^/port/; true`,
  );
  const lines = out.split('\n');
  return { definition: lines.includes('definition'), unit: lines.includes('unit'), env: lines.includes('env'), ports: lines.filter((l) => l.startsWith('port')).length };
}

test('the same name installed twice at once: one installs, the other then updates it in place (serialised), nothing is shared or lost', async () => {
  const r = await sh(H, `(${GEAR} install test/web twin -p 8080:0 -p 9090:0; echo "exit $?") 2>&1 & (${GEAR} install test/web twin -p 8080:0 -p 9090:0; echo "exit $?") 2>&1; wait`);
  assert.is(r.match(/exit 0/g)?.length, 2, r);
  // The container's lock orders them: exactly one made it, the other found it and kept its ports.
  const made = /twin installed \((8080 -> \d+, 9090 -> \d+)\)/.exec(r);
  const updated = /twin updated \((8080 -> \d+, 9090 -> \d+)\)/.exec(r);
  assert.ok(made && updated, r);
  assert.is(updated[1], made[1], 'the update kept the ports the install allocated');
  assert.equal(await pieces('twin'), { definition: true, unit: true, env: true, ports: 2 });
  assert.is((await gear(H, ['delete', 'twin'])).code, 0);
});

test('gear clean removes what a crashed install left before its commit point, and nothing else', async () => {
  assert.is((await gear(H, ['install', 'test/web', 'keeper', '-p', '8080:0'])).code, 0);
  // Leftovers of an install killed after it reserved a port and wrote its unit and env file.
  await sh(H, 'echo orphan > /var/lib/gear/ports/4999; cp /etc/systemd/system/ctr-keeper.service /etc/systemd/system/ctr-orphan.service; : > /var/lib/gear/env/orphan.env');
  const r = await gear(H, ['clean']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed \/etc\/systemd\/system\/ctr-orphan.service/);
  assert.match(r.stdout, /removed port 4999 \(reserved by orphan\)/);
  assert.equal(await pieces('orphan'), { definition: false, unit: false, env: false, ports: 0 });
  assert.equal(await pieces('keeper'), { definition: true, unit: true, env: true, ports: 1 });
  assert.is((await gear(H, ['delete', 'keeper'])).code, 0);
});

test('an install killed with SIGKILL part-way leaves each container fully installed or absent (after gear clean)', async () => {
  const names = Array.from({ length: 12 }, (_, i) => `k-${i}`);
  // Kill at a few different moments; each round must end consistent.
  for (const delay of [0.15, 0.3, 0.45]) {
    await sh(H, `${GEAR} install test/web ${names.join(' ')} -p 8080:0 -p 9090:0 >/dev/null 2>&1 & pid=$!; sleep ${delay}; kill -9 $pid; wait $pid; true`);
    const clean = await gear(H, ['clean']);
    assert.is(clean.code, 0, clean.stderr);
    for (const n of names) {
      const p = await pieces(n);
      const full = p.definition && p.unit && p.env && p.ports === 2;
      const absent = !p.definition && !p.unit && !p.env && p.ports === 0;
      assert.ok(full || absent, `${n} after a kill at ${delay}s: ${JSON.stringify(p)}`);
    }
    const installed = JSON.parse((await gear(H, ['list-units', '--all', '--json'])).stdout).Containers.map((c: { Id: string }) => c.Id);
    const del = installed.length ? await gear(H, ['delete', ...installed]) : undefined;
    if (del) assert.is(del.code, 0, del.stderr);
  }
  assert.is((await sh(H, 'cd /var/lib/gear/ports && for f in *; do [ -e "$f" ] && echo "$f:$(cat $f)"; done; true')).trim(), '');
  // What a kill can leave beyond that is a lock of the killed process (a container's, its
  // environment's, its links', gear.target's), or the directory it was taking one with: harmless
  // (the next taker sees its holder gone), and all `clean --repair` still finds.
  const repair = await gear(H, ['clean', '--repair']);
  assert.is(repair.code, 0, repair.stderr);
  for (const line of repair.stdout.split('\n').filter((l) => l.startsWith('fixed: '))) {
    assert.match(line, /^fixed: lock \/var\/lib\/gear\/locks\/(?:(?:env|links|target)\/)?(?:k-\d+|gear\.target)\.lock(\.[0-9]+-[0-9]+-[0-9a-f]+\.new)? is held by a process that is gone: remove the lock$/, repair.stdout);
  }
  assert.not.match((await gear(H, ['clean', '--repair', '--dry-run'])).stdout, /would fix/);
});

test.run();
