import Handlebars from 'handlebars';
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { healthBody, healthOptions } from '../../src/cli/health-flags.js';
import { loadUnitTemplates } from '../../src/host/templates.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { GearError } from '../../src/model/errors.js';
import { formatDuration, healthGateScript, healthRunArgs, parseDuration, validateHealth } from '../../src/model/health.js';
import { containerUnitRenderer, dockerRunArgs, type UnitContext } from '../../src/model/unit.js';
import { operations, type Operation, type RawRequest } from '../../src/operations/index.js';
import { healthFields } from '../../src/operations/health.js';
import { updateText } from '../../src/operations/update.js';

const def: ContainerDefinition = {
  Id: 'web-3',
  Image: 'test/web',
  Ports: [],
  VolumeConfig: { Volumes: [], BindMounts: [] },
  SystemdSlice: 'gear.slice',
  Created: '2026-01-01T00:00:00.000Z',
};
const ctx: UnitContext = {
  dockerBin: '/usr/bin/docker',
  runtimeService: 'docker.service',
  envFile: '/var/lib/gear/env/web-3.env',
  definitionFile: '/var/lib/gear/containers/web-3.json',
  stopTimeout: 10,
  version: '1.0.0',
  selfCommand: ['/usr/bin/node', '/opt/gear/dist/gear.js'],
  stateDir: '/var/lib/gear',
};
const render = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container);
const NASTY = `test "$(printf '%s' 'a;b')" = 'a;b' && echo "50% \\$HOME \`id\`" && wget -qO- localhost:8080/`;

function invalidWith(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, GearError, String(err));
    assert.is((err as GearError).kind, 'invalid');
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable('accepted');
}

test('durations: units, bare seconds, bounds, whole milliseconds; formatted back exactly', () => {
  assert.is(parseDuration('5s', 'x'), 5000);
  assert.is(parseDuration('500ms', 'x'), 500);
  assert.is(parseDuration('1.5m', 'x'), 90_000);
  assert.is(parseDuration('2', 'x'), 2000);
  assert.is(parseDuration('1.1s', 'x'), 1100);
  invalidWith(() => parseDuration('1.5ms', 'x'), /whole number of milliseconds/);
  assert.is(parseDuration('1h', 'x'), 3_600_000);
  for (const bad of ['', '5 s', '-1s', '5d', '1e3', 's', '0x10', '1.0001s'])
    invalidWith(() => parseDuration(bad, 'Health.Interval'), /^Health\.Interval .* (is not a duration|whole number)/);
  invalidWith(() => parseDuration('50ms', 'Health.Interval', 100), /Health\.Interval 50ms must be between 100ms and 1h/);
  invalidWith(() => parseDuration('2h', 'Health.Interval'), /must be between/);
  for (const ms of [0, 1, 100, 1500, 5000, 60_000, 90_000, 3_600_000]) assert.is(parseDuration(formatDuration(ms), 'x'), ms);
  assert.is(formatDuration(1500), '1500ms');
  assert.is(formatDuration(120_000), '2m');
});

test('validateHealth: defaults, one line only', () => {
  assert.equal(validateHealth({ Cmd: 'true' }), { Cmd: 'true', IntervalMs: 10_000, TimeoutMs: 5000, Retries: 3, StartPeriodMs: 0 });
  assert.equal(validateHealth({ Cmd: 'true', Interval: '1s' }).TimeoutMs, 5000);
  assert.equal(validateHealth({ Cmd: NASTY, Interval: '1s', Timeout: '2s', Retries: 5, StartPeriod: '3s' }), {
    Cmd: NASTY, IntervalMs: 1000, TimeoutMs: 2000, Retries: 5, StartPeriodMs: 3000,
  });
  invalidWith(() => validateHealth({ Cmd: 'true\nExecStartPre=/bin/evil' }, 'body/Health'), /^body\/Health\.Cmd must be one line/);
  invalidWith(() => validateHealth({ Cmd: 'a\tb' }), /^Health\.Cmd must be one line/);
  invalidWith(() => validateHealth({ Cmd: '   ' }), /^Health\.Cmd must not be blank/);
});

