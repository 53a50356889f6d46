/**
 * The super-privileged container image (issue 4), on a real test host: the
 * Dockerfile builds (from local stand-ins of its public bases), every label
 * expands as atomic and `podman container runlabel` expand it, INSTALL puts
 * the agent's unit and the host's `gear` command on the host, the agent runs
 * as an SPC and serves the host CLI, survives its own restart without
 * touching containers, and UNINSTALL removes exactly what INSTALL added (all
 * of gear with --purge). Last, atomic's system-container files are rendered
 * as `atomic install --system` renders them and run by runc.
 *
 * Adaptations to this machine, made only inside the throwaway test host and
 * never in what users run (labels and units keep --privileged):
 *  1. `docker run --privileged` cannot start a container here: runc cannot
 *     apply CAP_SYS_RESOURCE, which is outside the sandbox's capability
 *     bounding set (shared/TESTHOST.md). tests/images/privileged-shim.sh,
 *     installed as /usr/local/sbin/docker (first on root's PATH, and first in
 *     the order both gear and install.sh look for a docker client), swaps
 *     that one flag for --cap-add ALL --cap-drop SYS_RESOURCE and seccomp,
 *     AppArmor and /proc paths unconfined (the agent writes /proc/sys in
 *     containers' network namespaces), and passes everything else to
 *     /usr/bin/docker unchanged.
 *  2. A host's systemd makes / rshared at boot, but not when it runs in a
 *     container, as the test host's does; the labels' rslave mounts need a
 *     shared /, so the test makes it so first (and private again after).
 *  3. atomic fills ALL_PROCESS_CAPABILITIES with every capability; here it is
 *     the bounding set (without CAP_SYS_RESOURCE), for the reason of 1.
 * atomic itself is not packaged for Debian 12: its expansion of labels and of
 * system-container templates is reproduced below from its source
 * (Atomic/atomic.py sub_env_strings and gen_cmd, util.check_call; syscontainers
 * _write_template), and podman's is run for real with --display.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TEST_HOST as H, allocatedPort, eventually, hostIp, httpGet, run, sh, journalMatching } from './harness.js';

const ip = hostIp(H);
const TESTHOST = `${REPO}/tests/host/testhost`;
const IMAGE = 'gear'; // as given to `atomic install gear`
const NAME = 'gear';
/** Root's PATH on Debian: /usr/local/sbin (the wrapper) first. atomic runs the label's "docker" from it. */
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where gear and its installers write; compared before and after. */
const LISTED = '/etc/systemd/system /etc/tmpfiles.d /usr/local/bin /var/lib/gear /var/lib/containers/atomic /run/gear';
const listing = () => sh(H, `find ${LISTED} -printf '%p %m %y\\n' 2>/dev/null | sort; true`);
/** The host command, run as a user would from DIR. */
const hostGear = (args: string, dir = '/root') => run(H, ['sh', '-c', `cd ${dir} && /usr/local/bin/gear ${args}`], { env: { PATH: ROOT_PATH } });

// ---- how atomic and podman expand a label ----------------------------------

/**
 * atomic: the label split on whitespace, whole words IMAGE/NAME replaced,
 * extra arguments appended; then $VAR and ${VAR} expanded from its
 * environment (NAME, IMAGE, OPT1..3, PWD, SUDO_UID, SUDO_GID and the
 * caller's), anything else starting with $ deleted, whitespace collapsed,
 * and shlex.split into argv, run without a shell.
 */
