import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import { capacityOf } from '../../src/model/capacity.js';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/cli/backend.js';
import { deploy } from '../../src/cli/deploy.js';
import { failed, notFound } from '../../src/model/errors.js';
import { operations, type Operation, type RawRequest } from '../../src/operations/index.js';
import type { ImagePeer } from '../../src/operations/images.js';

// A deploy spreading its images (cli/spread.ts) against recording hosts
// with in-memory images: who pulls, who sends to whom, what is installed
// where, and the lines a user sees. The real transfer is tested on test
// hosts (tests/integration/deploy-spread.test.ts).

const now = new Date('2026-12-02T10:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'gear-deploy-spread-'));
const ID = `sha256:${'a'.repeat(64)}`;
const LAYER = `sha256:${'1'.repeat(64)}`;

interface World {
  /** Images per host (NAME:TAG). */
  images: Map<string, Set<string>>;
  /** "pull img@h", "send h1>h2", "install id@h". */
  log: string[];
  /** Hosts whose sends fail; hosts whose pulls fail. */
  badSenders: Set<string>;
  badPulls: Set<string>;
  backendFor(host: string): Backend;
}

function world(has: Record<string, string[]>): World {
  const images = new Map(Object.entries(has).map(([h, i]) => [h, new Set(i)]));
  const w: World = { images, log: [], badSenders: new Set(), badPulls: new Set(), backendFor: () => undefined as never };
  const mine = (h: string) => images.get(h) ?? images.set(h, new Set()).get(h)!;
  const peer = (host: string): ImagePeer => ({
    async inspect(image) {
      if (!mine(host).has(image)) throw notFound(`image ${image} is not on this host`);
      return { Image: image, Id: ID, Layers: [LAYER], Size: 100 };
    },
    layersHad: async () => [],
    async save() {
      if (w.badSenders.has(host)) throw failed(`${host} lost its disk`);
      return { archive: Readable.from([Buffer.alloc(100)]), done: Promise.resolve() };
    },
    async load(req, archive) {
      for await (const _ of archive);
      mine(host).add(req.Image);
      return { Image: req.Image, Id: ID, Layers: [{ DiffId: LAYER, Received: true }], Bytes: 100 };
    },
  });
  w.backendFor = (host) => ({
    label: host,
    async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
      op.parse(raw);
      const r = raw as { params: { id?: string }; body?: { Image?: string } };
      if (op === (operations.ports as unknown)) throw notFound(`container ${r.params.id} is not installed`);
      // A host with no capacity limits configured: room for every instance.
      if (op === (operations.capacity as unknown)) return capacityOf(0, 0, {}, { Memory: 8 << 30, Cpus: 2 }) as Res;
      if (op === (operations.imagePull as unknown)) {
        w.log.push(`pull ${r.body!.Image}@${host}`);
        if (w.badPulls.has(host)) throw failed(`image ${r.body!.Image} is not on this host and cannot be pulled: no such host registry.example`);
        mine(host).add(r.body!.Image!);
        return { Image: r.body!.Image, Id: ID, Pulled: true } as Res;
      }
      if (op === (operations.install as unknown)) {
        const image = r.body!.Image!;
        // An install of an image the host lacks would pull it: that is what spreading avoids.
        if (![...mine(host)].some((i) => i === image || i === `${image}:latest`)) w.log.push(`registry pull by install ${image}@${host}`);
        w.log.push(`install ${r.params.id}@${host}`);
        return { Id: r.params.id, Ports: [] } as Res;
      }
      return {} as Res;
    },
    lines: () => (async function* () {})(),
    imagePeer: () => peer(host),
    close: () => {},
  });
  return w;
}

function descriptor(name: string, containers: { Name: string; Image: string; Count: number }[]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ Containers: containers }));
  return file;
}

