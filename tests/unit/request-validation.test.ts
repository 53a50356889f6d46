import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GearError } from '../../src/model/errors.js';
import { operations, type Operation, type RawRequest } from '../../src/operations/index.js';

/**
 * Every operation's parse() is the one validation path for the CLI and the
 * agent: its schemas, then its own checks. Nasty input is refused with a
 * 400-kind error whose message names the field.
 */
type AnyOp = Operation<unknown, unknown>;
const ops = operations as unknown as Record<string, AnyOp>;

const raw = (body: unknown, query: Record<string, unknown> = {}, id = 'c-1'): RawRequest =>
  ({ params: { id }, query, body }) as RawRequest;

function refused(op: AnyOp, request: RawRequest, message: RegExp): void {
  try {
    op.parse(request);
  } catch (err) {
    assert.instance(err, GearError, String(err));
    assert.is((err as GearError).kind, 'invalid');
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`${op.name} accepted ${JSON.stringify(request).slice(0, 200)}`);
}

const installOp = operations.install as unknown as AnyOp;
const IMG = { Image: 'test/web' };
const install = (extra: Record<string, unknown>) => raw({ ...IMG, ...extra });
const port = (p: unknown) => install({ Ports: [p] });
const link = (l: unknown) => install({ NetworkLinks: [l] });
const variable = (v: unknown) => install({ Environment: { Variables: [v] } });
const bind = (b: unknown) => install({ VolumeConfig: { BindMounts: [b] } });

test('install: a full body is accepted and normalised', () => {
  const req = operations.install.parse(
    raw({
      Image: 'test/web',
      Started: true,
      Ports: [{ Internal: 8080 }, { Internal: 22, External: 4022 }],
      Environment: { Variables: [{ Name: 'A', Value: 'x y' }], Source: '', Id: '' },
      VolumeConfig: { Volumes: ['/data'], BindMounts: [{ HostPath: '/srv', ContainerPath: '/srv', ReadOnly: true }] },
      SystemdSlice: 'gear-web.slice',
      Isolate: false,
      SocketActivation: false,
      NetworkLinks: [{ FromPort: 5432, ToHost: 'db.example.com', ToPort: 4100 }],
    }),
  );
  assert.equal(req, {
    Id: 'c-1',
    Image: 'test/web',
    Started: true,
    Ports: [{ Internal: 8080, External: 0 }, { Internal: 22, External: 4022 }],
    Environment: { Id: 'c-1', Variables: [{ Name: 'A', Value: 'x y' }] },
    VolumeConfig: { Volumes: ['/data'], BindMounts: [{ HostPath: '/srv', ContainerPath: '/srv', ReadOnly: true }] },
    SystemdSlice: 'gear-web.slice',
    NetworkLinks: [{ FromHost: '127.0.0.1', FromPort: 5432, ToHost: 'db.example.com', ToPort: 4100 }],
  });
  const minimal = operations.install.parse(raw(IMG));
  assert.equal([minimal.Started, minimal.Ports, minimal.Environment, minimal.VolumeConfig, minimal.NetworkLinks], [false, [], { Id: 'c-1' }, { Volumes: [], BindMounts: [] }, []]);
});

test('install: a body that is not an object', () => {
  for (const body of [undefined, null, [], [IMG], 'x', 5, true]) refused(installOp, raw(body), /^invalid request: body must be an object$/);
  refused(installOp, raw({}), /^invalid request: body\/Image is required$/);
});