function atomicArgv(label: string, vars: { IMAGE: string; NAME: string }, extra: string[] = []): string[] {
  const words: Record<string, string> = { IMAGE: vars.IMAGE, NAME: vars.NAME, 'IMAGE=IMAGE': `IMAGE=${vars.IMAGE}`, 'NAME=NAME': `NAME=${vars.NAME}` };
  let s = [...label.split(/\s+/).filter(Boolean).map((w) => words[w] ?? w), ...extra].join(' ');
  const env: Record<string, string> = { ...vars, PWD: '/root', SUDO_UID: '0', SUDO_GID: '0' };
  s = s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? m);
  s = s.replace(/\$\{?\S*\}?/g, '');
  // shlex.split equals a split on whitespace when there is nothing to unquote.
  assert.not.match(s, /['"\\]/, 'no quoting in labels');
  return s.split(/\s+/).filter(Boolean);
}

/** podman's own expansion, for real: `podman container runlabel --display`, its argv. */
function podmanArgv(storage: string[], label: string, extra: string[] = []): string[] {
  const r = spawnSync('podman', [...storage, 'container', 'runlabel', '--display', label, IMAGE, ...(extra.length ? ['--', ...extra] : [])], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const m = /^command: (.*)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1]!.split(' ');
}

/** Python's string.Template.substitute, as atomic's system containers use it: $$, $NAME, ${NAME}; a missing name is an error. */
function pyTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\$(?:(\$)|(\w+)|\{(\w+)\}|)/g, (m, dollar: string, a: string, b: string) => {
    if (dollar) return '$';
    const key = a ?? b;
    if (key === undefined) throw new Error(`invalid placeholder at ${m}`);
    if (!(key in values)) throw new Error(`no value for $${key}`);
    return values[key]!;
  });
}

const labels = async (): Promise<Record<string, string>> => JSON.parse(await sh(H, "docker image inspect -f '{{json .Config.Labels}}' gear"));
const agentReady = () => eventually(async () => (await hostGear('list-units')).code === 0, 120_000, 50);
const runLabel = async (label: string, extra: string[] = [], name = NAME) => {
  const argv = atomicArgv((await labels())[label]!, { IMAGE, NAME: name }, extra);
  return run(H, argv, { env: { PATH: ROOT_PATH } });
};

let before = '';
let port = 0;

/** podman runs on the machine (its --display needs no container); installed like testhost setup's packages. */
function ensurePodman(): void {
  if (spawnSync('sh', ['-c', 'command -v podman']).status === 0) return;
  // A policy-rc.d, only if there is none, keeps apt from starting services on the machine.
  const r = spawnSync('sh', ['-c', `made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >&2; rc=$?; [ -z "$made" ] || rm -f /usr/sbin/policy-rc.d; exit $rc`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot install podman: ${r.stderr}`);
}

test.before(async () => {
  ensurePodman();
  await sh(H, `install -m 755 ${REPO}/tests/images/privileged-shim.sh /usr/local/sbin/docker`);
  await sh(H, 'mount --make-rshared /');
  // A clean slate: other suites share this host. Their containers, gear's
  // target and state go, so that the listing before INSTALL is gear-free.
  await sh(H, `ids=$(${REPO}/bin/gear list-units --all --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).Containers.map(c=>c.Id).join(" ")))');
    [ -z "$ids" ] || ${REPO}/bin/gear delete $ids >/dev/null
    systemctl disable --quiet gear.target 2>/dev/null; rm -rf /etc/systemd/system/gear.target /etc/systemd/system/gear.target.wants /var/lib/gear
    systemctl stop gear-agent 2>/dev/null; rm -rf /run/gear /var/lib/containers/atomic; docker rm -f gear >/dev/null 2>&1; systemctl daemon-reload`);
  before = await listing();
  assert.not.match(before, /gear/, 'no gear files before the test');
});

test.after(async () => {
  await sh(H, 'rm -f /usr/local/sbin/docker; mount --make-rprivate /; true');
});

test('the Dockerfile builds in the host, from local stand-ins of node:24-bookworm-slim and debian:bookworm-slim', async () => {
  const r = spawnSync(`${REPO}/tests/images/build-spc.sh`, [H], { encoding: 'utf8', timeout: 900_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  // The runtime stage is the Debian base plus layers: no npm, node 24, the host tools, the bundle without source maps.
  const layers = async (img: string) => JSON.parse(await sh(H, `docker image inspect -f '{{json .RootFS.Layers}}' ${img}`)) as string[];
  assert.is((await layers('gear'))[0], (await layers('debian:bookworm-slim'))[0], 'built on debian:bookworm-slim');
  const tools = await sh(H, `docker run --rm gear sh -c 'node --version; journalctl --version | head -1; iptables --version; nsenter --version; ls /usr/local/lib/gear/dist; find /usr/local/lib/gear/dist -name "*.map"; command -v npm || echo no-npm'`);
  assert.match(tools, /^v24\./);
  assert.match(tools, /systemd 252/);
  assert.match(tools, /iptables v1\.8\.9 \(nf_tables\)/);
  assert.match(tools, /nsenter from util-linux/);
  assert.match(tools, /^gear\.js$/m);
  assert.match(tools, /^chunks$/m);
  assert.not.match(tools, /\.map$/m);
  assert.match(tools, /no-npm/);
  // `docker run IMAGE gear ...` is the CLI.
  assert.match(await sh(H, 'docker run --rm gear gear --version'), /^\d+\.\d+\.\d+/);
});

test('labels: ${IMAGE} and ${NAME} only, no shell syntax', async () => {
  const all = await labels();
  for (const key of ['INSTALL', 'UNINSTALL', 'RUN', 'STOP']) {
    const label = all[key];
    assert.ok(label, `LABEL ${key}`);
    assert.equal([...new Set(label.match(/\$\{?\w*\}?/g))].filter((v) => v !== '${IMAGE}' && v !== '${NAME}'), [], `${key}: variables`);
    assert.not.match(label, /[;&|<>()`'"\\*?~#]/, `${key}: shell syntax`);
    assert.match(label, /^docker /, `${key}: a docker command (podman runs it as podman)`);
  }
});