type AnyOp = Operation<unknown, unknown>;
const installOp = operations.install as unknown as AnyOp;
const parse = (body: Record<string, unknown>) => installOp.parse({ params: { id: 'app-1' }, query: {}, body: { Image: 'test/web', ...body } } as RawRequest);

test('install parse: Health, After and Wait; bad ones name the field; none leaves the request as before', () => {
  const req = parse({ Health: { Cmd: NASTY, Interval: '1s' }, After: ['web-3', 'web-3', 'db'], Wait: 'healthy' }) as { Health: unknown };
  assert.equal(req.Health, { Health: { Cmd: NASTY, IntervalMs: 1000, TimeoutMs: 5000, Retries: 3, StartPeriodMs: 0 }, After: ['web-3', 'db'], WaitHealthy: true });
  assert.not.ok('Health' in (parse({}) as object));
  assert.equal((parse({ Health: null, After: null }) as { Health: unknown }).Health, { Health: null, After: [], WaitHealthy: false });
  invalidWith(() => parse({ Health: { Cmd: 'true', Interval: 'soon' } }), /^body\/Health\.Interval "soon" is not a duration/);
  invalidWith(() => parse({ Health: { Cmd: 'true', Retries: 0 } }), /body\/Health\.Retries must be >= 1/);
  invalidWith(() => parse({ Health: { Cmd: '' } }), /body\/Health\.Cmd/);
  invalidWith(() => parse({ Health: { Cmd: 'true', Every: '1s' } }), /body\/Health has an unknown field "Every"/);
  invalidWith(() => parse({ Health: { Cmd: 'a\nb' } }), /^body\/Health\.Cmd must be one line/);
  invalidWith(() => parse({ After: ['../x'] }), /After\[0\] "..\/x" is not valid/);
  invalidWith(() => parse({ After: ['app-1'] }), /After\[0\] names the container itself/);
  invalidWith(() => parse({ Wait: 'healthy' }), /body\/Wait needs containers to wait for/);
  invalidWith(() => parse({ After: ['web-3'], Wait: 'soon' }), /body\/Wait/);
});

test('re-install: health and ordering kept when not given, replaced or removed when given', () => {
  const h = validateHealth({ Cmd: 'true' });
  const old = { ...def, Health: h, After: ['db'], WaitHealthy: true };
  assert.equal(healthFields(undefined, old), { Health: h, After: ['db'], WaitHealthy: true });
  assert.equal(healthFields({ WaitHealthy: false, Health: null }, old), { After: ['db'], WaitHealthy: true });
  assert.equal(healthFields({ WaitHealthy: false, After: [] }, old), { Health: h });
  assert.equal(healthFields({ WaitHealthy: false, After: ['x'] }, old), { Health: h, After: ['x'] });
});

