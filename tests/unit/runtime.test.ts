import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configFromEnv } from '../../src/host/config.js';
import { loadUnitTemplates } from '../../src/host/templates.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { dockerFinding, runtimeFinding } from '../../src/model/doctor.js';
import { parseRuntime } from '../../src/model/runtime.js';
import { containerUnitRenderer, type UnitContext } from '../../src/model/unit.js';
import { operations } from '../../src/operations/index.js';

// podman as a host's runtime (GEAR_RUNTIME=podman): the defaults it
// implies, the unit it renders, and the install's check. The real podman
// (4.3, in a test host) runs in tests/integration/podman.test.ts.

test('GEAR_RUNTIME: docker by default; podman changes the socket, the service and nothing else; anything else refused', () => {
  const docker = configFromEnv({});
  assert.is(docker.runtime, 'docker');
  assert.is(docker.dockerSocket, '/run/docker.sock');
  assert.is(docker.runtimeService, 'docker.service');
  const podman = configFromEnv({ GEAR_RUNTIME: 'podman' });
  assert.is(podman.runtime, 'podman');
  assert.is(podman.dockerSocket, '/run/podman/podman.sock');
  assert.is(podman.runtimeService, 'podman.socket');
  // The explicit settings still win.
  const own = configFromEnv({ GEAR_RUNTIME: 'podman', DOCKER_HOST: 'unix:///srv/p.sock', GEAR_RUNTIME_SERVICE: 'podman.service' });
  assert.is(own.dockerSocket, '/srv/p.sock');
  assert.is(own.runtimeService, 'podman.service');
  for (const bad of ['Podman', 'rkt', ' podman', 'podman\n']) assert.throws(() => configFromEnv({ GEAR_RUNTIME: bad }), /GEAR_RUNTIME .* must be docker or podman/, bad);
  assert.throws(() => parseRuntime('crio', '--runtime'), /--runtime "crio" must be docker or podman/);
});

const def: ContainerDefinition = {
  Id: 'pod-1',
  Image: 'test/web',
  Ports: [{ Internal: 8080, External: 4000 }],
  VolumeConfig: { Volumes: ['/data'], BindMounts: [] },
  NamedVolumes: [{ Name: 'gear.pod-1.data.abc', Path: '/data' }],
  SystemdSlice: 'gear.slice',
  Health: { Cmd: 'test -f /start', IntervalMs: 1000, TimeoutMs: 1000, Retries: 2, StartPeriodMs: 0 },
  Runtime: 'podman',
  Created: '2026-12-03T00:00:00.000Z',
};
const ctx: UnitContext = {
  dockerBin: '/usr/bin/podman',
  runtimeService: 'podman.socket',
  runtime: 'podman',
  envFile: '/var/lib/gear/env/pod-1.env',
  definitionFile: '/var/lib/gear/containers/pod-1.json',
  stopTimeout: 10,
  version: '1.0.0',
  selfCommand: ['/usr/local/bin/gear'],
  stateDir: '/var/lib/gear',
};
const render = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container);

test('a podman unit: the same shape, podman run, its own kill of an unhealthy container instead of the docker events watcher', () => {
  const unit = render(def, ctx);
  assert.match(unit, /^Requires=podman\.socket$/m);
  assert.match(unit, /^ExecStart=\/usr\/bin\/podman run --rm --name ctr-pod-1 --label io\.gear\.container=pod-1 --env-file \/var\/lib\/gear\/env\/pod-1\.env -p 4000:8080 -v gear\.pod-1\.data\.abc:\/data --health-cmd "test -f \/start" .* --health-on-failure kill test\/web$/m);
  assert.match(unit, /^ExecStopPost=-\/usr\/bin\/podman rm -f ctr-pod-1$/m);
  const settings = unit.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  assert.not.match(settings, /docker/, 'nothing of docker in its settings (the comments speak of Docker)');
  assert.not.match(unit, / events /);
  // Docker's unit keeps its watcher, and gets no podman flag.
  const docker = render({ ...def, Runtime: undefined }, { ...ctx, dockerBin: '/usr/bin/docker', runtimeService: 'docker.service', runtime: undefined });
  // It follows this run's container by its id (a name filter is a prefix match in Docker).
  assert.match(docker, /\/usr\/bin\/docker events --filter \\"container=\$\$id\\"/);
  assert.not.match(docker, /health-on-failure/);
});

test('install --runtime: parsed; an unknown one is 400 before anything; doctor says which runtime', () => {
  const req = operations.install.parse({ params: { id: 'pod-1' }, query: {}, body: { Image: 'test/web', Runtime: 'podman' } }) as { Runtime?: string };
  assert.is(req.Runtime, 'podman');
  assert.throws(() => operations.install.parse({ params: { id: 'pod-1' }, query: {}, body: { Image: 'test/web', Runtime: 'lxc' } }), /body\/Runtime/);
  assert.equal(runtimeFinding('podman', '/usr/bin/podman'), { Check: 'runtime', Level: 'ok', Message: 'containers run with podman: /usr/bin/podman (units run podman run; gear uses its Docker API, podman.socket)' });
  assert.is(runtimeFinding('podman', undefined, 'no podman client found').Level, 'error');
  assert.match(dockerFinding('podman.socket', undefined, 'ECONNREFUSED', 'podman').Message, /^podman's Docker API is not reachable: ECONNREFUSED/);
});

test.run();
