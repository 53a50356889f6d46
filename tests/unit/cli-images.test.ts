/**
 * `gear images` and `gear install --from`, through gear's real program
 * (commander, the operations' parse, the transfer) against recording
 * backends: the requests each host gets, in order, and what the user sees.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../src/cli/backend.js';
import { createdText, imageMatrix, imagesTable, shortId, sizeText } from '../../src/cli/commands/list-images.js';
import { reporter } from '../../src/cli/commands/images.js';
import { runCli } from '../fixtures/run-cli.js';
import type { ImageListing } from '../../src/host/images.js';
import { notFound } from '../../src/model/errors.js';
import type { ImagePeer } from '../../src/operations/images.js';
import type { Operation, RawRequest } from '../../src/operations/index.js';

const hex = (c: string) => c.repeat(64);
const WEB: ImageListing = { Id: `sha256:${hex('a')}`, RepoTags: ['test/web:latest'], Size: 12_345_678, Created: 1_764_676_860 };
const APP: ImageListing = { Id: `sha256:${hex('b')}`, RepoTags: ['myapp:1', 'myapp:latest'], Size: 2_500, Created: 1_764_680_000 };
const OLD_APP: ImageListing = { Id: `sha256:${hex('c')}`, RepoTags: ['myapp:1'], Size: 999, Created: 0 };
const DANGLING: ImageListing = { Id: `sha256:${hex('d')}`, RepoTags: [], Size: 1_000_000_000, Created: 1_764_680_000 };

test('sizes, dates (UTC) and ids as a reader at 3 a.m. wants them', () => {
  assert.is(sizeText(999), '999 B');
  assert.is(sizeText(2_500), '2.5 kB');
  assert.is(sizeText(12_345_678), '12.3 MB');
  assert.is(sizeText(1_500_000_000), '1.5 GB');
  assert.is(createdText(1_764_676_860), '2025-12-02 12:01');
  assert.is(createdText(0), '-');
  assert.is(shortId(`sha256:${hex('a')}`), 'aaaaaaaaaaaa');
});

test("one host's images: a row per tag, untagged last as <none>", () => {
  assert.is(
    imagesTable([DANGLING, WEB, APP]),
    [
      'IMAGE            ID            SIZE     CREATED',
      'myapp:1          bbbbbbbbbbbb  2.5 kB   2025-12-02 12:53',
      'myapp:latest     bbbbbbbbbbbb  2.5 kB   2025-12-02 12:53',
      'test/web:latest  aaaaaaaaaaaa  12.3 MB  2025-12-02 12:01',
      '<none>           dddddddddddd  1.0 GB   2025-12-02 12:53',
      '',
    ].join('\n'),
  );
});

test('several hosts: a column per host; a tag naming different images on two hosts is two rows; a host that did not answer shows "?"', () => {
  const text = imageMatrix([
    { Host: 'local', Images: [WEB, APP] },
    { Host: '10.0.0.2', Images: [WEB, OLD_APP] },
    { Host: '10.0.0.3' },
  ]);
  assert.is(
    text,
    [
      'IMAGE            ID            SIZE     CREATED           local  10.0.0.2  10.0.0.3',
      'myapp:1          bbbbbbbbbbbb  2.5 kB   2025-12-02 12:53  yes    -         ?',
      'myapp:1          cccccccccccc  999 B    -                 -      yes       ?',
      'myapp:latest     bbbbbbbbbbbb  2.5 kB   2025-12-02 12:53  yes    -         ?',
      'test/web:latest  aaaaaaaaaaaa  12.3 MB  2025-12-02 12:01  yes    yes       ?',
      '',
    ].join('\n'),
  );
});

// --- The program against recording backends ---

interface Sent {
  on: string;
  what: string;
}

/** A host with these images (by tag) for the transfer's calls; records every request. */
function recorder(label: string, images: Map<string, ImageListing[]>, sent: Sent[], fail?: string): Backend {
  const mine = () => images.get(label) ?? [];
  const find = (tag: string) => mine().find((i) => i.RepoTags.includes(tag));
  const peer: ImagePeer = {
    async inspect(image) {
      sent.push({ on: label, what: `inspect ${image}` });
      if (fail) throw new Error(fail);
      const i = find(image);
      if (!i) throw notFound(`image ${image} is not on this host`);
      return { Image: image, Id: i.Id, Layers: [`sha256:${hex('1')}`, `sha256:${hex('2')}`], Size: i.Size };
    },
    async layersHad(chains) {
      sent.push({ on: label, what: `layers ${chains.length}` });
      return chains.slice(0, 1);
    },
    async save(req) {
      sent.push({ on: label, what: `save ${req.Id.slice(0, 8)} without ${req.Have.length}` });
      const archive = Readable.from([Buffer.alloc(3000)]);
      return { archive, done: Promise.resolve() };
    },
    async load(req, archive) {
      let bytes = 0;
      for await (const chunk of archive) bytes += (chunk as Buffer).length;
      sent.push({ on: label, what: `load ${req.Image} ${bytes} bytes` });
      images.set(label, [...mine(), { Id: req.Id, RepoTags: [req.Image], Size: 1, Created: 1 }]);
      return { Image: req.Image, Id: req.Id, Layers: [{ DiffId: `sha256:${hex('1')}`, Received: false }, { DiffId: `sha256:${hex('2')}`, Received: true }], Bytes: 2048 };
    },
  };
  return {
    label,
    async call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest): Promise<Res> {
      op.parse(raw);
      sent.push({ on: label, what: op.name === 'install' ? `install ${raw.params.id}` : op.name });
      if (fail) throw new Error(fail);
      if (op.name === 'images') return { Images: mine() } as Res;
      if (op.name === 'install') return { Ports: [], State: undefined } as Res;
      throw new Error(`unexpected ${op.name}`);
    },
    lines: () => (async function* () {})(),
    imagePeer: () => peer,
    close() {},
  };
}