test('podman container runlabel --display expands each label as atomic does', async () => {
  const dir = mkdtempSync('/var/lib/gear-testhosts/images/.podman-');
  const storage = ['--root', `${dir}/root`, '--runroot', `${dir}/run`, '--storage-driver', 'overlay'];
  try {
    const load = spawnSync('bash', ['-c', `set -o pipefail; ${TESTHOST} exec ${H} -- docker save gear:latest | podman ${storage.join(' ')} load -q`], { encoding: 'utf8' });
    assert.is(load.status, 0, load.stderr);
    const all = await labels();
    // podman names the image localhost/gear:latest and runs "docker" as itself.
    const vars = { IMAGE: 'localhost/gear:latest', NAME };
    for (const [label, extra] of [['INSTALL', []], ['INSTALL', ['--start']], ['UNINSTALL', ['--purge']], ['RUN', []], ['STOP', []]] as const) {
      const podman = podmanArgv(storage, label, [...extra]);
      const atomic = atomicArgv(all[label]!, vars, [...extra]);
      assert.equal(podman, ['podman', ...atomic.slice(1)], `${label} ${extra.join(' ')}`);
    }
    assert.equal(podmanArgv(storage, 'INSTALL'), [
      'podman', 'run', '--rm', '--privileged', '--net=host', '--pid=host', '-v', '/run:/run:rslave', '-v', '/:/host:rslave',
      '-e', 'IMAGE=localhost/gear:latest', '-e', 'NAME=gear', 'localhost/gear:latest', '/usr/local/lib/gear/labels/install.sh',
    ]);
    assert.equal(podmanArgv(storage, 'STOP'), ['podman', 'stop', '-t', '10', 'gear']);
  } finally {
    spawnSync('podman', [...storage, 'system', 'reset', '-f'], { stdio: 'ignore' });
    spawnSync('rm', ['-rf', '--one-file-system', dir]);
  }
});

