import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { exportedOf, type ExportedContainer } from '../../src/model/export/container.js';
import { exportedInstances } from '../../src/model/export/deployment.js';
import { qualifiedImage, quadletContainer, quadletValue } from '../../src/model/export/quadlet.js';
import { exportFilesText } from '../../src/operations/export.js';

// gear export --quadlet: the pure rendering. The real generator (podman 5.4's
// quadlet --dryrun, in a Debian 13 root) reads these files in
// tests/integration/export.test.ts.

/**
 * A Quadlet file read back as systemd and then the service's ExecStart
 * would: key=value per line, whitespace trimmed, "%%" a "%", and (for
 * [Container] keys, which reach the command line) "$$" a "$".
 */
function read(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    let value = line.slice(eq + 1).trim().replace(/%%/g, '%');
    if (section === 'Container') value = value.replace(/\$\$/g, '$');
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

const base: ExportedContainer = {
  Name: 'web-1',
  Image: 'localhost/test-web:latest',
  Ports: [{ Internal: 8080, External: 4000 }],
  EnvFile: '/var/lib/gear/env/web-1.env',
  Volumes: [{ Name: 'gear.web-1.data.0123456789', Path: '/data' }],
  BindMounts: [{ HostPath: '/srv/static', ContainerPath: '/static', ReadOnly: true }],
  Slice: 'gear.slice',
  After: [],
  Notes: [],
};

test('one container: image, ports, env file by path, volumes, slice, restart policy', () => {
  const f = quadletContainer(base, '/var/lib/gear/containers/web-1.json');
  assert.is(f.Name, 'web-1.container');
  const kv = read(f.Text);
  assert.equal(kv.get('Container.Image'), ['localhost/test-web:latest']);
  assert.equal(kv.get('Container.ContainerName'), ['ctr-web-1']);
  assert.equal(kv.get('Container.PublishPort'), ['4000:8080']);
  assert.equal(kv.get('Container.EnvironmentFile'), ['/var/lib/gear/env/web-1.env']);
  assert.equal(kv.get('Container.Volume'), ['gear.web-1.data.0123456789:/data', '/srv/static:/static:ro']);
  assert.equal(kv.get('Service.Slice'), ['gear.slice']);
  assert.equal(kv.get('Service.Restart'), ['on-failure']);
  assert.equal(kv.get('Install.WantedBy'), ['multi-user.target']);
  assert.not.ok(kv.has('Container.HealthCmd'));
  assert.not.ok(kv.has('Container.Environment'), 'no variable is ever inline');
});

test('health, ordering, isolation and limits in Quadlet terms', () => {
  const f = quadletContainer(
    {
      ...base,
      Health: { Cmd: 'curl -fs http://localhost:8080/', IntervalMs: 1500, TimeoutMs: 5000, Retries: 3, StartPeriodMs: 60_000 },
      After: ['db-1', 'cache-1'],
      Isolation: { Uid: 70001, Gid: 70001, User: 'ctr-web-1', Label: 's0:c1,c2' },
      Limits: { Memory: 268435456, Cpus: 0.5, Pids: 200 },
    },
    'x',
  );
  const kv = read(f.Text);
  assert.equal(kv.get('Container.HealthCmd'), ['curl -fs http://localhost:8080/']);
  assert.equal(kv.get('Container.HealthInterval'), ['1500ms']);
  assert.equal(kv.get('Container.HealthStartPeriod'), ['1m']);
  assert.equal(kv.get('Container.HealthOnFailure'), ['kill']);
  assert.equal(kv.get('Container.Notify'), ['healthy']);
  assert.equal(kv.get('Unit.After'), ['db-1.service cache-1.service']);
  assert.equal(kv.get('Unit.Wants'), ['db-1.service cache-1.service']);
  assert.equal(kv.get('Container.User'), ['70001']);
  assert.equal(kv.get('Container.DropCapability'), ['all']);
  assert.equal(kv.get('Container.SecurityLabelLevel'), ['s0:c1,c2']);
  assert.equal(kv.get('Container.PodmanArgs'), ['--memory 268435456 --memory-swap 268435456 --cpus 0.5 --pids-limit 200']);
});

test('nasty values are written so that they read back the same', () => {
  const nasty = `test -f "/tmp/a b" && echo '\${HOME}' $PATH %n 100% \\ \\\\ "q" ; exit 1`;
  const path = `/data/it's a "dir" \${X} $Y %h 100% back\\slash`;
  const f = quadletContainer({ ...base, Volumes: [{ Name: 'v', Path: path }], Health: { Cmd: nasty, IntervalMs: 1000, TimeoutMs: 1000, Retries: 1, StartPeriodMs: 0 } }, 'x');
  const kv = read(f.Text);
  assert.equal(kv.get('Container.HealthCmd'), [nasty]);
  assert.equal(kv.get('Container.Volume'), [`v:${path}`, '/srv/static:/static:ro']);
  // Every "$" doubled where a command line will hold it, every "%" doubled everywhere.
  assert.ok(f.Text.includes('HealthCmd=test -f "/tmp/a b" && echo \'$${HOME}\' $$PATH %%n 100%% \\ \\\\ "q" ; exit 1\n'));
  assert.ok(f.Text.includes('Description=gear container web-1 (localhost/test-web:latest)\n'));
});

test("images in full, as Docker resolves them (podman would search its registries for a short name)", () => {
  assert.is(qualifiedImage('nginx'), 'docker.io/library/nginx');
  assert.is(qualifiedImage('nginx:1.27'), 'docker.io/library/nginx:1.27');
  assert.is(qualifiedImage('test/web'), 'docker.io/test/web');
  assert.is(qualifiedImage('test/web@sha256:' + 'a'.repeat(64)), 'docker.io/test/web@sha256:' + 'a'.repeat(64));
  assert.is(qualifiedImage('localhost/web'), 'localhost/web');
  assert.is(qualifiedImage('registry.example.com/a/b:1'), 'registry.example.com/a/b:1');
  assert.is(qualifiedImage('myhost:5000/web'), 'myhost:5000/web');
  assert.equal(read(quadletContainer({ ...base, Image: 'test/web' }, 'x').Text).get('Container.Image'), ['docker.io/test/web']);
});

test('what a Quadlet file cannot hold is refused with the value named, not written', () => {
  for (const [value, msg] of [
    ['a\nExecStartPre=/bin/sh', /control character/],
    ['a\rb', /control character/],
    ['/data ', /whitespace/],
    [' /data', /whitespace/],
    ['/data\\', /backslash/],
  ] as const)
    assert.throws(() => quadletValue(value, 'volume path'), msg, JSON.stringify(value));
  assert.throws(() => quadletContainer({ ...base, Volumes: [{ Name: 'v', Path: '/data ' }] }, 'x'), /volume path "\/data " begins or ends with whitespace/);
  // Comments cannot be broken out of either.
  const f = quadletContainer({ ...base, Notes: ['a\n[Service]\nExecStartPre=/bin/false'] }, 'x');
  assert.not.ok(/^\[Service\]\nExecStartPre/m.test(f.Text));
  assert.ok(f.Text.includes('# Not carried over: a [Service] ExecStartPre=/bin/false.'));
});

const def: ContainerDefinition = {
  Id: 'web-1',
  Image: 'localhost/test-web',
  Ports: [{ Internal: 8080, External: 4000 }],
  VolumeConfig: { Volumes: ['/data'], BindMounts: [] },
  NamedVolumes: [{ Name: 'gear.web-1.data.abc', Path: '/data' }],
  SystemdSlice: 'web.slice',
  EnvId: 'shared',
  Linked: true,
  After: ['db-1'],
  SocketActivation: { PrivatePort: 40000 },
  Created: '2026-12-03T00:00:00Z',
};

test('from a definition: its env file, named volumes, slice, order; links and socket activation as notes', () => {
  const c = exportedOf(def, '/var/lib/gear/env/shared.env', [{ FromHost: '127.0.0.2', FromPort: 5432, ToHost: '10.0.0.5', ToPort: 40001 }]);
  const f = quadletContainer(c, '/var/lib/gear/containers/web-1.json');
  const kv = read(f.Text);
  assert.equal(kv.get('Container.EnvironmentFile'), ['/var/lib/gear/env/shared.env']);
  assert.equal(kv.get('Container.Volume'), ['gear.web-1.data.abc:/data']);
  assert.equal(kv.get('Service.Slice'), ['web.slice']);
  assert.match(f.Text, /# Not carried over: gear's network link 127\.0\.0\.2:5432 -> 10\.0\.0\.5:40001/);
  assert.match(f.Text, /# Not carried over: socket activation/);
  // Not migrated to named volumes yet: anonymous, as its unit has them.
  const old = exportedOf({ ...def, NamedVolumes: undefined }, 'e');
  assert.equal(read(quadletContainer(old, 'x').Text).get('Container.Volume'), ['/data']);
});

test('a deployment: one file per instance, placed or (not deployed yet) numbered, env files by path', () => {
  const d = parseDeployment({
    Containers: [
      { Name: 'web', Image: 'img/web', Count: 2, PublicPorts: [{ Internal: 80 }], Links: [{ To: 'db' }], Memory: '64M' },
      { Name: 'db', Image: 'img/db', Count: 1, PublicPorts: [{ Internal: 5432 }] },
    ],
    IdPrefix: 'p-',
  });
  const files = exportedInstances(d).map((c) => quadletContainer(c, 'app.json'));
  assert.equal(files.map((f) => f.Name), ['p-web-1.container', 'p-web-2.container', 'p-db-1.container']);
  const kv = read(files[0]!.Text);
  assert.equal(kv.get('Container.PublishPort'), ['80'], 'a port the host picks');
  assert.equal(kv.get('Container.EnvironmentFile'), ['/var/lib/gear/env/p-web-1.env']);
  assert.equal(kv.get('Container.PodmanArgs'), ['--memory 67108864 --memory-swap 67108864']);
  assert.match(files[0]!.Text, /Not carried over: gear's network links to db/);
  assert.match(exportFilesText(files), /^# ==> p-web-1.container <==\n# p-web-1, exported/);
  assert.is(exportFilesText(files.slice(0, 1)), files[0]!.Text);
  // A resolved file: its instances as placed, removed ones left out.
  const resolved = parseDeployment({
    Containers: [{ Name: 'web', Image: 'img/web', Count: 1, PublicPorts: [{ Internal: 80 }] }],
    Instances: [
      { Id: 'web-1', From: 'web', Image: 'img/web', On: 'hostA', Ports: [{ Internal: 80, External: 4001 }] },
      { Id: 'web-9', From: 'web', Image: 'img/web', On: 'hostB', Ports: [{ Internal: 80, External: 4002 }], Remove: true },
    ],
  });
  const placed = exportedInstances(resolved);
  assert.equal(placed.map((c) => c.Name), ['web-1']);
  assert.equal(placed[0]!.Ports, [{ Internal: 80, External: 4001 }]);
});

test.run();