async function run(w: World, file: string, hosts: string[], spread = true) {
  const lines: string[] = [];
  const done: string[] = [];
  const orig = w.backendFor;
  const out = await deploy({
    file,
    hosts,
    backendFor: (h) => {
      const b = orig(h);
      const call = b.call.bind(b);
      const imagePeer = () => {
        const p = b.imagePeer();
        return { ...p, save: async (req: Parameters<ImagePeer['save']>[0]) => (w.log.push(`send from ${h}`), p.save(req)) };
      };
      return { ...b, call, imagePeer };
    },
    progress: {},
    done: (l) => done.push(l),
    now,
    spread: spread ? { progress: () => ({}), report: (l) => lines.push(l) } : undefined,
  });
  return { out, lines, done };
}

test('three hosts, only h1 has the image: h2 and h3 get it from agents (a chain), nobody pulls, all three install', async () => {
  const w = world({ h1: ['img:1'] });
  const { out, lines } = await run(w, descriptor('one.json', [{ Name: 'web', Image: 'img:1', Count: 3 }]), ['h1', 'h2', 'h3']);
  assert.equal(out.notDone, []);
  assert.not.ok(w.log.some((l) => l.includes('pull')), w.log.join('\n'));
  assert.equal(w.log.filter((l) => l.startsWith('send')), ['send from h1', 'send from h2'], 'h1 sends to h2, then h2 to h3');
  assert.equal(w.log.filter((l) => l.startsWith('install')).sort(), ['install web-1@h1', 'install web-2@h2', 'install web-3@h3']);
  assert.ok(lines.includes('h1: img:1 is there already: nothing transferred'), lines.join('\n'));
  assert.match(lines.join('\n'), /^h2: img:1 \(sha256:a+\) loaded from h1: 1 of 1 layers sent \(100 bytes of layers\), 0 already there; 100 bytes transferred in /m);
  assert.match(lines.join('\n'), /^h3: img:1 \(sha256:a+\) loaded from h2: 1 of 1 layers sent/m);
});

test('nobody has it: one pull, on the first host that needs it, then host to host; an image without tag is :latest', async () => {
  const w = world({});
  const { out, lines } = await run(w, descriptor('none.json', [{ Name: 'web', Image: 'img', Count: 3 }]), ['h1', 'h2', 'h3']);
  assert.equal(out.notDone, []);
  assert.equal(w.log.filter((l) => l.includes('pull')), ['pull img:latest@h1']);
  assert.equal(w.log.filter((l) => l.startsWith('install')).length, 3);
  assert.equal(lines.slice(0, 2), ['h1: pulling img:latest from its registry (no named host has it)', 'h1: img:latest pulled from its registry']);
});

test('two hosts have it: only the third receives, from one of them; a host that installs nothing of it can send it', async () => {
  const w = world({ h1: ['img:1'], h2: ['img:1'] });
  const { out } = await run(w, descriptor('two.json', [{ Name: 'web', Image: 'img:1', Count: 3 }]), ['h1', 'h2', 'h3']);
  assert.equal(out.notDone, []);
  assert.is(w.log.filter((l) => l.startsWith('send')).length, 1);
  // One instance, on h1; h3 has the image and sends it though it installs nothing.
  const w2 = world({ h3: ['img:1'] });
  const r2 = await run(w2, descriptor('lone.json', [{ Name: 'web', Image: 'img:1', Count: 1 }]), ['h1', 'h2', 'h3']);
  assert.equal(r2.out.notDone, []);
  assert.equal(w2.log, ['send from h3', 'install web-1@h1']);
});

