import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadUnitTemplates } from '../../src/host/templates.js';
import type { ContainerDefinition } from '../../src/model/definition.js';
import { applyLimits, dockerLimitArgs, formatMemory, limitsText, parseCpusFlag, parseMemory, parsePidsFlag, validateCpus, validatePids } from '../../src/model/limits.js';
import { validateSlice } from '../../src/model/names.js';
import { containerUnitRenderer, type UnitContext } from '../../src/model/unit.js';
import { operations } from '../../src/operations/index.js';
import { statusText } from '../../src/operations/text.js';

// Limits (install's Memory, Cpus, Pids): parsing, the nasty values refused,
// how a re-install changes them, and what the unit says and runs.

const M = 1024 * 1024;

test('memory sizes: bytes or K/M/G/T (powers of 1024), whole numbers, at least 6M', () => {
  assert.is(parseMemory('256M'), 256 * M);
  assert.is(parseMemory('256m'), 256 * M);
  assert.is(parseMemory('1G'), 1024 * M);
  assert.is(parseMemory('6144K'), 6 * M);
  assert.is(parseMemory(268435456), 256 * M);
  assert.is(parseMemory('268435456'), 256 * M);
  for (const bad of ['', '256MB', '1.5G', '-1M', '0x10M', '1e9', ' 256M', '256M ', '256M;rm -rf /', '256M\nExecStartPre=/bin/sh', 'none!', null, true, 1.5, -5])
    assert.throws(() => parseMemory(bad), /is not a memory size|below|too large/, JSON.stringify(bad));
  assert.throws(() => parseMemory('5M'), /below the least Docker allows \(6M\)/);
  assert.throws(() => parseMemory(0), /below/);
  assert.throws(() => parseMemory('99999999T'), /too large/);
});

test('cpus above 0 in hundredths; pids whole, at least 1', () => {
  assert.is(validateCpus(0.5), 0.5);
  assert.is(validateCpus(2), 2);
  assert.is(validateCpus(0.01), 0.01);
  for (const bad of [0, -1, 0.001, NaN, Infinity, '0.5', 2000]) assert.throws(() => validateCpus(bad), /must be a number of CPUs above 0/, String(bad));
  assert.is(validatePids(1), 1);
  assert.is(validatePids(200), 200);
  for (const bad of [0, -1, 1.5, '200', 5_000_000]) assert.throws(() => validatePids(bad), /must be a whole number of processes/, String(bad));
});

test('the CLI flags are read strictly: no exponents, hex, signs or spaces; "none" removes', () => {
  assert.is(parseCpusFlag('0.5'), 0.5);
  assert.is(parseCpusFlag('none'), 'none');
  for (const bad of ['1e3', '0x1', '+1', ' 1', '0', '.5', '0.001', 'abc']) assert.throws(() => parseCpusFlag(bad), /--cpus/, bad);
  assert.is(parsePidsFlag('200'), 200);
  for (const bad of ['0', '-1', '1.0', '2e2', '200 ']) assert.throws(() => parsePidsFlag(bad), /--pids/, bad);
});

test('install body: Memory/Cpus/Pids checked by schema and by hand, naming the field; unknown fields still refused', () => {
  const parse = (extra: object) => operations.install.parse({ params: { id: 'w' }, query: {}, body: { Image: 'test/web', ...extra } });
  assert.equal(parse({ Memory: '256M', Cpus: 0.5, Pids: 200 }).Limits, { Memory: 256 * M, Cpus: 0.5, Pids: 200 });
  assert.equal(parse({ Memory: 'none' }).Limits, { Memory: 'none' });
  assert.is(parse({}).Limits, undefined);
  assert.throws(() => parse({ Memory: '256M; rm' }), /body\/Memory "256M; rm" is not a memory size/);
  assert.throws(() => parse({ Cpus: 0 }), /body\/Cpus 0 must be a number of CPUs above 0/);
  assert.throws(() => parse({ Cpus: '0.5' }), /body\/Cpus/);
  assert.throws(() => parse({ Pids: 0 }), /body\/Pids 0 must be a whole number/);
  assert.throws(() => parse({ Pids: 1.5 }), /body\/Pids/);
  assert.throws(() => parse({ MemoryMax: '1G' }), /unknown field "MemoryMax"/);
});