test("install: geard's client's bodies (GEARD-WIRE.md section 4) are accepted: nulls, false flags, its volume forms", () => {
  // `gear install img localhost/web-1 -p 8080:0 --start A=B`, as geard's client sent it (with its generated env id).
  const req = operations.install.parse(
    raw(
      {
        Id: 'web-1',
        Image: 'test/web',
        Simple: false,
        Isolate: false,
        SocketActivation: false,
        SkipSocketProxy: false,
        Ports: [{ Internal: 8080 }],
        Environment: { Variables: [{ Name: 'A', Value: 'B' }], Source: '', Id: 'kV7x2Q9pLmN4rT8wYb1cZa' },
        NetworkLinks: null,
        VolumeConfig: null,
        Started: true,
        SystemdSlice: 'container-small',
      },
      {},
      'web-1',
    ),
  );
  assert.equal(req, {
    Id: 'web-1',
    Image: 'test/web',
    Started: true,
    Ports: [{ Internal: 8080, External: 0 }],
    Environment: { Id: 'kV7x2Q9pLmN4rT8wYb1cZa', Variables: [{ Name: 'A', Value: 'B' }] },
    VolumeConfig: { Volumes: [], BindMounts: [] },
    SystemdSlice: 'gear.slice',
    NetworkLinks: [],
  });
  // No flags, no env: Ports [], Variables null; the flags null; an empty Id and slice.
  const bare = operations.install.parse(
    install({ Id: '', Ports: [], Environment: { Variables: null, Source: '', Id: '' }, Isolate: null, SocketActivation: null, Simple: null, SkipSocketProxy: true, SystemdSlice: '' }),
  );
  assert.equal([bare.Ports, bare.Environment, bare.SystemdSlice], [[], { Id: bare.Id }, 'gear.slice']);
  assert.is(operations.install.parse(install({ Ports: null, NetworkLinks: null })).Ports.length, 0);
  for (const slice of ['container', 'container-small', 'container-large']) assert.is(operations.install.parse(install({ SystemdSlice: slice })).SystemdSlice, 'gear.slice');
  // -v /data,/srv/a:/a:ro: a volume as {Path}; a mount whose Path is the host's side and HostPath the container's.
  const vols = operations.install.parse(install({ VolumeConfig: { Volumes: [{ Path: '/data' }], VolumeMounts: [{ Path: '/srv/a', HostPath: '/a', ReadOnly: true }] } }));
  assert.equal(vols.VolumeConfig, { Volumes: ['/data'], BindMounts: [{ HostPath: '/srv/a', ContainerPath: '/a', ReadOnly: true }] });
  assert.equal(operations.install.parse(install({ VolumeConfig: { Volumes: null, VolumeMounts: null } })).VolumeConfig, { Volumes: [], BindMounts: [] });
  // Its paths get gear's checks, named by where they came from.
  refused(installOp, install({ VolumeConfig: { VolumeMounts: [{ Path: 'rel', HostPath: '/a' }] } }), /host path "rel" must be an absolute path/);
  refused(installOp, install({ VolumeConfig: { VolumeMounts: [{ Path: '/a', HostPath: '/b:c' }] } }), /container path "\/b:c" must not contain/);
});

test('install: unknown fields at every level, named with their place', () => {
  refused(installOp, install({ Sneaky: 1 }), /^invalid request: body has an unknown field "Sneaky"$/);
  // JSON.parse makes "__proto__" an own field: refused like any other.
  refused(installOp, raw(JSON.parse('{"Image":"test/web","__proto__":{"Started":true}}')), /body has an unknown field "__proto__"/);
  refused(installOp, port({ Internal: 80, X: 1 }), /body\/Ports\[0\] has an unknown field "X"/);
  refused(installOp, install({ Environment: { X: 1 } }), /body\/Environment has an unknown field "X"/);
  refused(installOp, variable({ Name: 'A', Value: 'b', X: 1 }), /body\/Environment\.Variables\[0\] has an unknown field "X"/);
  refused(installOp, install({ VolumeConfig: { X: 1 } }), /body\/VolumeConfig has an unknown field "X"/);
  refused(installOp, bind({ HostPath: '/a', ContainerPath: '/b', X: 1 }), /body\/VolumeConfig\.BindMounts\[0\] has an unknown field "X"/);
  refused(installOp, link({ FromPort: 1, ToHost: 'x', ToPort: 1, X: 1 }), /body\/NetworkLinks\[0\] has an unknown field "X"/);
  refused(installOp, install({ ['K'.repeat(100_000)]: 1 }), new RegExp(`^invalid request: body has an unknown field "${'K'.repeat(64)}\\.\\.\\."$`));
  refused(installOp, install({ VolumeConfig: { VolumeMounts: [{ Path: '/a', HostPath: '/b', X: 1 }] } }), /body\/VolumeConfig\.VolumeMounts\[0\] has an unknown field "X"/);
  refused(installOp, install({ Privileged: false }), /^invalid request: body has an unknown field "Privileged"$/);
});

