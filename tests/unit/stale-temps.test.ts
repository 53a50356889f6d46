import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostFs } from '../../src/host/fs.js';
import { writerTag } from '../../src/host/writer-tag.js';

test("temp files: a killed writer's is removed at once (its name says it is gone), a live writer's only once old, an untagged one by age", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gear-temps-'));
  try {
    const fs = new HostFs(dir);
    const gone = '.999999999-1-0123456789ab.tmp'; // no such pid
    const mine = `.${writerTag()}-0123456789ab.tmp`;
    const untagged = '.0123456789ab.tmp';
    const oldUntagged = '.abcdef012345.tmp';
    for (const f of [gone, mine, untagged, oldUntagged, 'web.json']) writeFileSync(join(dir, f), '{}');
    const twoMinutesAgo = Date.now() / 1000 - 120;
    utimesSync(join(dir, oldUntagged), twoMinutesAgo, twoMinutesAgo);
    assert.equal((await fs.removeStaleTemps('/', 60_000, true)).sort(), [`//${gone}`, `//${oldUntagged}`].sort(), 'dry run lists');
    assert.is(readdirSync(dir).length, 5, 'a dry run removes nothing');
    await fs.removeStaleTemps('/', 60_000);
    assert.equal(readdirSync(dir).sort(), [mine, untagged, 'web.json'].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