test('RUN, the agent unit and atomic config.json run the agent the same way', async () => {
  const flags = (argv: string[]) => argv.filter((a, i) => ['--privileged', '--net=host', '--pid=host'].includes(a) || argv[i - 1] === '-v').sort();
  const runArgv = atomicArgv((await labels()).RUN!, { IMAGE, NAME });
  const unit = readFileSync(`${REPO}/units/gear.service.hbs`, 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
  assert.equal(flags(execStart), flags(runArgv));
  assert.equal(runArgv.slice(-2), ['gear', 'daemon']);
  assert.equal(execStart.slice(-2), ['gear', 'daemon']);
  // atomic/config.json.template: host network and pid (only a mount namespace of its own), the same two rslave binds.
  const config = JSON.parse(pyTemplate(readFileSync(`${REPO}/atomic/config.json.template`, 'utf8'), { NAME, ALL_PROCESS_CAPABILITIES: '"CAP_SYS_ADMIN"' }));
  assert.equal(config.linux.namespaces, [{ type: 'mount' }]);
  type Mount = { type: string; source: string; destination: string; options: string[] };
  const binds = (config.mounts as Mount[]).filter((m) => m.type === 'bind' && !m.destination.startsWith('/dev'));
  assert.equal(
    binds.map((m) => `${m.source}:${m.destination}:${m.options.includes('rslave') ? 'rslave' : ''}`).sort(),
    runArgv.filter((_, i) => runArgv[i - 1] === '-v').sort(),
  );
  assert.equal(config.process.args, ['/usr/local/bin/gear', 'daemon']);
});

test('RUN starts the agent detached (as `atomic run` would); STOP stops it', async () => {
  const r = await runLabel('RUN');
  assert.is(r.code, 0, r.stderr);
  assert.ok(await eventually(async () => (await run(H, ['docker', 'exec', NAME, 'gear', 'list-units'])).code === 0, 120_000, 100), 'the agent answers');
  const stop = await runLabel('STOP');
  assert.is(stop.code, 0, stop.stderr);
  assert.is((await sh(H, `docker inspect -f '{{.State.Running}}' ${NAME}`)).trim(), 'false');
  // The agent made its token in the host's state dir (gear's state, root only);
  // INSTALL below starts from a gear-free host again.
  assert.is((await sh(H, "stat -c '%U %a' /var/lib/gear/token")).trim(), 'root 600');
  await sh(H, 'rm -rf /var/lib/gear');
});

test('INSTALL, as atomic expands it, puts the agent unit on the host, enabled but not started', async () => {
  const r = await runLabel('INSTALL');
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'systemctl is-enabled gear')).trim(), 'enabled');
  assert.is((await sh(H, 'systemctl is-active gear || true')).trim(), 'inactive');
  assert.is((await sh(H, "stat -c '%a' /etc/systemd/system/gear.service /usr/local/bin/gear")).trim(), '644\n755');
  const unit = await sh(H, 'systemctl cat gear');
  assert.match(unit, /^ExecStart=\/usr\/local\/sbin\/docker run --rm --name gear --privileged --net=host --pid=host -v \/run:\/run:rslave -v \/:\/host:rslave gear gear daemon$/m);
  assert.match(unit, /^Requires=docker\.service$/m);
  assert.is((await sh(H, 'systemd-analyze verify /etc/systemd/system/gear.service 2>&1')).trim(), '');
  assert.equal((await sh(H, 'grep -v "^#" /var/lib/gear/spc/gear.installed')).trim().split('\n'), [
    'dir /var/lib/gear', 'dir /var/lib/gear/spc', 'file /etc/systemd/system/gear.service', 'file /usr/local/bin/gear', 'enabled gear.service',
  ]);
});

test('INSTALL again changes nothing; a NAME whose unit exists is refused', async () => {
  const sums = () => sh(H, 'md5sum /etc/systemd/system/gear.service /usr/local/bin/gear /var/lib/gear/spc/gear.installed');
  const [list1, sums1] = [await listing(), await sums()];
  assert.is((await runLabel('INSTALL')).code, 0);
  assert.is(await listing(), list1);
  assert.is(await sums(), sums1);
  const refused = await runLabel('INSTALL', [], 'docker'); // `atomic install --name docker gear`
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /a unit docker\.service exists already/);
  assert.is(await listing(), list1);
});

