import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Signal, SystemdBus } from '../../src/host/systemd-bus.js';
import { UnitWatch } from '../../src/host/unit-watch.js';

/**
 * systemd and the bus, played step by step: what the agent sends waits in
 * systemd's inbox until the test lets systemd read it (its reply goes to the
 * outbox then, computed from systemd's state at that moment), and the outbox
 * reaches the agent in order, only when the test delivers it. So a change
 * can be made between systemd reading a Ping and the agent getting its reply.
 */
function fakeSystemd() {
  const units = new Map<string, { active: string; sub: string }>([['ctr-a.service', { active: 'inactive', sub: 'dead' }]]);
  const inbox: { member: string; args: unknown[]; reply: (body: unknown[]) => void }[] = [];
  const outbox: (() => void)[] = [];
  let listener: (s: Signal) => void = () => undefined;
  const row = (name: string) => [name, name, 'loaded', units.get(name)!.active, units.get(name)!.sub];
  const send = (member: string, args: unknown[]) =>
    new Promise<unknown[]>((resolve) => inbox.push({ member, args, reply: (body) => outbox.push(() => resolve(body)) }));
  const bus = {
    generation: 1,
    onSignal: (l: (s: Signal) => void) => void (listener = l),
    subscribe: async () => 1,
    resubscribe: async () => undefined,
    ping: async () => void (await send('Ping', [])),
    callInOrder: async (_p: string, _i: string, member: string, _s: string, args: unknown[], apply: (body: unknown[]) => void) => apply(await send(member, args)),
  };
  return {
    bus: bus as unknown as SystemdBus,
    inbox,
    /** systemd reads everything sent to it so far and queues the replies. */
    read() {
      for (const m of inbox.splice(0)) {
        if (m.member === 'Ping') m.reply([]);
        else {
          const [, patterns] = m.args as [string[], string[]];
          const names = [...units.keys()].filter((n) => patterns.some((p) => p === n || (p.endsWith('*.service') && n.startsWith(p.slice(0, -'*.service'.length)))));
          m.reply([names.map(row)]);
        }
      }
    },
    /** systemd changes a unit and queues its PropertiesChanged signal. */
    change(name: string, active: string, sub: string) {
      units.set(name, { active, sub });
      const path = `/org/freedesktop/systemd1/unit/${name.replace(/[^a-zA-Z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`;
      const s: Signal = { path, interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', body: ['org.freedesktop.systemd1.Unit', { ActiveState: { value: active }, SubState: { value: sub } }, []] };
      outbox.push(() => listener(s));
    },
    /** The agent reads the next message from systemd. */
    async deliverOne() {
      outbox.shift()?.();
      await new Promise((r) => setImmediate(r));
    },
    /** Run everything to the end: systemd reads, the agent reads, until both are quiet. */
    async settle() {
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setImmediate(r));
        this.read();
        if (outbox.length === 0 && inbox.length === 0) return;
        while (outbox.length) await this.deliverOne();
      }
    },
  };
}

test('a listing that arrives after a change is answered with it, never from a Ping sent before it arrived', async () => {
  const systemd = fakeSystemd();
  const watch = new UnitWatch(systemd.bus, 'ctr-*.service');
  const syncing = watch.sync();
  await systemd.settle();
  await syncing;

  let first: readonly { ActiveState: string }[] | undefined;
  void watch.list().then((rows) => (first = rows));
  await new Promise((r) => setImmediate(r)); // the turn ends: Ping 1 leaves
  assert.is(systemd.inbox.length, 1, 'one Ping sent');
  systemd.read(); // systemd reads Ping 1 and queues its reply
  systemd.change('ctr-a.service', 'active', 'running'); // then makes a change: its signal comes after Ping 1's reply
  let second: readonly { ActiveState: string }[] | undefined;
  void watch.list().then((rows) => (second = rows)); // a listing arriving after the change
  await systemd.deliverOne(); // Ping 1's reply reaches the agent (the change's signal not yet)
  assert.ok(first, 'the first listing is answered by Ping 1');
  assert.is(first![0]!.ActiveState, 'inactive');
  assert.is(second, undefined, 'the second listing must not be answered by a Ping sent before it arrived');
  await systemd.settle();
  assert.ok(second);
  assert.is(second![0]!.ActiveState, 'active', 'the change made before the second listing arrived is in its answer');
});

test('the listings of one turn share one Ping', async () => {
  const systemd = fakeSystemd();
  const watch = new UnitWatch(systemd.bus, 'ctr-*.service');
  const syncing = watch.sync();
  await systemd.settle();
  await syncing;
  const listings = Array.from({ length: 20 }, () => watch.list());
  await new Promise((r) => setImmediate(r));
  assert.is(systemd.inbox.filter((m) => m.member === 'Ping').length, 1);
  await systemd.settle();
  const answers = await Promise.all(listings);
  assert.ok(answers.every((a) => a === answers[0]), 'one answer, the same array');
  assert.equal(watch.barrier.counts, { calls: 1, callers: 20 });
});

test.run();
