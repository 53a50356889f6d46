import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { extract, pack } from 'tar-stream';
import { packSource, prefixTar, walkSource } from '../../src/host/source-tar.js';
import { BUILD_LABEL, JOB_LABEL, ignoreMatcher, ignoredInTree, isWithin, runLockOf, runOfContainer, runOfUnit, runCommandChange, scriptsDirOf, splitTag, symlinkEscapes } from '../../src/model/oneoff.js';
import { buildImage } from '../../src/operations/build.js';
import { runJob } from '../../src/operations/jobs.js';

const job = (body: unknown) => runJob.parse({ params: {}, query: {}, body });
const build = (body: unknown) => buildImage.parse({ params: {}, query: {}, body });
const throwsWith = (f: () => unknown, message: string) => {
  try {
    f();
  } catch (err) {
    return assert.is((err as Error).message, message);
  }
  assert.unreachable(`no error; wanted: ${message}`);
};

test('symlinks: inside the tree or out of it', () => {
  assert.not.ok(symlinkEscapes('a', 'b'));
  assert.not.ok(symlinkEscapes('sub/a', '../b'));
  assert.not.ok(symlinkEscapes('sub/deeper/a', '../../b/./c'));
  assert.not.ok(symlinkEscapes('a', '.'));
  assert.ok(symlinkEscapes('a', '../b'));
  assert.ok(symlinkEscapes('sub/a', '../../b'));
  assert.ok(symlinkEscapes('sub/a', 'x/../../../b'));
  assert.ok(symlinkEscapes('a', '/etc/passwd'));
  assert.ok(symlinkEscapes('a', ''));
});

test('a builder\'s scripts: its label, image:// only, or /usr/libexec/s2i', () => {
  assert.is(scriptsDirOf(undefined, 'b'), '/usr/libexec/s2i');
  assert.is(scriptsDirOf({ other: 'x' }, 'b'), '/usr/libexec/s2i');
  assert.is(scriptsDirOf({ 'io.openshift.s2i.scripts-url': 'image:///s2i/bin/' }, 'b'), '/s2i/bin');
  throwsWith(
    () => scriptsDirOf({ 'io.openshift.s2i.scripts-url': 'https://example.com/s2i' }, 'b'),
    'builder b: its label io.openshift.s2i.scripts-url="https://example.com/s2i" is not an image:///PATH (the only kind gear supports)',
  );
  throwsWith(() => scriptsDirOf({ 'io.openshift.s2i.scripts-url': 'image:///a/../etc' }, 'b'), 'builder b: its label io.openshift.s2i.scripts-url="image:///a/../etc" is not an image:///PATH (the only kind gear supports)');
  assert.is(runCommandChange('/s2i'), 'CMD ["/s2i/run"]');
});

test('tags: repository and tag apart; directories within a root', () => {
  assert.equal(splitTag('myapp'), { repo: 'myapp', tag: 'latest' });
  assert.equal(splitTag('test/app:1'), { repo: 'test/app', tag: '1' });
  assert.equal(splitTag('localhost:5000/app'), { repo: 'localhost:5000/app', tag: 'latest' });
  assert.equal(splitTag('localhost:5000/app:2'), { repo: 'localhost:5000/app', tag: '2' });
  assert.ok(isWithin('/srv/src', '/srv/src'));
  assert.ok(isWithin('/srv/src/a', '/srv/src'));
  assert.not.ok(isWithin('/srv/srcx', '/srv/src'));
  assert.not.ok(isWithin('/srv', '/srv/src'));
});

test('.s2iignore: gitignore-style patterns', () => {
  const ignored = ignoreMatcher('# comment\n\nnode_modules/\n*.log\n/build\ndocs/**/*.tmp\ncache?/\n[ab].txt\n\\#literal\n  \n');
  const yes: [string, boolean][] = [
    ['node_modules', true],
    ['a/b/node_modules', true],
    ['debug.log', false],
    ['sub/x.log', false],
    ['build', true],
    ['build', false],
    ['docs/x.tmp', false],
    ['docs/a/b/x.tmp', false],
    ['cache1', true],
    ['a.txt', false],
    ['sub/b.txt', false],
    ['#literal', false],
  ];
  const no: [string, boolean][] = [
    ['node_modules', false],
    ['node_modulesx', true],
    ['sub/build', true],
    ['debug.logx', false],
    ['other/x.tmp', false],
    ['cache1', false],
    ['cache12', true],
    ['c.txt', false],
    ['comment', false],
  ];
  for (const [p, dir] of yes) assert.ok(ignored(p, dir), `${p} (dir: ${dir}) should be ignored`);
  for (const [p, dir] of no) assert.not.ok(ignored(p, dir), `${p} (dir: ${dir}) should not be ignored`);
  throwsWith(() => ignoreMatcher('a\n!keep.log'), '.s2iignore line 2: negated patterns ("!keep.log") are not supported');
});

