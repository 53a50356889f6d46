import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnitTable, globMatcher, unitOfPath } from '../../src/host/unit-table.js';

const row = (Id: string, ActiveState = 'active', SubState = 'running', LoadState = 'loaded') => ({ Id, Description: `d ${Id}`, LoadState, ActiveState, SubState });

test('the pattern matches as systemd globs do', () => {
  const m = globMatcher('ctr-*.service');
  assert.ok(m('ctr-web.service'));
  assert.ok(m('ctr-a.b.service'));
  assert.not.ok(m('ctr-web.socket'));
  assert.not.ok(m('xctr-web.service'));
  assert.not.ok(m('ctr-web.servicex'));
  assert.throws(() => globMatcher('ctr-[ab].service'));
});

test('unit names come back from their object paths', () => {
  assert.is(unitOfPath('/org/freedesktop/systemd1/unit/ctr_2dweb_2e1_2eservice'), 'ctr-web.1.service');
  assert.is(unitOfPath('/org/freedesktop/systemd1/job/12'), undefined);
});

test('a snapshot replaces everything; signals then change states', () => {
  const t = new UnitTable('ctr-*.service');
  t.replaceAll([row('ctr-a.service'), row('ctr-b.service'), row('docker.service')]);
  assert.equal(t.list().map((r) => r.Id), ['ctr-a.service', 'ctr-b.service'], 'only the pattern');
  assert.equal(t.unitChanged('ctr-a.service', { ActiveState: 'deactivating', SubState: 'stop-sigterm' }), [], 'a loaded unit needs no fetch');
  assert.equal(t.list()[0], row('ctr-a.service', 'deactivating', 'stop-sigterm'));
  t.unitRemoved('ctr-b.service');
  assert.equal(t.list().map((r) => r.Id), ['ctr-a.service']);
  t.replaceAll([row('ctr-c.service')]);
  assert.equal(t.list().map((r) => r.Id), ['ctr-c.service'], 'what the snapshot lacks is gone');
});

test('units to fetch: new ones, unknown ones, and ones not loaded as of their row', () => {
  const t = new UnitTable('ctr-*.service');
  t.replaceAll([row('ctr-gone.service', 'inactive', 'dead', 'not-found')]);
  assert.equal(t.unitNew('ctr-new.service'), ['ctr-new.service']);
  assert.equal(t.unitNew('docker.service'), []);
  assert.equal(t.unitChanged('ctr-unknown.service', { ActiveState: 'active' }), ['ctr-unknown.service']);
  assert.equal(t.unitChanged('ctr-gone.service', { ActiveState: 'activating' }), ['ctr-gone.service'], 'it may have been loaded again');
  assert.equal(t.unitChanged('other.service', { ActiveState: 'active' }), []);
});

test('a fetch by name: rows it returns replace, names it lacks are no longer loaded', () => {
  const t = new UnitTable('ctr-*.service');
  t.replaceAll([row('ctr-a.service'), row('ctr-b.service')]);
  t.replaceSome(['ctr-a.service', 'ctr-c.service'], [row('ctr-c.service', 'failed', 'failed')]);
  assert.equal(t.list(), [row('ctr-b.service'), row('ctr-c.service', 'failed', 'failed')]);
});

test('list returns copies: later signals do not change an answer already given', () => {
  const t = new UnitTable('ctr-*.service');
  t.replaceAll([row('ctr-a.service')]);
  const answer = t.list();
  t.unitChanged('ctr-a.service', { ActiveState: 'failed', SubState: 'failed' });
  assert.is(answer[0]!.ActiveState, 'active');
});

test('list is the same array until a change, and a new one after every change', () => {
  const t = new UnitTable('ctr-*.service');
  t.replaceAll([row('ctr-a.service'), row('ctr-b.service')]);
  const first = t.list();
  assert.is(t.list(), first, 'nothing changed: the same array');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first[0]), 'frozen: nobody changes an answer others reuse');
  t.unitChanged('ctr-a.service', { ActiveState: 'active', SubState: 'running' });
  assert.is(t.list(), first, 'a signal that changes nothing the table holds');
  t.unitNew('ctr-c.service');
  assert.is(t.list(), first, 'UnitNew alone changes nothing until its row is fetched');
  t.unitRemoved('ctr-gone.service');
  assert.is(t.list(), first, 'removing a unit not in the table');

  const answers = [first];
  const changed = (what: string) => {
    const now = t.list();
    for (const before of answers) assert.is.not(now, before, what);
    answers.push(now);
    return now;
  };
  t.unitChanged('ctr-a.service', { ActiveState: 'deactivating' });
  assert.is(changed('ActiveState')[0]!.ActiveState, 'deactivating');
  t.unitChanged('ctr-a.service', { SubState: 'stop-sigterm' });
  assert.is(changed('SubState')[0]!.SubState, 'stop-sigterm');
  t.unitRemoved('ctr-b.service');
  assert.equal(changed('UnitRemoved').map((r) => r.Id), ['ctr-a.service']);
  t.replaceSome(['ctr-c.service'], [row('ctr-c.service')]);
  assert.equal(changed('a fetch').map((r) => r.Id), ['ctr-a.service', 'ctr-c.service']);
  t.replaceAll([row('ctr-a.service', 'failed', 'failed')]);
  assert.equal(changed('a snapshot'), [row('ctr-a.service', 'failed', 'failed')]);
  assert.is(first[0]!.ActiveState, 'active', 'answers given before are unchanged');
});

test.run();