test('install: wrong types', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ Image: 5 }, /body\/Image must be string$/],
    [{ Started: 'yes' }, /body\/Started must be true or false/],
    [{ Ports: {} }, /body\/Ports must be a list/],
    [{ Ports: 'x' }, /body\/Ports must be a list/],
    [{ Ports: ['x'] }, /body\/Ports\[0\] must be an object \{Internal, External\}/],
    [{ Environment: 'A=B' }, /body\/Environment must be an object/],
    [{ Environment: { Variables: 'A=B' } }, /body\/Environment\.Variables must be a list/],
    [{ Environment: { Variables: [{ Name: 'A', Value: 5 }] } }, /body\/Environment\.Variables\[0\]\.Value must be string/],
    [{ Environment: { Variables: [{ Value: 'x' }] } }, /body\/Environment\.Variables\[0\]\.Name is required/],
    [{ VolumeConfig: { Volumes: '/data' } }, /body\/VolumeConfig\.Volumes must be a list/],
    [{ VolumeConfig: { Volumes: [5] } }, /body\/VolumeConfig\.Volumes\[0\] must be string/],
    [{ VolumeConfig: { BindMounts: [{ HostPath: '/a', ContainerPath: '/b', ReadOnly: 'yes' }] } }, /BindMounts\[0\]\.ReadOnly must be true or false/],
    [{ VolumeConfig: { BindMounts: [{ HostPath: '/a' }] } }, /BindMounts\[0\]\.ContainerPath is required/],
    [{ SystemdSlice: 5 }, /body\/SystemdSlice must be string/],
    [{ Isolate: 'no' }, /body\/Isolate must be true or false/],
    [{ SocketActivation: 1 }, /body\/SocketActivation must be true or false/],
    [{ NetworkLinks: { FromPort: 1 } }, /body\/NetworkLinks must be a list/],
    [{ NetworkLinks: [{ FromPort: 1, ToHost: 7, ToPort: 1 }] }, /body\/NetworkLinks\[0\]\.ToHost must be string/],
    [{ NetworkLinks: [{ FromPort: 1, ToHost: 'x' }] }, /body\/NetworkLinks\[0\]\.ToPort is required/],
    [{ Ports: [{}] }, /body\/Ports\[0\]\.Internal is required/],
  ];
  for (const [extra, message] of cases) refused(installOp, install(extra), message);
});

test('install: strings for numbers are refused (geard clients send numbers)', () => {
  refused(installOp, port({ Internal: '8080' }), /^invalid request: body\/Ports\[0\]\.Internal must be an integer 1-65535$/);
  refused(installOp, port({ Internal: 8080, External: '0' }), /body\/Ports\[0\]\.External must be an integer 0-65535/);
  refused(installOp, port({ Internal: 1.5 }), /body\/Ports\[0\]\.Internal must be an integer 1-65535/);
  refused(installOp, port({ Internal: 70000 }), /body\/Ports\[0\]\.Internal must be <= 65535/);
  refused(installOp, port({ Internal: 0 }), /body\/Ports\[0\]\.Internal must be >= 1/);
  refused(installOp, port({ Internal: 80, External: -1 }), /body\/Ports\[0\]\.External must be >= 0/);
  refused(installOp, link({ FromPort: '80', ToHost: 'x', ToPort: 1 }), /body\/NetworkLinks\[0\]\.FromPort must be an integer 1-65535/);
  refused(installOp, link({ FromPort: 80, ToHost: 'x', ToPort: '1' }), /body\/NetworkLinks\[0\]\.ToPort must be an integer 1-65535/);
  refused(installOp, install({ Started: 'true' }), /body\/Started must be true or false/);
});

