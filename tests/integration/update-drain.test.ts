import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as H, allocatedPort, curl, eventually, gear, run, sh, startAgent, stateListing, stopAgent } from './harness.js';

/**
 * Updates behind a link with two targets, on a real host: a client
 * container reaches dr-web-1 and dr-web-2 through one address,
 * 127.0.0.2:8080, balanced by connection. `gear update` of each in turn,
 * while the client sends requests in a loop: not one fails, because the
 * instance being updated is out of the link while it restarts.
 */
const CHECK = 'wget -qO- localhost:8080/ >/dev/null';
const FAST = ['--health-cmd', CHECK, '--health-interval', '1s', '--health-retries', '2', '--health-timeout', '20s', '--health-start-period', '15s'];
const WEBS = ['dr-web-1', 'dr-web-2'];
const ports: Record<string, number> = {};
const LINK = '127.0.0.2:8080';

const pidOf = async (name: string) => (await sh(H, `docker inspect -f '{{.State.Pid}}' ctr-${name}`)).trim();
/** The client's DNAT rules for the link, as iptables-save shows them in its namespace. */
const dnat = async () => (await sh(H, `nsenter -t ${await pidOf('dr-client')} -n iptables-save -t nat`)).split('\n').filter((l) => l.includes('-j DNAT'));
const targetsNow = async () => (await dnat()).map((l) => Number(/:(\d+)$/.exec(l)?.[1])).sort();
const imageOf = async (name: string) => (await sh(H, `docker inspect -f '{{.Image}}' ctr-${name}`)).trim();
const imageId = async (ref: string) => (await sh(H, `docker image inspect -f '{{.Id}}' ${ref}`)).trim();
/**
 * An update, with room to finish under load: the broken image's alone is its start period (15 s),
 * two failed checks, a 10 s stop of a process that ignores SIGTERM, then the rollback's start;
 * seen over the default 120 s at load 20 (the CLI was killed: exit -1). A guard against a hang, not a threshold.
 */
const update = (args: string[]) => gear(H, ['update', ...args], { timeoutMs: 400_000 });
const inClient = (script: string) => run(H, ['docker', 'exec', 'ctr-dr-client', 'sh', '-c', script]);

/**
 * Requests through the link in a loop inside the client, one line each in
 * /tmp/log: "START END ok BODY" or "START END fail WGET'S MESSAGE", START
 * and END the kernel's uptime (shared with the host: the journal's
 * monotonic time) before and after the request, for a failure's report.
 */
async function startLoop(): Promise<void> {
  await inClient('rm -f /tmp/stop /tmp/log /tmp/done');
  const loop =
    `while [ ! -e /tmp/stop ]; do read -r t0 _ < /proc/uptime; ` +
    `if r=$(timeout 5 wget -qO- http://${LINK}/ 2>/tmp/err); then s="ok $r"; else s="fail $(tr '\\n' ' ' < /tmp/err | head -c 120)"; fi; ` +
    `read -r t _ < /proc/uptime; echo "$t0 $t $s" >> /tmp/log; done; touch /tmp/done`;
  const r = await run(H, ['docker', 'exec', '-d', 'ctr-dr-client', 'sh', '-c', loop]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(await eventually(async () => (await requests()).length > 0), 'the loop sends requests');
}
interface TimedRequest {
  start: number;
  end: number;
  ok: boolean;
  /** "ok BODY", or "fail" then wget's message. */
  what: string;
}
const timedRequests = async (): Promise<TimedRequest[]> =>
  (await inClient('cat /tmp/log 2>/dev/null')).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [start, end, ...rest] = l.split(' ');
      const what = rest.join(' ');
      return { start: Number(start), end: Number(end), ok: what.startsWith('ok '), what };
    });
/** The loop's results without their times: "ok BODY" or "fail". */
const requests = async () => (await timedRequests()).map((r) => (r.ok ? r.what : 'fail'));
async function stopLoop(): Promise<string[]> {
  await inClient('touch /tmp/stop');
  assert.ok(await eventually(async () => (await inClient('test -e /tmp/done')).code === 0, 30_000), 'the loop ended');
  return requests();
}