test('starting the unit runs the agent as an SPC; the host command reaches it', async () => {
  const started = Date.now();
  await sh(H, 'systemctl start gear');
  assert.ok(await agentReady(), 'gear list-units answers through the agent');
  console.log(`  spc: the agent answered ${Date.now() - started} ms after systemctl start`);
  // The RUN label's stopped container was replaced (ExecStartPre removes it).
  const inspect = JSON.parse(await sh(H, 'docker inspect gear'))[0];
  assert.is(inspect.HostConfig.NetworkMode, 'host');
  assert.is(inspect.HostConfig.PidMode, 'host');
  assert.equal(inspect.HostConfig.Binds.sort(), ['/:/host:rslave', '/run:/run:rslave']);
  assert.is(inspect.Config.Env.includes('GEAR_HOST_ROOT=/host'), true);
  // Host namespaces: the agent's process is in the host's pid and network namespaces.
  const pid = inspect.State.Pid;
  assert.is((await sh(H, `readlink /proc/${pid}/ns/pid /proc/${pid}/ns/net`)).trim(), (await sh(H, 'readlink /proc/1/ns/pid /proc/1/ns/net')).trim());
  // Its API on the socket in the host's /run (no token: root only), and on the
  // host's loopback with the token it made itself in the host's state dir.
  assert.is((await run(H, ['curl', '-sf', '--unix-socket', '/run/gear/gear.sock', 'http://agent/health'])).code, 0);
  assert.is((await sh(H, "stat -c '%U %a' /var/lib/gear/token")).trim(), 'root 600');
  assert.is((await run(H, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:43273/health'])).stdout, '401');
  assert.is((await run(H, ['sh', '-c', 'curl -sf -H "Authorization: Bearer $(cat /var/lib/gear/token)" http://127.0.0.1:43273/health'])).code, 0);
});

test('gear install through the host command: a host unit whose container answers on the host IP', async () => {
  const r = await hostGear('install test/web web-1 --start -p 8080:0');
  assert.is(r.code, 0, r.stderr);
  port = allocatedPort(r.stdout);
  assert.is((await sh(H, 'systemctl is-active ctr-web-1')).trim(), 'active');
  const res = await eventually(() => httpGet(`http://${ip}:${port}/`));
  assert.ok(res, 'the container answers from outside the host');
  assert.match(res.body, /hello from test\/web/);
  // It went through the agent (the host command sets GEAR_AGENT), which logs each request.
  assert.match(await journalMatching(H, '-u gear -o cat', /gear daemon: .*web-1/), /gear daemon: .*web-1/);
  // Relative paths are the caller's: --env-file app.env in /tmp.
  await sh(H, "printf 'GREETING=hi\\n' > /tmp/app.env");
  const env = await hostGear('install test/web web-2 --env-file app.env', '/tmp');
  assert.is(env.code, 0, env.stderr);
  assert.match((await hostGear('env web-2')).stdout, /^GREETING=hi$/m);
  // The journal is the host's, read from inside the agent.
  const logs = await eventually(async () => /web: listening on 8080/.test((await hostGear('logs web-1')).stdout));
  assert.ok(logs, 'gear logs shows the container output');
});

test("links from the agent: its iptables rules land in the container's namespace, and again when the unit restarts before the agent", async () => {
  const r = await hostGear(`install test/web lsrc --start -n 127.0.0.2:8081:localhost:${port}`);
  assert.is(r.code, 0, r.stderr);
  const inside = async () => (await run(H, ['docker', 'exec', 'ctr-lsrc', 'timeout', '5', 'wget', '-qO-', 'http://127.0.0.2:8081/'])).stdout;
  assert.match(String(await eventually(async () => /hello from test\/web/.test(await inside()) && 'ok', 120_000)), 'ok');
  const pid = (await sh(H, "docker inspect -f '{{.State.Pid}}' ctr-lsrc")).trim();
  assert.match(await sh(H, `nsenter -t ${pid} -n iptables-save -t nat`), new RegExp(`-A GEAR-LINKS -d 127.0.0.2/32 .*--dport 8081 -j DNAT --to-destination [0-9.]+:${port}`));
  // The unit's ExecStartPost re-applies them through the host command, which
  // waits for the agent (as at boot, when both start at once).
  assert.match(await sh(H, 'systemctl cat ctr-lsrc'), /^ExecStartPost=\/usr\/local\/bin\/gear apply-links /m);
  const applied = async () => (await sh(H, 'journalctl -u ctr-lsrc -o cat --no-pager')).match(/lsrc: 1 link applied/g)?.length ?? 0;
  const appliedBefore = await applied();
  await sh(H, 'systemctl stop gear');
  // The agent is started once the restart is in ExecStartPost, waiting for it (a fixed 2 s could start the agent
  // first at load, and test nothing of the wait).
  await sh(H, `(systemctl restart ctr-lsrc >/dev/null 2>&1 &)
    for i in $(seq 900); do [ "$(systemctl show -p SubState --value ctr-lsrc)" = start-post ] && break; sleep 0.2; done
    [ "$(systemctl show -p SubState --value ctr-lsrc)" = start-post ] || { systemctl status ctr-lsrc --no-pager; exit 1; }
    systemctl start gear`);
  // The restart waits in ExecStartPost for the agent, itself a container started meanwhile: minutes at high load.
  assert.ok(await eventually(async () => (await sh(H, 'systemctl is-active ctr-lsrc || true')).trim() === 'active', 180_000, 500));
  assert.match(String(await eventually(async () => /hello from test\/web/.test(await inside()) && 'ok', 120_000)), 'ok');
  // Its line may reach the journal after the unit is active: waited for, then counted exactly.
  await journalMatching(H, '-u ctr-lsrc -o cat', new RegExp(`(lsrc: 1 link applied[^]*){${appliedBefore + 1}}`));
  assert.is(await applied(), appliedBefore + 1, 'applied once more, by the restarted unit');
  assert.ok(await agentReady());
  assert.is((await hostGear('delete lsrc')).code, 0);
});

test("the image's iptables and nsenter act in the host's namespaces", async () => {
  // The host's nat table, as the agent's link rules will use it (nf_tables backend both sides).
  await sh(H, 'docker exec gear iptables -w 5 -t nat -N GEAR-SPC-PROBE');
  try {
    assert.match(await sh(H, 'iptables -w 5 -t nat -S GEAR-SPC-PROBE'), /^-N GEAR-SPC-PROBE$/m);
  } finally {
    await sh(H, 'docker exec gear iptables -w 5 -t nat -X GEAR-SPC-PROBE');
  }
  // A container's network namespace, entered from the agent, writable as links need (route_localnet).
  const pid = (await sh(H, "docker inspect -f '{{.State.Pid}}' ctr-web-1")).trim();
  const sysctl = '/proc/sys/net/ipv4/conf/all/route_localnet';
  await sh(H, `docker exec gear nsenter -t ${pid} -n sh -c 'echo 1 > ${sysctl}'`);
  assert.is((await sh(H, `nsenter -t ${pid} -n cat ${sysctl}`)).trim(), '1');
  await sh(H, `docker exec gear nsenter -t ${pid} -n sh -c 'echo 0 > ${sysctl}'`);
});

test("--isolate through the SPC agent: the user is made in the host's user database, not the image's; the container runs as it; delete gives it back", async () => {
  const r = await hostGear('install test/web iso-spc --isolate --start');
  assert.is(r.code, 0, r.stderr);
  const passwd = (await sh(H, 'getent passwd ctr-iso-spc')).trim();
  const uid = Number(passwd.split(':')[2]);
  assert.ok(uid >= 70000 && uid <= 79999, passwd);
  assert.is((await sh(H, 'docker exec ctr-iso-spc id -u')).trim(), String(uid));
  assert.is((await run(H, ['docker', 'exec', 'gear', 'getent', 'passwd', 'ctr-iso-spc'])).code, 2, "not in the agent image's own database");
  assert.is((await hostGear('delete iso-spc')).code, 0);
  assert.is((await run(H, ['getent', 'passwd', 'ctr-iso-spc'])).code, 2, 'the host user is gone');
});

test('restarting the agent leaves running containers untouched, and it picks its state back up', async () => {
  const state = () => sh(H, "docker inspect -f '{{.Id}} {{.State.StartedAt}}' ctr-web-1; systemctl show -P MainPID ctr-web-1");
  const agentBefore = (await sh(H, "docker inspect -f '{{.Id}}' gear")).trim();
  const containers = await state();
  await sh(H, 'systemctl restart gear');
  assert.ok(await agentReady());
  assert.is.not((await sh(H, "docker inspect -f '{{.Id}}' gear")).trim(), agentBefore, 'a new agent container');
  assert.is(await state(), containers, 'same container, same start, same unit process');
  assert.ok(await httpGet(`http://${ip}:${port}/`), 'still answers');
  const status = await hostGear('status web-1');
  assert.match(status.stdout, /Active: active \(running\)/);
  assert.match(status.stdout, new RegExp(`Ports: 8080 -> ${port}`));
});

test("UNINSTALL removes the agent and what INSTALL added; the user's containers keep running", async () => {
  const r = await runLabel('UNINSTALL');
  assert.is(r.code, 0, r.stderr);
  assert.is((await sh(H, 'ls /etc/systemd/system/gear.service /usr/local/bin/gear /var/lib/gear/spc /run/gear 2>/dev/null; true')).trim(), '');
  assert.is((await sh(H, 'systemctl is-enabled gear 2>&1 || true')).trim(), 'Failed to get unit file state for gear.service: No such file or directory');
  assert.is((await sh(H, "docker ps -a --filter name=^gear$ --format '{{.Names}}'")).trim(), '', 'no agent container');
  assert.is((await sh(H, 'systemctl is-active ctr-web-1')).trim(), 'active');
  assert.ok(await httpGet(`http://${ip}:${port}/`), 'still answers');
  assert.match(await sh(H, 'ls /var/lib/gear/containers'), /web-1\.json/);
  // Again: nothing left to do, nothing changes.
  const list = await listing();
  assert.is((await runLabel('UNINSTALL')).code, 0);
  assert.is(await listing(), list);
});

test("INSTALL --start, then UNINSTALL --purge: not a file of gear's is left", async () => {
  const r = await runLabel('INSTALL', ['--start']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(await agentReady());
  const purge = await runLabel('UNINSTALL', ['--purge']);
  assert.is(purge.code, 0, purge.stderr);
  assert.is(await listing(), before);
  assert.is((await sh(H, "docker ps -a --format '{{.Names}}' | grep -E '^(gear|ctr-)' || true")).trim(), '');
  assert.is(await httpGet(`http://${ip}:${port}/`, 1000), undefined);
});

test("a container called gear that is not from a gear image is someone else's: the unit's start and UNINSTALL leave it alone", async () => {
  await sh(H, `docker rm -f ${NAME} >/dev/null 2>&1; docker run -d --name ${NAME} test/web >/dev/null`);
  try {
    const install = await runLabel('INSTALL');
    assert.is(install.code, 0, install.stderr);
    // The agent's run fails on the name clash; its ExecStartPre removes only a container with gear's label.
    await run(H, ['systemctl', 'start', 'gear']);
    await new Promise((r) => setTimeout(r, 3000));
    const u = await runLabel('UNINSTALL');
    assert.is(u.code, 0, u.stderr);
    assert.match(u.stderr, new RegExp(`container ${NAME} is not from a gear image \\(no io\\.gear\\.spc label\\): left alone`));
    assert.is((await sh(H, `docker inspect -f '{{.State.Running}} {{.Config.Image}}' ${NAME}`)).trim(), 'true test/web');
    // gear's own containers carry the label, inherited from the image.
    assert.match(await sh(H, "docker image inspect -f '{{index .Config.Labels \"io.gear.spc\"}}' gear"), /gear agent/);
  } finally {
    await sh(H, `docker rm -f ${NAME} >/dev/null 2>&1 || true`);
  }
});

test('atomic install --system: the exported files render as atomic renders them, and runc runs the agent', async () => {
  const name = 'gear-sys';
  const dest = `/var/lib/containers/atomic/${name}.0`;
  // What atomic does: check the image out, fill the templates of /exports, write them to the host.
  await sh(H, `mkdir -p ${dest}/rootfs && id=$(docker create gear) && docker export $id | tar -C ${dest}/rootfs -x && docker rm $id >/dev/null`);
  const caps = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];
  const bounding = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(await sh(H, 'cat /proc/self/status'))![1]}`);
  const runc = (await sh(H, 'command -v runc')).trim();
  const values: Record<string, string> = {
    NAME: name, DESTDIR: dest, RUN_DIRECTORY: '/run', STATE_DIRECTORY: '/var/lib', CONF_DIRECTORY: '/etc', RUNTIME: runc,
    EXEC_START: `${runc} --systemd-cgroup run '${name}'`, EXEC_STOP: `${runc} kill '${name}'`, EXEC_STARTPRE: '', EXEC_STOPPOST: '',
    ALL_PROCESS_CAPABILITIES: `${caps.filter((_, i) => (bounding >> BigInt(i)) & 1n).map((c) => `"CAP_${c}"`).join(',\n')}\n`,
    HOST_UID: '0', HOST_GID: '0', UUID: 'test', IMAGE_NAME: IMAGE, IMAGE_ID: 'test',
  };
  const manifest = JSON.parse(readFileSync(`${REPO}/atomic/manifest.json`, 'utf8'));
  const put = async (src: string, dst: string, mode: string) => {
    const text = pyTemplate(readFileSync(`${REPO}/atomic/${src}`, 'utf8'), { ...manifest.defaultValues, ...values });
    await run(H, ['sh', '-c', `cat > ${dst} && chmod ${mode} ${dst}`], { input: text });
  };
  await put('config.json.template', `${dest}/config.json`, '644');
  await put('service.template', `/etc/systemd/system/${name}.service`, '644');
  await put('tmpfiles.template', `/etc/tmpfiles.d/${name}.conf`, '644');
  for (const f of manifest.installedFilesTemplate as string[]) await put(`hostfs${f}`, f, '755');
  assert.is((await sh(H, `systemd-analyze verify /etc/systemd/system/${name}.service 2>&1`)).trim(), '');
  try {
    await sh(H, `systemd-tmpfiles --create /etc/tmpfiles.d/${name}.conf && systemctl daemon-reload && systemctl start ${name}`);
    assert.ok(await agentReady(), 'the hostfs gear command reaches the agent through runc exec');
    const r = await hostGear('install test/web sys-1 --start -p 8080:0');
    assert.is(r.code, 0, r.stderr);
    assert.ok(await eventually(() => httpGet(`http://${ip}:${allocatedPort(r.stdout)}/`)));
    assert.is((await hostGear('delete sys-1')).code, 0);
    await sh(H, `systemctl stop ${name}`);
    assert.is((await sh(H, `systemctl is-failed ${name} || true`)).trim(), 'inactive', 'a clean stop');
  } finally {
    // What `atomic uninstall` removes, and gear's own leftovers of sys-1.
    await sh(H, `systemctl stop ${name} 2>/dev/null; systemd-tmpfiles --remove /etc/tmpfiles.d/${name}.conf;
      rm -rf /etc/systemd/system/${name}.service /etc/tmpfiles.d/${name}.conf /usr/local/bin/gear ${dest} /var/lib/containers/atomic
      systemctl disable --quiet gear.target 2>/dev/null; rm -rf /etc/systemd/system/gear.target /etc/systemd/system/gear.target.wants /var/lib/gear
      systemctl daemon-reload`);
  }
  assert.is(await listing(), before);
});

test.run();