test('the pull fails: every instance of that image fails (one line per host), the registry is asked once, the other image installs', async () => {
  const w = world({ h2: ['other:1'] });
  w.badPulls.add('h1');
  const file = descriptor('pullfail.json', [
    { Name: 'web', Image: 'img:1', Count: 3 },
    { Name: 'db', Image: 'other:1', Count: 2 },
  ]);
  const { out } = await run(w, file, ['h1', 'h2', 'h3']);
  assert.equal(w.log.filter((l) => l.includes('pull')), ['pull img:1@h1']);
  assert.equal(w.log.filter((l) => l.startsWith('install')).sort(), ['install db-1@h1', 'install db-2@h2']);
  assert.equal(out.notDone, [
    'install web-1 on h1: image img:1 did not reach h1: pulling it failed: image img:1 is not on this host and cannot be pulled: no such host registry.example; nothing that needs it installed there',
    'install web-2 on h2: image img:1 did not reach h2: no named host has it, and pulling it on h1 failed: image img:1 is not on this host and cannot be pulled: no such host registry.example; nothing that needs it installed there',
    'install web-3 on h3: image img:1 did not reach h3: no named host has it, and pulling it on h1 failed: image img:1 is not on this host and cannot be pulled: no such host registry.example; nothing that needs it installed there',
  ]);
});

test('the only sender fails: each host lacking it fails with one line naming the sender; the holder still installs', async () => {
  const w = world({ h1: ['img:1'] });
  w.badSenders.add('h1');
  const { out, lines } = await run(w, descriptor('senderfail.json', [{ Name: 'web', Image: 'img:1', Count: 6 }]), ['h1', 'h2', 'h3']);
  assert.equal(w.log.filter((l) => l.startsWith('install')).sort(), ['install web-1@h1', 'install web-4@h1']);
  assert.equal(out.notDone, [
    'install web-2, web-5 on h2: image img:1 did not reach h2: not received (from h1: h1 lost its disk); nothing that needs it installed there',
    'install web-3, web-6 on h3: image img:1 did not reach h3: not received (from h1: h1 lost its disk); nothing that needs it installed there',
  ]);
  assert.ok(lines.includes('h2: img:1 not received from h1: h1 lost its disk'), lines.join('\n'));
});

test('a sender fails mid-tree: the host it was sending to gets the image from another holder', async () => {
  // h1 has it; h2 gets it, then fails to send to h3; h4 got it from h1 meanwhile and sends it to h3.
  const w = world({ h1: ['img:1'] });
  const orig = w.backendFor;
  let h2Sends = 0;
  w.backendFor = (h) => {
    const b = orig(h);
    if (h !== 'h2') return b;
    return { ...b, imagePeer: () => ({ ...b.imagePeer(), save: async () => (h2Sends++, Promise.reject(failed('h2 went away'))) }) };
  };
  const { out } = await run(w, descriptor('midtree.json', [{ Name: 'web', Image: 'img:1', Count: 4 }]), ['h1', 'h2', 'h3', 'h4']);
  assert.equal(out.notDone, []);
  assert.is(h2Sends, 1, 'h2 is not used again');
  assert.equal(w.log.filter((l) => l.startsWith('install')).length, 4);
  assert.not.ok(w.log.some((l) => l.includes('pull')));
});

test('--no-spread: nothing is asked about images; each install pulls what its host lacks (as before)', async () => {
  const w = world({ h1: ['img:1'] });
  const { out, lines } = await run(w, descriptor('nospread.json', [{ Name: 'web', Image: 'img:1', Count: 2 }]), ['h1', 'h2'], false);
  assert.equal(out.notDone, []);
  assert.equal(lines, []);
  assert.equal(w.log.filter((l) => l.startsWith('send')), []);
  assert.equal(w.log.filter((l) => l.includes('pull')), ['registry pull by install img:1@h2']);
});

test('an image named by digest is not spread (not transferable by name): each host pulls it at install, and a line says so', async () => {
  const w = world({});
  const image = `img@sha256:${'b'.repeat(64)}`;
  const { out, lines } = await run(w, descriptor('digest.json', [{ Name: 'web', Image: image, Count: 2 }]), ['h1', 'h2']);
  assert.equal(out.notDone, []);
  assert.equal(lines, [`${image}: named by digest, not spread: each host that lacks it pulls it`]);
  assert.equal(w.log.filter((l) => l.startsWith('install')).length, 2);
});

test.run();