async function gear(args: string[], images: Map<string, ImageListing[]>, failing: Record<string, string> = {}) {
  const sent: Sent[] = [];
  const r = await runCli(args, (label) => recorder(label, images, sent, failing[label]));
  return { sent, ...r };
}

const fleet = () => new Map<string, ImageListing[]>([['', [WEB, APP]], ['10.0.0.2', [WEB]]]);

test('gear images: this host alone (no host column); `local` and agents side by side; --json', async () => {
  const here = await gear(['images'], fleet());
  assert.is(here.code, 0, here.stderr);
  assert.equal(here.sent, [{ on: '', what: 'images' }]);
  assert.is(here.stdout.split('\n')[0], 'IMAGE            ID            SIZE     CREATED');
  const both = await gear(['images', 'local', '10.0.0.2'], fleet());
  assert.is(both.code, 0, both.stderr);
  assert.equal(both.sent.map((s) => s.on).sort(), ['', '10.0.0.2']);
  assert.match(both.stdout, /^myapp:1 +bbbbbbbbbbbb +2\.5 kB +2025-12-02 12:53 +yes +-$/m);
  const json = await gear(['images', '--json', 'local', '10.0.0.2'], fleet());
  assert.equal(JSON.parse(json.stdout), { Hosts: [{ Host: 'local', Images: [WEB, APP] }, { Host: '10.0.0.2', Images: [WEB] }] });
  assert.equal(JSON.parse((await gear(['images', '--json'], fleet())).stdout), { Images: [WEB, APP] });
});

test('gear images: a host that does not answer is one line on stderr, exit 1, "?" in its column', async () => {
  const r = await gear(['images', 'local', '10.0.0.3'], fleet(), { '10.0.0.3': 'connect ECONNREFUSED 10.0.0.3:43273' });
  assert.is(r.code, 1);
  assert.is(r.stderr, 'gear: 10.0.0.3: connect ECONNREFUSED 10.0.0.3:43273\n');
  assert.match(r.stdout, /^test\/web:latest .* yes +\?$/m);
});

test('install --from: the target host lacks the image: inspect, layers, save, load, then install; the transfer said on stdout', async () => {
  const r = await gear(['install', '-q', 'myapp:1', '10.0.0.2/web-1', '10.0.0.2/web-2', '--from', 'local'], fleet());
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', '-q: no progress');
  // One transfer for both containers of the host, before either install.
  const order = r.sent.map((s) => `${s.on || 'local'}: ${s.what}`);
  assert.equal(order.slice(0, 6), ['10.0.0.2: inspect myapp:1', 'local: inspect myapp:1', 'local: inspect myapp:1', '10.0.0.2: layers 2', 'local: save sha256:b without 1', '10.0.0.2: load myapp:1 3000 bytes']);
  assert.equal(order.slice(6).sort(), ['10.0.0.2: install web-1', '10.0.0.2: install web-2']);
  assert.match(r.stdout, /^10\.0\.0\.2: myapp:1 \(sha256:b{64}\) loaded from local: 1 of 2 layers sent \(2048 bytes of layers\), 1 already there; 3000 bytes transferred in /m);
  assert.match(r.stdout, /^10\.0\.0\.2\/web-1 installed$/m);
});