test('POST /jobs bodies: the seed\'s fields, defaults, and refusals', () => {
  assert.equal(job({ Image: 'test/web', Arguments: ['sh', '-c', 'echo hi'], Name: 'seed-request-id' }), { Image: 'test/web', Arguments: ['sh', '-c', 'echo hi'], Timeout: 3600 });
  assert.equal(job({ Image: 'test/web', Command: '/bin/true', Arguments: null, Timeout: 5 }), { Image: 'test/web', Command: '/bin/true', Arguments: [], Timeout: 5 });
  throwsWith(() => job({ Image: 'Bad Image' }), 'image "Bad Image" is not a valid image reference');
  throwsWith(() => job({ Image: 'test/web', Arguments: ['a\0b'] }), 'body/Arguments[0] must not contain a NUL character');
  throwsWith(() => job({ Image: 'test/web', Timeout: 0 }), 'invalid request: body/Timeout must be >= 1');
  throwsWith(() => job({ Image: 'test/web', Timeout: 86_401 }), 'invalid request: body/Timeout must be <= 86400');
  throwsWith(() => job({ Image: 'test/web', Extra: 1 }), 'invalid request: body has an unknown field "Extra"');
});

test('POST /build-image bodies: the seed\'s fields; a directory, a git URL or repo://NAME; Clean and Incremental exclusive', () => {
  assert.equal(build({ BaseImage: 'b', Source: '/srv/src/app', Tag: 'app:1', Clean: true, Verbose: false, RuntimeImage: '' }), {
    BaseImage: 'b',
    Source: '/srv/src/app',
    Tag: 'app:1',
    From: { kind: 'dir' },
    Incremental: false,
    Timeout: 3600,
  });
  assert.equal(build({ BaseImage: 'b', Source: 'git://github.com/x/y#v1', Tag: 't' }).From, { kind: 'url', url: 'git://github.com/x/y', ref: 'v1' });
  assert.equal(build({ BaseImage: 'b', Source: 'repo://r1', Tag: 't' }).From, { kind: 'repo', name: 'r1' });
  throwsWith(() => build({ BaseImage: 'b', Source: 'file:///etc', Tag: 't' }), 'git URL "file:///etc": only http, https and git URLs are accepted');
  throwsWith(() => build({ BaseImage: 'b', Source: 'repo://../x', Tag: 't' }), 'repository name "../x" is not valid');
  throwsWith(() => build({ BaseImage: 'b', Source: 'relative/dir', Tag: 't' }), 'source "relative/dir" must be an absolute path');
  throwsWith(() => build({ BaseImage: 'b', Source: '/srv/../etc', Tag: 't' }), 'source "/srv/../etc" must be normalised (no "//", ".", ".." or trailing "/")');
  throwsWith(() => build({ BaseImage: 'b', Source: '/srv', Tag: 't', Incremental: true, Clean: true }), 'a build cannot be both Incremental and Clean');
  throwsWith(() => build({ BaseImage: 'b', Source: '/srv', Tag: 't@sha256:' + 'a'.repeat(64) }), `tag "t@sha256:${'a'.repeat(64)}" must not name a digest`);
  throwsWith(() => build({ BaseImage: 'b', Source: '/srv', Tag: 't', RuntimeImage: 'r' }), 'invalid request: body/RuntimeImage must be at most 0 characters long');
});

/** Every entry of a tar stream: name, type, content. */
async function entries(tar: Readable): Promise<[string, string, string][]> {
  const out: [string, string, string][] = [];
  const x = extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, stream, next) => {
      let body = '';
      stream.on('data', (c) => (body += String(c)));
      stream.on('end', () => {
        out.push([h.name, h.type ?? '', h.type === 'symlink' ? `-> ${h.linkname}` : body]);
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
    tar.on('error', reject);
  });
  tar.pipe(x);
  await done;
  return out;
}

