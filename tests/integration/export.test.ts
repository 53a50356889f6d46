import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { TEST_HOST as A, REPO, curl, gear, hostIp, putFile, remoteAgents, sh } from './harness.js';

// gear export on a real host, its files read by the real tools: Quadlet's
// generator (podman 5.4's /usr/libexec/podman/quadlet --dryrun, in the
// Debian 13 root tests/images/build-trixie.sh makes: Debian 12's podman 4.3
// has no Quadlet), systemd itself (the generated ExecStart run by the test
// host's systemd with podman swapped for a program that records its argv:
// podman cannot start containers in these sandboxes), and Kubernetes'
// OpenAPI schemas (kubernetes-models 5.1.0) for --kube.
const ipA = hostIp(A);
const agents = remoteAgents([A]);
const { cli } = agents;

// Values systemd or Quadlet would take for their own: specifiers, variables, quotes, backslashes.
const NASTY_CHECK = `test -n "\${HOME}$PATH" && echo '100% %n' \\ "x y" >/dev/null; true`;
const NASTY_PATH = `/data/it's "a" \${X} $Y %h 100% b\\s`;
const SECRET = 'S3cr3t-export-value';

let root = '';
let work = '';

/** Quadlet's generator on DIR's files, in the trixie root: its stdout (the services) and stderr (its warnings). */
function generate(files: { Name: string; Text: string }[]): { code: number; out: string; err: string } {
  const dir = mkdtempSync(join(root, 'tmp', 'gear-export-'));
  try {
    for (const f of files) writeFileSync(join(dir, f.Name), f.Text);
    const inRoot = dir.slice(root.length);
    // podman needs /proc; a private mount namespace takes the mount away with it.
    const r = spawnSync('unshare', ['--mount', '--fork', '--', 'chroot', root, '/bin/sh', '-c', `mount -t proc proc /proc && QUADLET_UNIT_DIRS=${inRoot} exec /usr/libexec/podman/quadlet --dryrun`], { encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The generator's complaints: every stderr line but its "Loading source unit file" notes. */
const complaints = (err: string) => err.split('\n').filter((l) => l.trim() && !/Loading source unit file/.test(l));

/** One service out of --dryrun's output ("---NAME.service---" before each). */
function service(out: string, name: string): string {
  const parts = out.split(/^---(.+)---$/m);
  const i = parts.indexOf(name);
  assert.ok(i > 0, `no ${name} in the generator's output:\n${out}`);
  return parts[i + 1]!;
}

test.before(async () => {
  root = execFileSync('bash', [`${REPO}/tests/images/build-trixie.sh`], { encoding: 'utf8' }).trim().split('\n').pop()!;
  work = mkdtempSync('/tmp/gear-export-test-');
  const r = await gear(A, ['install', 'test/web', 'exp-1', '-p', '8080:0', '-e', `SECRET=${SECRET}`, '-v', '/data', '-v', NASTY_PATH,
    '--health-cmd', NASTY_CHECK, '--health-interval', '1500ms', '--memory', '64M', '--cpus', '0.5', '--pids', '100']);
  assert.is(r.code, 0, r.stderr);
  await agents.start();
});

test.after(async () => {
  await gear(A, ['delete', 'exp-1']);
  await sh(A, 'rm -rf /root/export-argv /root/export-verify /etc/systemd/system/exp-argv.service; systemctl daemon-reload');
  await agents.stop();
  rmSync(work, { recursive: true, force: true });
});

let exported = '';

test('gear export --quadlet NAME: the same file here and through the agent; the env file by path, never its values', async () => {
  const local = await gear(A, ['export', '--quadlet', 'exp-1']);
  assert.is(local.code, 0, local.stderr);
  const remote = await cli(['export', '--quadlet', `${ipA}/exp-1`]);
  assert.is(remote.code, 0, remote.stderr);
  assert.is(remote.stdout, local.stdout);
  exported = local.stdout;
  assert.match(exported, /^EnvironmentFile=\/var\/lib\/gear\/env\/exp-1\.env$/m);
  assert.not.ok(exported.includes(SECRET), 'the secret is not in the export');
  const http = await curl(A, ['--unix-socket', '/run/gear/gear.sock', '-H', 'Accept: application/json', 'http://agent/container/exp-1/export?format=quadlet']);
  assert.is(http.status, 200, http.body);
  assert.is(JSON.parse(http.body).Files[0].Text, exported);
});

test('Quadlet accepts it without a warning, and its service runs what gear runs', () => {
  const g = generate([{ Name: 'exp-1.container', Text: exported }]);
  assert.is(g.code, 0, g.err);
  assert.equal(complaints(g.err), [], g.err);
  const unit = service(g.out, 'exp-1.service');
  const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
  const port = /PublishPort=(\d+):8080/.exec(exported)![1];
  for (const piece of ['/usr/bin/podman run', '--name ctr-exp-1', '--env-file /var/lib/gear/env/exp-1.env', `--publish ${port}:8080`, '-v gear.exp-1.data.',
    '--health-interval 1500ms', '--health-on-failure kill', '--sdnotify=healthy', '--memory 67108864 --memory-swap 67108864 --cpus 0.5 --pids-limit 100', ' docker.io/test/web'])
    assert.ok(exec.includes(piece), `${piece} in ${exec}`);
  assert.match(unit, /^Slice=gear\.slice$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
  writeFileSync(join(work, 'exp-1.service'), unit);
});

test("systemd reads the generated ExecStart as gear's values: the nasty check and path reach the command unchanged", async () => {
  const unit = readFileSync(join(work, 'exp-1.service'), 'utf8');
  // systemd-analyze verify on the generated service (podman is there, 4.3: the unit only has to name it).
  await sh(A, 'mkdir -p /root/export-verify /root/export-argv');
  await putFile(A, '/root/export-verify/exp-1.service', unit);
  const verify = await sh(A, 'systemd-analyze verify /root/export-verify/exp-1.service 2>&1; echo "rc=$?"');
  assert.match(verify, /rc=0\s*$/, verify);
  assert.not.match(verify, /exp-1\.service:\d+:/, verify);
  // The same ExecStart, with podman swapped for a recorder of its argv, run by systemd.
  const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))!.replace('ExecStart=/usr/bin/podman ', 'ExecStart=/root/export-argv/record ');
  await putFile(A, '/root/export-argv/record', '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > /root/export-argv/argv\n');
  await putFile(A, '/etc/systemd/system/exp-argv.service', `[Service]\nType=oneshot\n${exec}\n`);
  await sh(A, 'chmod 755 /root/export-argv/record; systemctl daemon-reload; systemctl start exp-argv.service');
  const argv = (await sh(A, 'tr "\\0" "\\n" < /root/export-argv/argv')).split('\n');
  assert.is(argv[argv.indexOf('--health-cmd') + 1], NASTY_CHECK);
  assert.ok(argv.some((a) => a.endsWith(`:${NASTY_PATH}`) && a.startsWith('gear.exp-1.')), argv.join(' | '));
});

test('a deployment file: one .container per instance into --output-dir, all accepted by Quadlet', async () => {
  const file = join(work, 'app.json');
  writeFileSync(file, JSON.stringify({
    Containers: [
      { Name: 'web', Image: 'test/web', Count: 2, PublicPorts: [{ Internal: 8080 }], Links: [{ To: 'db' }], Environment: [{ Name: 'PASSWORD', Value: SECRET }], Memory: '64M' },
      { Name: 'db', Image: 'test/web', Count: 1, PublicPorts: [{ Internal: 5432, External: 15432 }] },
    ],
  }));
  const dir = mkdtempSync(join(work, 'out-'));
  const r = await cli(['export', '--quadlet', file, '-o', dir]);
  assert.is(r.code, 0, r.stderr);
  const names = readdirSync(dir).sort();
  assert.equal(names, ['db-1.container', 'web-1.container', 'web-2.container']);
  const files = names.map((Name) => ({ Name, Text: readFileSync(join(dir, Name), 'utf8') }));
  assert.not.ok(files.some((f) => f.Text.includes(SECRET)));
  const g = generate(files);
  assert.is(g.code, 0, g.err);
  assert.equal(complaints(g.err), [], g.err);
  assert.ok(service(g.out, 'db-1.service').includes('--publish 15432:5432'));
  assert.ok(service(g.out, 'web-2.service').includes('--env-file /var/lib/gear/env/web-2.env'));
});

test('--kube: YAML whose every object passes Kubernetes OpenAPI schemas', async () => {
  const file = join(work, 'app.json');
  const r = await cli(['export', '--kube', file]);
  assert.is(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
  const models: Record<string, new (o: never) => { validate(): void }> = { Deployment, StatefulSet, Secret, Service };
  for (const d of docs) new models[d.kind as string]!(d as never).validate();
  assert.equal(docs.map((d) => `${d.kind}/${(d.metadata as { name: string }).name}`), ['Secret/web-env', 'Service/web', 'Service/db', 'Deployment/web', 'Deployment/db']);
  assert.match(r.stdout, /^# Not carried over: db: host port 15432/m);
});

test('--kube holds environment values in Secrets: --output FILE is 0600; a stdout file others can read is refused, nothing written', () => {
  const file = join(work, 'app.json');
  const shell = (script: string) => spawnSync('/bin/sh', ['-c', script], { cwd: work, env: { ...process.env, GEAR: `${REPO}/bin/gear` }, encoding: 'utf8' });
  const redirected = shell(`umask 022; "$GEAR" export --kube ${file} > kube-shell.yaml`);
  assert.is(redirected.status, 1);
  assert.is(redirected.stderr, 'gear: the manifests hold environment values in Secrets (often secrets), and stdout is a file others can read (mode 0644): nothing written; use --output FILE (written 0600)\n');
  assert.is(readFileSync(join(work, 'kube-shell.yaml'), 'utf8'), '');
  const written = shell(`umask 022; "$GEAR" export --kube ${file} --output kube.yaml`);
  assert.is(written.status, 0, written.stderr);
  assert.is(written.stdout, '');
  assert.is((statSync(join(work, 'kube.yaml')).mode & 0o777).toString(8), '600');
  assert.match(readFileSync(join(work, 'kube.yaml'), 'utf8'), /kind: "Secret"/);
  const quadlet = shell(`"$GEAR" export --quadlet ${file} --output q.container`);
  assert.is(quadlet.status, 1);
  assert.match(quadlet.stderr, /^gear: --output is for --kube/);
});

test('bad input: one line, exit 1, nothing written', async () => {
  for (const [args, msg] of [
    [['export', 'exp-1'], /export needs one of --quadlet or --kube/],
    [['export', '--quadlet', '--kube', 'exp-1'], /export needs one of --quadlet or --kube/],
    [['export', '--quadlet', 'nosuch'], /container nosuch is not installed/],
    [['export', '--kube', 'exp-1'], /exp-1 is not a file/],
    [['export', '--quadlet', 'bad name!'], /not valid/],
  ] as const) {
    const r = await gear(A, [...args]);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
  const http = await curl(A, ['--unix-socket', '/run/gear/gear.sock', 'http://agent/container/exp-1/export?format=yaml']);
  assert.is(http.status, 400, http.body);
  assert.match(http.body, /format/);
});

test.run();