test('a re-install: given limits replace, "none" removes, absent ones stay', () => {
  const old = { Memory: 256 * M, Cpus: 0.5, Pids: 200 };
  assert.equal(applyLimits(old, {}), old);
  assert.equal(applyLimits(old, { Cpus: 1 }), { ...old, Cpus: 1 });
  assert.equal(applyLimits(old, { Pids: 'none' }), { Memory: 256 * M, Cpus: 0.5 });
  assert.is(applyLimits({ Pids: 5 }, { Pids: 'none' }), undefined);
  assert.is(applyLimits(undefined, {}), undefined);
});

test('slices: gear.slice or gear-NAME.slice only', () => {
  assert.is(validateSlice('gear-small.slice'), 'gear-small.slice');
  assert.is(validateSlice('gear.slice'), 'gear.slice');
  for (const bad of ['system.slice', 'user-1000.slice', '-.slice', 'machine.slice', 'gearx.slice', 'gear-.slice', 'gear-a b.slice', 'gear-a\n.slice'])
    assert.throws(() => validateSlice(bad), /slice/, bad);
});

const def: ContainerDefinition = {
  Id: 'web-2',
  Image: 'test/web',
  Ports: [],
  VolumeConfig: { Volumes: [], BindMounts: [] },
  SystemdSlice: 'gear-small.slice',
  Limits: { Memory: 256 * M, Cpus: 0.5, Pids: 200 },
  Created: '2026-01-01T00:00:00.000Z',
};
const ctx: UnitContext = {
  dockerBin: '/usr/bin/docker',
  runtimeService: 'docker.service',
  envFile: '/var/lib/gear/env/web-2.env',
  definitionFile: '/var/lib/gear/containers/web-2.json',
  stopTimeout: 10,
  version: '1.0.0',
  selfCommand: ['/usr/local/bin/gear'],
  stateDir: '/var/lib/gear',
};
const render = containerUnitRenderer(Handlebars.compile, loadUnitTemplates().container);

test('the unit: docker enforces the limits (no swap beyond memory), the scope goes in the slice with systemd cgroups, a comment names them', () => {
  assert.equal(dockerLimitArgs(def.Limits), ['--memory', '268435456', '--memory-swap', '268435456', '--cpus', '0.5', '--pids-limit', '200']);
  const unit = render(def, { ...ctx, systemdCgroups: true });
  assert.match(unit, /^Slice=gear-small.slice$/m);
  assert.match(unit, /^ExecStart=.* --cgroup-parent gear-small.slice --memory 268435456 --memory-swap 268435456 --cpus 0.5 --pids-limit 200 test\/web$/m);
  assert.match(unit, /^# gear: limits memory=256M cpus=0.5 pids=200 /m);
  // No cgroup parent without systemd's driver (cgroupfs would take the slice name as a path).
  assert.not.match(render(def, ctx), /--cgroup-parent/);
  // No limits, no comment and no flags.
  const plain = render({ ...def, Limits: undefined }, ctx);
  assert.not.match(plain, /# gear: limits|--memory|--cpus|--pids-limit/);
});

test('status text shows the limits and the slice', () => {
  assert.is(limitsText(def.Limits), 'memory=256M cpus=0.5 pids=200');
  assert.is(formatMemory(256 * M + 1), String(256 * M + 1));
  const text = statusText({ Id: 'web-2', Image: 'test/web', Unit: { Id: 'ctr-web-2.service', LoadState: 'loaded', ActiveState: 'active', SubState: 'running' }, Ports: [], Volumes: [], Limits: def.Limits, Slice: 'gear-small.slice' });
  assert.match(text, /^ {3}Limits: memory=256M cpus=0.5 pids=200 in gear-small.slice$/m);
});

test.run();