test('install: null where a value belongs is refused, never taken as absent', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ Image: null }, /body\/Image must be string/],
    [{ Started: null }, /body\/Started must be true or false/],
    [{ Ports: [null] }, /body\/Ports\[0\] must be an object/],
    [{ Ports: [{ Internal: null }] }, /body\/Ports\[0\]\.Internal must be an integer/],
    [{ Environment: null }, /body\/Environment must be an object/],
    [{ Environment: { Variables: [{ Name: 'A', Value: null }] } }, /Variables\[0\]\.Value must be string/],
    [{ VolumeConfig: { BindMounts: [null] } }, /body\/VolumeConfig\.BindMounts\[0\] must be an object/],
    [{ VolumeConfig: { BindMounts: null } }, /body\/VolumeConfig\.BindMounts must be a list/],
    [{ Isolate: 'no' }, /body\/Isolate must be true or false/],
    [{ Ports: 5 }, /body\/Ports must be a list/],
    [{ NetworkLinks: [{ FromPort: 'x', ToHost: 'x', ToPort: 1 }] }, /body\/NetworkLinks\[0\]\.FromPort must be an integer/],
    [{ VolumeConfig: { Volumes: [{ Path: 5 }] } }, /body\/VolumeConfig\.Volumes\[0\]\.Path must be string/],
    [{ SystemdSlice: null }, /body\/SystemdSlice must be string/],
    [{ NetworkLinks: [{ FromHost: null, FromPort: 1, ToHost: 'x', ToPort: 1 }] }, /body\/NetworkLinks\[0\]\.FromHost must be string/],
  ];
  for (const [extra, message] of cases) refused(installOp, install(extra), message);
});

test('install: arrays where objects belong', () => {
  refused(installOp, port([8080, 0]), /body\/Ports\[0\] must be an object/);
  refused(installOp, install({ Environment: [{ Name: 'A', Value: 'b' }] }), /body\/Environment must be an object/);
  refused(installOp, variable(['A', 'b']), /body\/Environment\.Variables\[0\] must be an object/);
  refused(installOp, install({ VolumeConfig: ['/data'] }), /body\/VolumeConfig must be an object/);
  refused(installOp, bind(['/a', '/b']), /body\/VolumeConfig\.BindMounts\[0\] must be an object/);
  refused(installOp, link([80, 'x', 81]), /body\/NetworkLinks\[0\] must be an object/);
});

test('install: huge arrays and strings are refused by their limits', () => {
  const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
  refused(installOp, install({ Ports: many(65, (i) => ({ Internal: i + 1 })) }), /body\/Ports must have at most 64 items/);
  // Far beyond the limit: refused by its length, whatever the items hold.
  refused(installOp, install({ Ports: many(100_000, () => 'x') }), /body\/Ports must have at most 64 items/);
  refused(installOp, install({ Environment: { Variables: many(1001, (i) => ({ Name: `V${i}`, Value: '' })) } }), /Variables must have at most 1000 items/);
  refused(installOp, install({ VolumeConfig: { Volumes: many(65, (i) => `/v${i}`) } }), /VolumeConfig\.Volumes must have at most 64 items/);
  refused(installOp, install({ VolumeConfig: { BindMounts: many(65, (i) => ({ HostPath: `/h${i}`, ContainerPath: `/c${i}` })) } }), /BindMounts must have at most 64 items/);
  refused(installOp, install({ NetworkLinks: many(1025, (i) => ({ FromPort: i + 1, ToHost: 'x', ToPort: 1 })) }), /NetworkLinks must have at most 1024 items/);
  refused(installOp, raw({ Image: 'x'.repeat(256) }), /body\/Image must be at most 255 characters long/);
  refused(installOp, raw({ Image: '' }), /body\/Image must not be empty/);
  refused(installOp, variable({ Name: 'A', Value: 'x'.repeat(65537) }), /Variables\[0\]\.Value must be at most 65536 characters long/);
});