test('unit: docker run gets the check as one argument; the gate runs after the links; ordering lines', () => {
  const health = validateHealth({ Cmd: NASTY, Interval: '1s', Retries: 2 });
  const d = { ...def, Health: health, Linked: true, After: ['db-1', 'web.2'] };
  const argv = dockerRunArgs(d, ctx);
  assert.equal(argv.slice(argv.indexOf('--health-cmd'), -1), healthRunArgs(health));
  assert.is(argv[argv.indexOf('--health-cmd') + 1], NASTY);
  const unit = render(d, ctx);
  // systemd's quoting: $ doubled, % doubled, " and \ escaped inside the quotes.
  assert.ok(unit.includes(`--health-cmd "test \\"$$(printf '%%s' 'a;b')\\" = 'a;b' && echo \\"50%% \\\\$$HOME \`id\`\\" && wget -qO- localhost:8080/" --health-interval 1s --health-timeout 5s --health-retries 2`), unit);
  assert.match(unit, /^After=ctr-db-1\.service ctr-web\.2\.service$/m);
  assert.match(unit, /^Wants=ctr-db-1\.service ctr-web\.2\.service$/m);
  const posts = unit.split('\n').filter((l) => l.startsWith('ExecStartPost='));
  assert.is(posts.length, 2);
  assert.match(posts[0]!, /apply-links/);
  assert.match(posts[1]!, /^ExecStartPost=\/bin\/sh -c "while :; do/);
  // A health-checked unlinked container has the health gate alone (it waits for running too).
  const alone = render({ ...def, Health: health }, ctx).split('\n').filter((l) => l.startsWith('ExecStartPost='));
  assert.is(alone.length, 1);
  assert.match(alone[0]!, /^ExecStartPost=\/bin\/sh -c "while :; do/);
  // Without health or ordering, none of these lines: only the gate that waits for the container to run.
  const plain = render(def, ctx);
  assert.not.match(plain, /--health|^After=ctr-|^Wants=ctr-/m);
  assert.equal(plain.split('\n').filter((l) => l.startsWith('ExecStartPost=')).map((l) => /State.Running/.test(l)), [true]);
});

test('the gate script is valid sh, and the check never appears in it', () => {
  const script = healthGateScript('/usr/bin/docker', 'ctr-web-3', validateHealth({ Cmd: NASTY }));
  assert.not.ok(script.includes('printf'));
  const r = spawnSync('sh', ['-n', '-c', script]);
  assert.is(r.status, 0, String(r.stderr));
});

test('CLI flags: the body fields; bad combinations are one line', () => {
  const flags = (argv: string[]) => {
    const cmd = healthOptions(new Command().exitOverride());
    cmd.parse(argv, { from: 'user' });
    return healthBody(cmd.opts());
  };
  assert.equal(flags([]), {});
  assert.equal(flags(['--health-cmd', NASTY, '--health-interval', '1s', '--health-retries', '2', '--health-timeout', '500ms', '--health-start-period', '3s']), {
    Health: { Cmd: NASTY, Interval: '1s', Timeout: '500ms', Retries: 2, StartPeriod: '3s' },
  });
  assert.equal(flags(['--no-health']), { Health: null });
  assert.equal(flags(['--after', 'web-3,db', '--after', 'x', '--wait', 'healthy']), { After: ['web-3', 'db', 'x'], Wait: 'healthy' });
  invalidWith(() => flags(['--health-interval', '1s']), /need --health-cmd/);
  invalidWith(() => flags(['--health-cmd', 'true', '--health-retries', 'many']), /--health-retries "many" is not a whole number/);
  invalidWith(() => flags(['--wait', 'healthy']), /--wait needs --after/);
  invalidWith(() => flags(['--after', 'a', '--wait', 'ready']), /--wait must be "started" or "healthy"/);
  invalidWith(() => flags(['--no-health', '--health-cmd', 'true']), /--no-health cannot be combined/);
});

const updateOp = operations.update as unknown as AnyOp;
const updateReq = (body: unknown, id = 'web-3') => updateOp.parse({ params: { id }, query: {}, body } as RawRequest);

test('update: parse and text', () => {
  assert.equal(updateReq({ Image: 'test/web:2' }), { Id: 'web-3', Image: 'test/web:2', DryRun: false });
  assert.equal(updateReq({ Image: 'test/web:2', DryRun: true }), { Id: 'web-3', Image: 'test/web:2', DryRun: true });
  invalidWith(() => updateReq({}), /body\/Image is required/);
  invalidWith(() => updateReq({ Image: 'bad image' }), /image "bad image" is not a valid image reference/);
  invalidWith(() => updateReq({ Image: 'test/web', Tag: '2' }), /unknown field "Tag"/);
  invalidWith(() => updateReq({ Image: 'test/web' }, '../x'), /not valid/);
  const r = { Id: 'web-3', From: { Image: 'test/web', ImageId: 'sha256:0123456789abcdef' }, To: { Image: 'test/web:2' }, Gate: 'healthy' };
  assert.is(updateText({ ...r, DryRun: true, Pull: true }), 'would update web-3: test/web (0123456789ab) -> test/web:2 (not here), pulling it first; restart, wait for healthy, roll back if it is not\n');
  assert.is(updateText({ ...r, To: { Image: 'test/web:2', ImageId: 'sha256:fedcba9876543210' } }), 'updated web-3: test/web (0123456789ab) -> test/web:2 (fedcba987654): healthy\n');
});

test.run();