/**
 * What a failed "no request fails" assertion says: each run of failed
 * requests, when its first began and its last ended, and what wget said;
 * the updates' output; and the journal of the units: what they did (a
 * restart of the target still in the link would explain a run of
 * failures), and the web servers' line per request within a second of a
 * failure (which target answered the requests around it).
 */
async function failureReport(updates: { stdout: string; stderr: string }[]): Promise<string> {
  const all = await timedRequests();
  const runs: string[] = [];
  const windows: [number, number][] = [];
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.ok || (i > 0 && !all[i - 1]!.ok)) continue;
    let j = i;
    while (j + 1 < all.length && !all[j + 1]!.ok) j++;
    runs.push(`${j - i + 1} failed (after ${i} requests): the first began at uptime ${all[i]!.start}, the last ended at ${all[j]!.end}; first: ${all[i]!.what}`);
    windows.push([all[i]!.start - 1, all[j]!.end + 1]);
  }
  const uptimeNow = Number((await sh(H, 'cut -d" " -f1 /proc/uptime')).trim());
  const since = all.length ? `@${Math.floor(Date.now() / 1000 - (uptimeNow - all[0]!.start) - 5)}` : '-10min';
  const journal = (await sh(H, `journalctl -o short-monotonic --no-pager --since '${since}' -u ctr-dr-web-1 -u ctr-dr-web-2 -u ctr-dr-client`)).split('\n');
  const at = (line: string) => Number(/^\[\s*([0-9.]+)\]/.exec(line)?.[1] ?? NaN);
  // The test web server logs each request it answers: only those near a failure (they would fill the report).
  const events = journal.filter((l) => !/: response:[0-9]/.test(l)).slice(-80);
  const near = journal.filter((l) => /: response:[0-9]/.test(l) && windows.some(([a, b]) => at(l) >= a && at(l) <= b));
  const out = updates.map((u) => `${u.stdout}${u.stderr}`).join('\n');
  return `${all.length} requests; ${runs.join('; ') || 'no failures'}\nupdates said:\n${out}\njournal (monotonic time = uptime):\n${events.join('\n')}\nanswers within a second of a failure:\n${near.join('\n')}`;
}

test.before(async () => {
  await sh(H, `printf 'FROM test/web\\nRUN echo v2 > /www/index.html\\n' | docker build -q -t test/web:2 - >/dev/null`);
  await sh(H, `printf 'FROM test/web\\nCMD ["sleep", "3600"]\\n' | docker build -q -t test/web:broken - >/dev/null`);
  for (const v of ['3', '4']) await sh(H, `printf 'FROM test/web\\nRUN echo v${v} > /www/index.html\\n' | docker build -q -t test/web:${v} - >/dev/null`);
  for (const w of WEBS) {
    const r = await gear(H, ['install', 'test/web', w, '--start', '-p', '8080:0', ...FAST]);
    assert.is(r.code, 0, r.stderr);
    ports[w] = allocatedPort(r.stdout);
  }
});

test('a link with two targets: both in the rules (nth, then the rest), connections alternate between them', async () => {
  const [p1, p2] = [ports['dr-web-1']!, ports['dr-web-2']!];
  const r = await gear(H, ['install', 'test/web', 'dr-client', '--start', '-n', `${LINK}:localhost:${p1},${LINK}:localhost:${p2}`]);
  assert.is(r.code, 0, r.stderr);
  const rules = await dnat();
  assert.is(rules.length, 2, rules.join('\n'));
  assert.match(rules[0]!, new RegExp(`-d 127.0.0.2/32 -p tcp -m tcp --dport 8080 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination [0-9.]+:${p1}$`));
  assert.match(rules[1]!, new RegExp(`-d 127.0.0.2/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [0-9.]+:${p2}$`));
  // Each container's HOSTNAME is its own: four connections, two to each.
  const hosts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const env = await inClient(`timeout 5 wget -qO- http://${LINK}/cgi-bin/env`);
    hosts.push(/^HOSTNAME=(\S+)$/m.exec(env.stdout)?.[1] ?? `failed: ${env.stderr}`);
  }
  const ids = await Promise.all(WEBS.map(async (w) => (await sh(H, `docker inspect -f '{{.Config.Hostname}}' ctr-${w}`)).trim()));
  assert.equal([...hosts].sort(), [ids[0], ids[0], ids[1], ids[1]].sort() as string[], hosts.join(' '));
  const status = await gear(H, ['status', 'dr-client']);
  assert.match(status.stdout, new RegExp(`${LINK} -> localhost:${p1}`));
  assert.match(status.stdout, new RegExp(`${LINK} -> localhost:${p2}`));
});