test('install: what a schema cannot say is still checked', () => {
  refused(installOp, raw(IMG, {}, '../x'), /container name "..\/x" is not valid/);
  refused(installOp, raw({ Image: 'Bad Image' }), /not a valid image reference/);
  refused(installOp, install({ Ports: [{ Internal: 80 }, { Internal: 80 }] }), /internal port 80 is listed twice/);
  refused(installOp, install({ Ports: [{ Internal: 80, External: 5000 }, { Internal: 81, External: 5000 }] }), /external port 5000 is listed twice/);
  refused(installOp, variable({ Name: '1A', Value: 'b' }), /environment variable name "1A" is not valid/);
  refused(installOp, variable({ Name: 'A', Value: 'a\nb' }), /line break/);
  refused(installOp, install({ Environment: { Variables: [{ Name: 'A', Value: '1' }, { Name: 'A', Value: '2' }] } }), /A is given twice/);
  for (const [Source, why] of [
    ['file:///etc/passwd', /Environment.Source must be an http:\/\/ or https:\/\/ URL, not file:/],
    ['ftp://x/env', /must be an http:\/\/ or https:\/\/ URL/],
    ['not a url', /Environment.Source is not a valid URL/],
    [`http://x/${'a'.repeat(2100)}`, /at most 2048 characters/],
  ] as const)
    refused(installOp, install({ Environment: { Source } }), why);
  for (const Id of ['a b', '../x', 'x/y', '.hidden', 'a..b', 'x'.repeat(65), '%n', 'a\nb'])
    refused(installOp, install({ Environment: { Id } }), /Environment.Id .*(is not valid|limit is 64)/);
  // The random ids the seed's CLI sends (22 characters of base64url) may start with "-" or "_".
  for (const Id of ['-Xk3_9aQpL2mN7vB4cD8eF', '_abc', 'shared.env-1'])
    assert.equal((operations.install.parse(install({ Environment: { Id } })) as { Environment: unknown }).Environment, { Id });
  refused(installOp, install({ VolumeConfig: { Volumes: ['data'] } }), /volume path "data" must be an absolute path/);
  refused(installOp, bind({ HostPath: '/a/../b', ContainerPath: '/b' }), /normalised/);
  refused(installOp, install({ SystemdSlice: '../x' }), /not a valid systemd slice name/);
  for (const field of ['Simple']) refused(installOp, install({ [field]: true }), new RegExp(`^${field} is not supported yet \\(body/${field} must be false or absent\\)$`));
  refused(installOp, raw({ Image: 'test/web', Id: 'other-1' }), /body\/Id "other-1" is not the id in the path \(c-1\)/);
  refused(installOp, install({ SystemdSlice: 'container-huge' }), /not a valid systemd slice name/);
  refused(installOp, link({ FromPort: 80, ToHost: '127.0.0.1', ToPort: 1 }), /NetworkLinks\[0\]\.ToHost 127.0.0.1 is a loopback address/);
  refused(installOp, install({ NetworkLinks: [{ FromPort: 80, ToHost: 'a', ToPort: 1 }, { FromPort: 80, ToHost: 'a', ToPort: 1 }] }), /127.0.0.1:80 is linked twice to a:1/);
});

test('link: nasty bodies', () => {
  const op = operations.link as AnyOp;
  const body = (Links: unknown) => raw({ Links }, {}, '');
  for (const b of [undefined, null, [], 'x']) refused(op, raw(b), /^invalid request: body must be an object \{Links\}$/);
  refused(op, raw({}), /body\/Links is required/);
  refused(op, raw({ Links: [{ Id: 'a' }], X: 1 }), /body has an unknown field "X"/);
  refused(op, body(null), /body\/Links must be a list/);
  refused(op, body({ Id: 'a' }), /body\/Links must be a list/);
  refused(op, body([]), /body\/Links must be a non-empty list/);
  refused(op, body([['a']]), /body\/Links\[0\] must be an object/);
  refused(op, body([{ Id: 'a', X: 1 }]), /body\/Links\[0\] has an unknown field "X"/);
  refused(op, body([{ Id: 5 }]), /body\/Links\[0\]\.Id must be string/);
  refused(op, body([{ Id: 'a', NetworkLinks: null }]), /body\/Links\[0\]\.NetworkLinks must be a list/);
  refused(op, body([{ Id: 'a', NetworkLinks: [{ FromPort: 1, ToHost: 'x', ToPort: '1' }] }]), /body\/Links\[0\]\.NetworkLinks\[0\]\.ToPort must be an integer 1-65535/);
  refused(op, body([{ Id: 'a', NetworkLinks: [{ FromPort: 1, ToHost: 'x', ToPort: 1, X: 1 }] }]), /body\/Links\[0\]\.NetworkLinks\[0\] has an unknown field "X"/);
  refused(op, body(Array.from({ length: 257 }, (_, i) => ({ Id: `c${i}` }))), /body\/Links must have at most 256 items/);
  refused(op, body([{ Id: 'a' }, { Id: 'a' }]), /Links\[1\]: container a is listed twice/);
  refused(op, body([{ Id: 'a', NetworkLinks: [{ FromPort: 1, ToHost: 'a\nb', ToPort: 1 }] }]), /Links\[0\]\.NetworkLinks\[0\]\.ToHost/);
  assert.equal(op.parse(body([{ Id: 'a' }])), { Links: [{ Id: 'a', NetworkLinks: [] }] });
});

