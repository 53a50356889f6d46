import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadUnitTemplates } from '../../src/host/templates.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { execArg, shellWord, unitText } from '../../src/model/systemd-quote.js';
import { containerUnitRenderer, dockerRunArgs, type UnitContext } from '../../src/model/unit.js';
import { planVolumes } from '../../src/model/volumes.js';

const def: ContainerDefinition = {
  Id: 'web-1',
  Image: 'test/web',
  Ports: [{ Internal: 8080, External: 4000 }],
  VolumeConfig: { Volumes: ['/cache'], BindMounts: [{ HostPath: '/srv/my $data 100%', ContainerPath: '/data', ReadOnly: true }] },
  SystemdSlice: 'gear.slice',
  Created: '2026-01-01T00:00:00.000Z',
};
const ctx: UnitContext = {
  dockerBin: '/usr/bin/docker',
  runtimeService: 'docker.service',
  envFile: '/var/lib/gear/env/web-1.env',
  definitionFile: '/var/lib/gear/containers/web-1.json',
  stopTimeout: 10,
  version: '1.0.0',
  selfCommand: ['/usr/bin/node', '/opt/gear/dist/gear.js'],
  stateDir: '/var/lib/gear',
};
const render = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container);

test('exec args: plain words stay bare; everything else quoted with %, $, \\ and " escaped', () => {
  assert.is(execArg('/usr/bin/docker'), '/usr/bin/docker');
  assert.is(execArg('4000:8080'), '4000:8080');
  assert.is(execArg('a b'), '"a b"');
  assert.is(execArg('100%'), '"100%%"');
  assert.is(execArg('$HOME'), '"$$HOME"');
  assert.is(execArg('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
  assert.throws(() => execArg('a\nExecStartPre=/bin/sh'), /control character/);
  assert.is(unitText('50% off'), '50%% off');
});

test('shellWord: plain words stay bare, anything else is single-quoted for /bin/sh', () => {
  assert.is(shellWord('/usr/bin/docker'), '/usr/bin/docker');
  assert.is(shellWord('/opt/my docker'), "'/opt/my docker'");
  assert.is(shellWord("it's $HOME; rm -rf /"), `'it'\\''s $HOME; rm -rf /'`);
  assert.throws(() => shellWord('a\nb'), /control character/);
});

test('a docker binary with odd characters is quoted for the shell and for systemd in ExecStop', () => {
  const unit = render(def, { ...ctx, dockerBin: "/opt/my docker's/docker" });
  assert.match(unit, / '\/opt\/my docker'\\\\''s\/docker' stop -t 10 ctr-web-1 /m);
});

test('the unit runs docker in the foreground with ports, env file, volumes and image', () => {
  const unit = render(def, ctx);
  assert.match(unit, /^ExecStart=\/usr\/bin\/docker run --rm --name ctr-web-1 --label io.gear.container=web-1 --env-file \/var\/lib\/gear\/env\/web-1.env -p 4000:8080 -v \/cache -v "\/srv\/my \$\$data 100%%:\/data:ro" test\/web$/m);
  assert.match(unit, /^ExecStopPost=-\/usr\/bin\/docker rm -f ctr-web-1$/m);
  // Nothing but the run itself on the start path: no docker process before it (the one
  // ExecStartPre is the restart backoff's wait, a shell without docker).
  const pre = unit.split('\n').filter((l) => l.startsWith('ExecStartPre='));
  assert.is(pre.length, 1);
  assert.not.match(pre[0]!, /docker/);
  assert.match(
    unit,
    /^ExecStop=\/bin\/sh -c "while kill -0 \\"\$\$MAINPID\\" 2>\/dev\/null; do case \$\$\(\/usr\/bin\/docker inspect --type container -f '\{\{.State.Status\}\}' ctr-web-1 2>\/dev\/null\) in ''\) kill \\"\$\$MAINPID\\" 2>\/dev\/null;; exited\|removing\|dead\) ;; \*\) \/usr\/bin\/docker stop -t 10 ctr-web-1 >\/dev\/null 2>&1;; esac; sleep 0.5; done"$/m,
  );
  assert.match(unit, /^Requires=docker.service$/m);
  assert.match(unit, /^After=docker.service network-online.target$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^Slice=gear.slice$/m);
  assert.match(unit, /^WantedBy=gear.target$/m);
  assert.match(unit, /^TimeoutStopSec=90$/m);
});

test('every line of the unit is a comment, a section, a setting or blank', () => {
  for (const line of render(def, ctx).split('\n')) assert.ok(/^(#.*|\[[A-Za-z]+\]|[A-Za-z]+=.*|)$/.test(line), line);
});

test('a linked container\'s ExecStartPost applies its links; any other\'s only waits for its container to run', () => {
  const plain = render(def, ctx);
  assert.is(plain.match(/^ExecStartPost=/gm)?.length, 1);
  assert.match(plain, /^ExecStartPost=\/bin\/sh -c "d=0.05; until \[ \\"\$\$\(\/usr\/bin\/docker inspect --type container -f '\{\{.State.Running\}\}' ctr-web-1 2>\/dev\/null\)\\" = true \]; do /m);
  assert.not.match(plain, /apply-links/);
  const unit = render({ ...def, Linked: true }, ctx);
  assert.is(unit.match(/^ExecStartPost=/gm)?.length, 1);
  assert.match(unit, /^ExecStartPost=\/usr\/bin\/node \/opt\/gear\/dist\/gear.js apply-links --state-dir \/var\/lib\/gear web-1$/m);
  assert.ok(unit.indexOf('ExecStart=') < unit.indexOf('ExecStartPost='));
  for (const line of unit.split('\n')) assert.ok(/^(#.*|\[[A-Za-z]+\]|[A-Za-z]+=.*|)$/.test(line), line);
  assert.is(render({ ...def, Linked: false }, ctx), plain);
});

test('named volumes are mounted by name, quoted like every other argument; --rm stays', () => {
  const config = { Volumes: ['/cache', '/my $data 100%'], BindMounts: def.VolumeConfig.BindMounts };
  const named = { ...def, VolumeConfig: config, NamedVolumes: planVolumes('web-1', config, ['/var/lib/db']) };
  const args = dockerRunArgs(named, ctx);
  const mounts = args.flatMap((a, i) => (args[i - 1] === '-v' ? [a] : []));
  assert.equal(mounts, [...named.NamedVolumes.map((v) => `${v.Name}:${v.Path}`), '/srv/my $data 100%:/data:ro']);
  assert.ok(args.includes('--rm'));
  const unit = render(named, ctx);
  assert.match(unit, / -v gear\.web-1\.cache\.[0-9a-f]{8}:\/cache /);
  assert.match(unit, / -v "gear\.web-1\.my__data_100_\.[0-9a-f]{8}:\/my \$\$data 100%%" /);
  assert.match(unit, / -v gear\.web-1\.var-lib-db\.[0-9a-f]{8}:\/var\/lib\/db /);
  assert.not.match(unit, / -v \/cache /, 'no anonymous volume left');
  // A definition written before named volumes keeps its anonymous ones until it is migrated.
  assert.match(render(def, ctx), / -v \/cache /);
});

test('the docker argv is what the unit encodes', () => {
  assert.equal(dockerRunArgs({ ...def, VolumeConfig: { Volumes: [], BindMounts: [] } }, ctx), [
    '/usr/bin/docker', 'run', '--rm', '--name', 'ctr-web-1', '--label', 'io.gear.container=web-1',
    '--env-file', '/var/lib/gear/env/web-1.env', '-p', '4000:8080', 'test/web',
  ]);
});

test.run();