test('a connection DNATed by rules that a re-apply has since replaced is still answered: its SNAT does not depend on the target', async () => {
  // A connection's first packet is DNATed in nat OUTPUT and SNATed in nat POSTROUTING. A re-apply (a drain,
  // a re-pointed link) can land between the two; the rules it finds there must still give it the
  // container's address, or conntrack keeps its 127.x source for good and it hangs. Here the client's link
  // leads to dr-web-1 only (as while dr-web-2 is drained), and one DNAT to dr-web-2 stands for the rules
  // just before: with an SNAT rule per target (before), this request hung until its 5 s timeout.
  const [p1, p2] = [ports['dr-web-1']!, ports['dr-web-2']!];
  const one = await gear(H, ['link', '-n', `${LINK}:localhost:${p1}`, 'dr-client']);
  assert.is(one.code, 0, one.stderr);
  try {
    const gw = (await sh(H, `docker inspect -f '{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}' ctr-dr-client`)).trim();
    await sh(H, `nsenter -t ${await pidOf('dr-client')} -n iptables -w 5 -t nat -I GEAR-LINKS 1 -d 127.0.0.9/32 -p tcp --dport 8080 -j DNAT --to-destination ${gw}:${p2}`);
    const r = await inClient('timeout 5 wget -qO- http://127.0.0.9:8080/');
    assert.is(r.code, 0, `not answered: ${r.stderr}`);
    assert.is(r.stdout.trim(), 'hello from test/web');
  } finally {
    const both = await gear(H, ['link', '-n', `${LINK}:localhost:${p1},${LINK}:localhost:${p2}`, 'dr-client']);
    assert.is(both.code, 0, both.stderr);
  }
  // The next apply took the stand-in away with the rest of gear's chain.
  assert.equal(await targetsNow(), [p1, p2].sort());
});

test('the link re-applied again and again without dr-web-2 and with it (what drains do), under a request loop: no request fails', async () => {
  const [p1, p2] = [ports['dr-web-1']!, ports['dr-web-2']!];
  await startLoop();
  const applied: { stdout: string; stderr: string }[] = [];
  for (let i = 0; i < 5; i++) {
    for (const links of [`${LINK}:localhost:${p1}`, `${LINK}:localhost:${p1},${LINK}:localhost:${p2}`]) {
      const r = await gear(H, ['link', '-n', links, 'dr-client']);
      applied.push(r);
      assert.is(r.code, 0, r.stderr);
    }
  }
  const log = await stopLoop();
  if (log.includes('fail')) assert.unreachable(await failureReport(applied));
  assert.ok(log.length > 0);
  assert.equal(await targetsNow(), [p1, p2].sort());
});