test('set-env (PUT and PATCH): nasty bodies', () => {
  for (const op of [operations.replaceEnv, operations.patchEnv] as AnyOp[]) {
    for (const b of [undefined, null, [], 'A=B']) refused(op, raw(b), /^invalid request: body must be an object \{Variables, Source, Id\}$/);
    refused(op, raw({ Variables: { A: 'B' } }), /body\/Variables must be a list/);
    refused(op, raw({ Variables: [], X: '' }), /body has an unknown field "X"/);
    refused(op, raw({ Variables: [], Id: 'c-2' }), /body Id "c-2" is not the environment c-1 named in the path/);
    // geard's client's body: Source "", Id the target; Variables null when it has none.
    assert.equal(op.parse(raw({ Variables: [{ Name: 'A', Value: 'B' }], Source: '', Id: 'c-1' })), { Id: 'c-1', Variables: [{ Name: 'A', Value: 'B' }] });
    assert.equal(op.parse(raw({ Variables: null, Source: '', Id: '' })), { Id: 'c-1', Variables: [] });
    refused(op, raw({ Variables: [['A', 'B']] }), /body\/Variables\[0\] must be an object/);
    refused(op, raw({ Variables: [{ Name: 'A', Value: 'b', X: 1 }] }), /body\/Variables\[0\] has an unknown field "X"/);
    refused(op, raw({ Variables: [{ Name: 5, Value: 'b' }] }), /body\/Variables\[0\]\.Name must be string/);
    refused(op, raw({ Variables: [{ Name: 'A', Value: 1 }] }), /body\/Variables\[0\]\.Value must be string/);
    refused(op, raw({ Variables: Array.from({ length: 1001 }, (_, i) => ({ Name: `V${i}`, Value: '' })) }), /body\/Variables must have at most 1000 items/);
    refused(op, raw({ Variables: [{ Name: 'A', Value: 'a\rb' }] }), /line break/);
    assert.equal(op.parse(raw({ Variables: [{ Name: 'A', Value: '' }] })), { Id: 'c-1', Variables: [{ Name: 'A', Value: '' }] });
    // The seed's client: Id = the target, Source "" unless a URL, null Variables with --reset alone.
    assert.equal(op.parse(raw({ Variables: null, Source: '', Id: 'c-1' })), { Id: 'c-1', Variables: [] });
    assert.equal(op.parse(raw({})), { Id: 'c-1', Variables: [] });
  }
  // PUT fetches a Source (checked first); PATCH ignores it, as the seed does.
  const put = operations.replaceEnv.parse(raw({ Source: 'https://config.example/app.env' }));
  assert.is(put.Source?.href, 'https://config.example/app.env');
  assert.equal(operations.patchEnv.parse(raw({ Source: 'https://config.example/app.env' })), { Id: 'c-1', Variables: [] });
  refused(operations.replaceEnv as AnyOp, raw({ Source: 'file:///etc/shadow' }), /Source must be an http:\/\/ or https:\/\/ URL/);
});