test('install --from: the target host has the image: nothing transferred, the install goes on', async () => {
  const r = await gear(['install', 'test/web:latest', 'web-1', '--from', '10.0.0.2'], fleet());
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.sent, [{ on: '', what: 'inspect test/web:latest' }, { on: '', what: 'install web-1' }]);
  assert.is(r.stdout, 'test/web:latest is there already: nothing transferred\nweb-1 installed\n');
  // Without a tag: the transfer's name is NAME:latest.
  const untagged = await gear(['install', 'test/web', 'web-1', '--from', '10.0.0.2'], fleet());
  assert.is(untagged.code, 0, untagged.stderr);
  assert.is(untagged.sent[0]!.what, 'inspect test/web:latest');
});

test('install --from: the image missing on the peer, or the peer down: one line, exit 1, no install sent', async () => {
  const missing = await gear(['install', 'absent:1', 'web-1', '--from', '10.0.0.2'], fleet());
  assert.is(missing.code, 1);
  assert.is(missing.stderr, 'gear: web-1: image absent:1 is not on 10.0.0.2 (--from) either: nothing installed\n');
  assert.not.ok(missing.sent.some((s) => s.what.startsWith('install')));
  const down = await gear(['install', 'myapp:1', '10.0.0.2/web-1', '--from', '10.0.0.9'], fleet(), { '10.0.0.9': 'connect ECONNREFUSED 10.0.0.9:43273' });
  assert.is(down.code, 1);
  assert.is(down.stderr, 'gear: 10.0.0.2/web-1: image myapp:1 not transferred from 10.0.0.9: connect ECONNREFUSED 10.0.0.9:43273; nothing installed\n');
  assert.not.ok(down.sent.some((s) => s.what.startsWith('install') || s.what.startsWith('load')));
});

test('install --from: bad peer names and digests refused before any request', async () => {
  for (const [args, message] of [
    [['install', 'myapp:1', 'web-1', '--from', 'bad host'], /^gear: host "bad host" must look like HOST\[:PORT\]/],
    [['install', `myapp@sha256:${hex('e')}`, 'web-1', '--from', '10.0.0.2'], /^gear: image "myapp@sha256:e+": name it by NAME\[:TAG\] to transfer it, not by digest\n$/],
  ] as [string[], RegExp][]) {
    const r = await gear(args, fleet());
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.sent, []);
  }
});

test('transfer progress: the start, each layer, and every 5 s while bytes flow the bytes so far and the rate; nothing with -q', () => {
  const lines: string[] = [];
  let t = 1_000_000;
  const progress = reporter('hostB', false, (l) => lines.push(l), () => t);
  progress.start!({ Image: 'app:1', Id: 'sha256:abc', Layers: ['sha256:1', 'sha256:2'] } as never, 1);
  progress.bytes!(1_000_000);
  t += 4_999;
  progress.bytes!(20_000_000);
  t += 1;
  progress.bytes!(50_000_000);
  t += 2_500;
  progress.bytes!(60_000_000);
  t += 2_500;
  progress.bytes!(75_000_000);
  progress.layer!({ index: 1, diffId: 'sha256:2222222222222222222', bytes: 75_000_000, sent: true });
  assert.equal(lines, [
    'hostB: app:1 (sha256:abc): 2 layers, 1 to send\n',
    'hostB: 50.0 MB so far (10.0 MB/s)\n',
    'hostB: 75.0 MB so far (5.0 MB/s)\n',
    'hostB: layer 2/2 sha256:222222222222 sent (75.0 MB); 75.0 MB so far\n',
  ]);
  const quiet: string[] = [];
  const q = reporter('hostB', true, (l) => quiet.push(l), () => t);
  q.bytes?.(1);
  assert.equal(quiet, []);
});

test.run();