test('update web-1 then web-2 under a request loop through the link: no request fails, both run the new image', async () => {
  const newId = await imageId('test/web:2');
  await startLoop();
  const updates: { stdout: string; stderr: string }[] = [];
  for (const w of WEBS) {
    const before = (await requests()).length;
    const r = await update([w, '--image', 'test/web:2']);
    updates.push(r);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^updated ${w}: test/web \\(\\w{12}\\) -> test/web:2 \\(\\w{12}\\): healthy$`, 'm'));
    assert.match(r.stdout, /^ {2}out of the links of dr-client while it restarted \((its connections ended|\d+ connections? still open) .*\); back in$/m);
    assert.ok((await requests()).length > before, 'requests went on during the update');
    assert.is(await imageOf(w), newId);
    // Back in the link.
    assert.equal(await targetsNow(), [ports['dr-web-1'], ports['dr-web-2']].sort());
  }
  const log = await stopLoop();
  const failures = log.filter((l) => l === 'fail').length;
  if (failures) assert.unreachable(`${failures} of ${log.length} requests failed: ${await failureReport(updates)}`);
  assert.ok(log.some((l) => l === 'ok hello from test/web'), 'the old image answered before');
  assert.is(log.at(-1), 'ok v2', 'the new one after');
  assert.is((await sh(H, 'ls /var/lib/gear/drains/ 2>/dev/null; true')).trim(), '', 'no drain left behind');
});

test('an update to a broken image: out of the link while it fails, rolled back, back in the link; requests do not fail', async () => {
  const v2 = await imageId('test/web:2');
  await startLoop();
  const updating = update(['dr-web-1', '--image', 'test/web:broken']);
  // While it is updated, the client's link leads to dr-web-2 only.
  const out = await eventually(async () => {
    const t = await targetsNow();
    return t.length === 1 && t[0] === ports['dr-web-2'];
  }, 120_000, 100);
  const r = await updating;
  assert.ok(out, 'dr-web-1 was out of the link during the update');
  assert.is(r.code, 1, r.stdout);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /dr-web-1: test\/web:broken did not get healthy .*; rolled back to test\/web:2/, r.stderr);
  assert.is(await imageOf('dr-web-1'), v2);
  assert.equal(await targetsNow(), [ports['dr-web-1'], ports['dr-web-2']].sort(), 'back in the link');
  const log = await stopLoop();
  if (log.includes('fail')) assert.unreachable(await failureReport([r]));
  assert.ok(log.length > 0);
});

test('two updates of one container at once run one after the other: each starts from what the other left, back in the link at the end; requests do not fail', async () => {
  await startLoop();
  const [a, b] = await Promise.all([update(['dr-web-1', '--image', 'test/web:3']), update(['dr-web-1', '--image', 'test/web:4'])]);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  const from = (out: string) => /^updated dr-web-1: (\S+) /m.exec(out)?.[1];
  // Serialised: one went from test/web:2 (what the earlier tests left), the other from the first one's image.
  const froms = [from(a.stdout), from(b.stdout)].sort();
  assert.ok(
    JSON.stringify(froms) === JSON.stringify(['test/web:2', 'test/web:3']) || JSON.stringify(froms) === JSON.stringify(['test/web:2', 'test/web:4']),
    `${a.stdout}\n${b.stdout}`,
  );
  const last = froms[1] === 'test/web:3' ? 'test/web:4' : 'test/web:3';
  assert.is(await imageOf('dr-web-1'), await imageId(last));
  assert.equal(await targetsNow(), [ports['dr-web-1'], ports['dr-web-2']].sort(), 'back in the link');
  const log = await stopLoop();
  if (log.includes('fail')) assert.unreachable(await failureReport([a, b]));
  assert.is((await sh(H, 'ls /var/lib/gear/drains/ 2>/dev/null; true')).trim(), '', 'no drain left behind');
});

test('a client whose links cannot be applied without it: the update is refused (CLI, HTTP 409), nothing changed, the other client undisturbed', async () => {
  // dr-client2 balances over dr-web-1 and gone.test, a name that resolves when it is linked and no more
  // when dr-web-1 is updated: its links cannot be written without dr-web-1, so they would keep sending
  // connections to it while it restarts.
  const [p1, p2] = [ports['dr-web-1']!, ports['dr-web-2']!];
  const ip = (await sh(H, `ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1`)).trim();
  await sh(H, `echo '${ip} gone.test' >> /etc/hosts`);
  const r0 = await gear(H, ['install', 'test/web', 'dr-client2', '--start', '-n', `127.0.0.3:8080:localhost:${p1},127.0.0.3:8080:gone.test:${p2}`]);
  assert.is(r0.code, 0, r0.stderr);
  await sh(H, `sed -i '/ gone.test$/d' /etc/hosts`);
  const rules2 = async () => (await sh(H, `nsenter -t ${await pidOf('dr-client2')} -n iptables-save -t nat`)).split('\n').filter((l) => l.includes('-j DNAT'));
  const before = { id: (await sh(H, 'docker inspect -f "{{.Id}} {{.State.StartedAt}}" ctr-dr-web-1')).trim(), image: await imageOf('dr-web-1'), rules2: await rules2() };
  assert.is(before.rules2.length, 2, before.rules2.join('\n'));
  await startLoop();
  try {
    const r = await update(['dr-web-1', '--image', 'test/web:2']);
    assert.is(r.code, 1, r.stdout);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /dr-web-1 is not updated: it could not be taken out of the links of dr-client2: link target gone\.test does not resolve: \w+; .*Nothing changed \(fix or remove those links/);
    await startAgent(H);
    try {
      const res = await curl(H, ['--unix-socket', '/run/gear/gear.sock', '-X', 'POST', 'http://agent/container/dr-web-1/update', '-H', 'Content-Type: application/json', '-d', '{"Image":"test/web:2"}']);
      assert.is(res.status, 409, res.body);
      assert.match(JSON.parse(res.body).Message, /dr-web-1 is not updated: it could not be taken out of the links of dr-client2/);
    } finally {
      await stopAgent(H);
    }
    // Not restarted, the same image; both clients' links as before; no drain left.
    assert.is((await sh(H, 'docker inspect -f "{{.Id}} {{.State.StartedAt}}" ctr-dr-web-1')).trim(), before.id);
    assert.is(await imageOf('dr-web-1'), before.image);
    assert.equal(await targetsNow(), [p1, p2].sort(), 'dr-client leads to both again');
    assert.equal(await rules2(), before.rules2);
    assert.is((await sh(H, 'ls /var/lib/gear/drains/ 2>/dev/null; true')).trim(), '', 'no drain left behind');
    const log = await stopLoop();
    if (log.includes('fail')) assert.unreachable(await failureReport([r]));
  } finally {
    await inClient('touch /tmp/stop');
    await sh(H, `sed -i '/ gone.test$/d' /etc/hosts`);
    await gear(H, ['delete', 'dr-client2']);
  }
});

test('bad links: the same target twice, too many targets, bad addresses: refused (CLI and HTTP 400), nothing changed', async () => {
  const p1 = ports['dr-web-1']!;
  // The agent first: it writes its token when it starts.
  await startAgent(H);
  try {
    const before = await stateListing(H);
    const rulesBefore = await dnat();
    const many = Array.from({ length: 17 }, (_, i) => `${LINK}:localhost:${4000 + i}`).join(',');
    for (const [args, message] of [
      [['link', '-n', `${LINK}:localhost:${p1},${LINK}:localhost:${p1}`, 'dr-client'], new RegExp(`${LINK} is linked twice to localhost:${p1}`)],
      [['link', '-n', many, 'dr-client'], /127\.0\.0\.2:8080 has more than 16 targets/],
      [['link', '-n', `${LINK}:localhost:${p1},${LINK}:a b:1`, 'dr-client'], /TO_HOST/],
      [['link', '-n', `${LINK}:localhost:${p1},${LINK}:127.0.0.1:1`, 'dr-client'], /loopback/],
      [['link', '-n', `${LINK}:localhost:${p1},999.0.0.1:8080:localhost:1`, 'dr-client'], /FROM_IP/],
    ] as const) {
      const r = await gear(H, args as unknown as string[]);
      assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const api = ['--unix-socket', '/run/gear/gear.sock', '-X', 'POST', 'http://agent/containers/links', '-H', 'Content-Type: application/json'];
    const target = (ToPort: number, ToHost = 'localhost') => ({ FromHost: '127.0.0.2', FromPort: 8080, ToHost, ToPort });
    for (const [links, message] of [
      [[target(p1), target(p1)], /NetworkLinks\[1\]: 127\.0\.0\.2:8080 is linked twice to localhost:/],
      [Array.from({ length: 17 }, (_, i) => target(4000 + i)), /NetworkLinks\[16\]: 127\.0\.0\.2:8080 has more than 16 targets/],
      [[target(p1), target(1, '10.0.0.1;reboot')], /NetworkLinks\[1\]\.ToHost/],
      [[target(p1), { ...target(1), FromHost: '127.0.0.2\n-A' }], /NetworkLinks\[1\]\.FromHost/],
    ] as const) {
      const res = await curl(H, [...api, '-d', JSON.stringify({ Links: [{ Id: 'dr-client', NetworkLinks: links }] })]);
      assert.is(res.status, 400, res.body);
      assert.match(JSON.parse(res.body).Message, message);
    }
    assert.is(await stateListing(H), before, 'refused requests changed nothing');
    assert.equal(await dnat(), rulesBefore);
  } finally {
    await stopAgent(H);
  }
});

test.after(async () => {
  for (const c of ['dr-client', 'dr-client2', ...WEBS]) await gear(H, ['delete', c]);
});

test.run();