test('queries: unknown keys, lists (a key given twice), bad values', () => {
  refused(operations.list as AnyOp, raw(undefined, { bogus: '1' }), /^invalid request: query has an unknown field "bogus"$/);
  refused(operations.list as AnyOp, raw(undefined, { all: ['1', '0'] }), /query\/all is given more than once/);
  refused(operations.list as AnyOp, raw(undefined, { all: '2' }), /all must be 1 or 0/);
  refused(operations.list as AnyOp, raw(undefined, { all: 'x'.repeat(33) }), /query\/all must be at most 32 characters long/);
  assert.equal(operations.list.parse(raw(undefined, { all: '1' })), { all: true });
  assert.equal(operations.list.parse(raw(undefined, {})), { all: false });
  refused(operations.remove as AnyOp, raw(undefined, { x: '1' }), /query has an unknown field "x"/);
  refused(operations.remove as AnyOp, raw(undefined, { 'keep-volumes': 'maybe' }), /keep-volumes must be 1 or 0/);
  assert.equal(operations.remove.parse(raw(undefined, { 'keep-volumes': 'true' })), { Id: 'c-1', KeepVolumes: true });
  refused(operations.logs as AnyOp, raw(undefined, { lines: 'x' }), /lines must be a whole number/);
  refused(operations.logs as AnyOp, raw(undefined, { lines: '10001' }), /lines must be at most 10000/);
  refused(operations.logs as AnyOp, raw(undefined, { lines: '1'.repeat(40) }), /query\/lines must be at most 32 characters long/);
  refused(operations.logs as AnyOp, raw(undefined, { follow: 'maybe' }), /follow must be 1 or 0/);
  refused(operations.logs as AnyOp, raw(undefined, { since: 'x' }), /query has an unknown field "since"/);
  assert.equal(operations.logs.parse(raw(undefined, { lines: '5', follow: '1' })), { Id: 'c-1', lines: 5, follow: true });
});

test('every operation refuses a bad container name; those that take no body or query do not read them', () => {
  for (const op of Object.values(ops)) {
    if (!op.path.includes(':id')) continue;
    // install and update take an image; the others with a body, variables.
    const body = op === (operations.install as unknown) || op === (operations.update as unknown) ? IMG : op.body ? (op.path.startsWith('/repository') ? {} : { Variables: [] }) : undefined;
    refused(op, { params: { id: 'a b' }, query: {}, body }, op.path.startsWith('/environment') ? /environment id "a b" is not valid/ : op.path.startsWith('/repository') ? /repository name "a b" is not valid/ : /container name "a b" is not valid/);
  }
  for (const name of ['start', 'restart', 'status', 'ports', 'getEnv'] as const) {
    // geard's server took an optional body on some of these ({"Wait": true} on stop): not read, not refused.
    assert.equal(operations[name].parse({ params: { id: 'c-1' }, query: { x: '1' }, body: { Wait: true } }), { Id: 'c-1' });
  }
});

test('stop: ?wait=0 answers once the stop is queued (`gear stop --no-wait`); waiting is the default; its body is not read', () => {
  assert.equal(operations.stop.parse({ params: { id: 'c-1' }, query: {}, body: { Wait: false } }), { Id: 'c-1', Wait: true });
  assert.equal(operations.stop.parse({ params: { id: 'c-1' }, query: { wait: '0' } }), { Id: 'c-1', Wait: false });
  assert.equal(operations.stop.parse({ params: { id: 'c-1' }, query: { wait: '1' } }), { Id: 'c-1', Wait: true });
  refused(operations.stop as AnyOp, { params: { id: 'c-1' }, query: { wait: 'soon' } }, /wait must be 1 or 0/);
  refused(operations.stop as AnyOp, { params: { id: 'c-1' }, query: { x: '1' } }, /query has an unknown field "x"/);
});

test('clean: ?dry-run=1 lists and removes nothing (`gear clean --dry-run`); ?repair=1 repairs; anything else in the query is refused', () => {
  assert.equal(operations.clean.parse({ params: {}, query: {} }), { DryRun: false, Repair: false });
  assert.equal(operations.clean.parse({ params: {}, query: { 'dry-run': '1' } }), { DryRun: true, Repair: false });
  assert.equal(operations.clean.parse({ params: {}, query: { 'dry-run': '1', repair: '1' } }), { DryRun: true, Repair: true });
  refused(operations.clean as AnyOp, { params: {}, query: { 'dry-run': 'yes' } }, /dry-run must be 1 or 0/);
  refused(operations.clean as AnyOp, { params: {}, query: { repair: 'please' } }, /repair must be 1 or 0/);
  refused(operations.clean as AnyOp, { params: {}, query: { fix: '1' } }, /query has an unknown field "fix"/);
});

test.run();