test('a source tree: walked (symlinks checked, odd files refused) and packed under src/ as it is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gear-src-'));
  try {
    mkdirSync(join(dir, 'app/sub'), { recursive: true });
    writeFileSync(join(dir, 'app/index.html'), 'hello\n');
    writeFileSync(join(dir, 'app/sub/b.txt'), 'b\n');
    symlinkSync('../index.html', join(dir, 'app/sub/link'));
    const list = await walkSource(join(dir, 'app'));
    assert.equal(list.map((e) => [e.path, e.type]), [['index.html', 'file'], ['sub', 'directory'], ['sub/b.txt', 'file'], ['sub/link', 'symlink']]);
    const tar = packSource(join(dir, 'app'), list, 'src', { uid: 1001, gid: 1001 });
    assert.equal(await entries(tar), [
      ['src/', 'directory', ''],
      ['src/index.html', 'file', 'hello\n'],
      ['src/sub', 'directory', ''],
      ['src/sub/b.txt', 'file', 'b\n'],
      ['src/sub/link', 'symlink', '-> ../index.html'],
    ]);
    symlinkSync('../../../etc/passwd', join(dir, 'app/sub/out'));
    await walkSource(join(dir, 'app')).then(
      () => assert.unreachable('walked'),
      (err: Error) => assert.is(err.message, 'source: the symlink "sub/out" points out of the source tree (to "../../../etc/passwd")'),
    );
    // Ignored directories are not walked: their symlinks do not matter; ignored files are left out.
    writeFileSync(join(dir, 'app/.s2iignore'), 'sub/\n*.log\n');
    writeFileSync(join(dir, 'app/x.log'), 'log\n');
    assert.equal((await walkSource(join(dir, 'app'))).map((e) => e.path), ['.s2iignore', 'index.html']);
    rmSync(join(dir, 'app/.s2iignore'));
    rmSync(join(dir, 'app/x.log'));
    rmSync(join(dir, 'app/sub/out'));
    execFileSync('mkfifo', [join(dir, 'app/pipe')]);
    await walkSource(join(dir, 'app')).then(
      () => assert.unreachable('walked'),
      (err: Error) => assert.is(err.message, 'source: "pipe" is not a file, a directory or a symlink'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('save-artifacts output moved under artifacts/; a climbing name fails the stream', async () => {
  const make = (names: string[]) => {
    const p = pack();
    for (const n of names) p.entry({ name: n }, 'x');
    p.finalize();
    return p as unknown as Readable;
  };
  assert.equal(await entries(prefixTar(make(['./count', 'deps/a']), 'artifacts')), [
    ['artifacts/', 'directory', ''],
    ['artifacts/count', 'file', 'x'],
    ['artifacts/deps/a', 'file', 'x'],
  ]);
  await entries(prefixTar(make(['ok', '../escape']), 'artifacts')).then(
    () => assert.unreachable('passed'),
    (err: Error) => assert.match(err.message, /save-artifacts: the entry "..\/escape" climbs out of the artifacts|premature|destroyed/),
  );
});

test('a git tree\'s .s2iignore: an entry is left out when it or a directory above it is ignored, and its symlinks are not checked', async () => {
  const ignored = ignoredInTree(ignoreMatcher('node_modules/\n*.log\n/build\n'));
  assert.ok(ignored('node_modules', true));
  assert.ok(ignored('node_modules/dep/big.js', false));
  assert.ok(ignored('sub/node_modules/x', false));
  assert.ok(ignored('debug.log', false));
  assert.ok(ignored('build/out', false));
  assert.not.ok(ignored('sub/build/out', false));
  assert.not.ok(ignored('node_modules', false)); // a file of that name: the pattern names directories
  assert.not.ok(ignored('index.html', false));
  const p = pack();
  p.entry({ name: 'index.html' }, 'x');
  p.entry({ name: 'node_modules/', type: 'directory' });
  p.entry({ name: 'node_modules/out', type: 'symlink', linkname: '/etc/passwd' });
  p.entry({ name: 'debug.log' }, 'y');
  p.finalize();
  assert.equal(await entries(prefixTar(p as unknown as Readable, 'src', { source: true, ignored })), [
    ['src/', 'directory', ''],
    ['src/index.html', 'file', 'x'],
  ]);
});

test('a run\'s containers and units: label and name must agree; anything else is not gear\'s', () => {
  const id = '0123456789ab';
  assert.equal(runOfContainer(`gear-job-${id}`, { [JOB_LABEL]: id }), { kind: 'job', id });
  assert.equal(runOfContainer(`gear-build-${id}`, { [BUILD_LABEL]: id }), { kind: 'build', id });
  assert.equal(runOfContainer(`gear-build-${id}-artifacts`, { [BUILD_LABEL]: id }), { kind: 'build', id });
  // A built image's containers carry its build's label under other names; a name without the label; odd ids.
  assert.is(runOfContainer('ctr-app-1', { [BUILD_LABEL]: id }), undefined);
  assert.is(runOfContainer(`gear-job-${id}`, { [BUILD_LABEL]: id }), undefined);
  assert.is(runOfContainer(`gear-job-${id}`, {}), undefined);
  assert.is(runOfContainer(`gear-job-${id}-artifacts`, { [JOB_LABEL]: id }), undefined);
  assert.is(runOfContainer('gear-job-../../x', { [JOB_LABEL]: '../../x' }), undefined);
  assert.is(runOfContainer('gear-job-0123456789AB', { [JOB_LABEL]: '0123456789AB' }), undefined);
  assert.is(runOfContainer(`gear-job-${id}`, { [JOB_LABEL]: `${id}0` }), undefined);
  assert.equal(runOfUnit(`gear-build-${id}.service`), { kind: 'build', id });
  assert.is(runOfUnit(`gear-build-${id}.scope`), undefined);
  assert.is(runOfUnit('gear-job-x.service'), undefined);
  assert.is(runLockOf('job', id), `@gear-job-${id}`);
});

test.run();
