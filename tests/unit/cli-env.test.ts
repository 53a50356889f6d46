import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Command } from 'commander';
import { Cli } from '../../src/cli/cli.js';
import * as install from '../../src/cli/commands/install.js';
import * as setEnv from '../../src/cli/commands/set-env.js';
import type { Backends } from '../../src/cli/backend.js';
import { parseLocator } from '../../src/model/address.js';
import type { Operation, RawRequest } from '../../src/operations/index.js';

// The env flags of `gear install` and `gear set-env`, parsed to the requests
// they send (each also passes the operation's parse, as on every path).

interface Sent {
  op: string;
  target: string;
  raw: RawRequest;
}

async function run(...argv: string[]): Promise<{ sent: Sent[]; stderr: string; failures: number; thrown?: string }> {
  const program = new Command('gear').exitOverride();
  const cli = new Cli(program);
  const sent: Sent[] = [];
  const fake = {
    target: (text: string) => ({
      name: parseLocator(text).name,
      display: text,
      backend: {
        label: '',
        call: async (op: Operation<unknown, unknown>, raw: RawRequest) => {
          op.parse(raw);
          sent.push({ op: op.name, target: text, raw });
          return op.name === 'install' ? { Id: text, Ports: [] } : { Id: text, Variables: [], Readers: text === 'shared' ? [] : [text] };
        },
      },
    }),
  } as unknown as Backends;
  cli.backends = () => fake;
  for (const c of [install, setEnv]) c.register(program, cli);
  const write = process.stderr.write.bind(process.stderr);
  const out = process.stdout.write.bind(process.stdout);
  let stderr = '';
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  let thrown: string | undefined;
  try {
    await program.parseAsync(['node', 'gear', ...argv]);
  } catch (err) {
    thrown = (err as Error).message;
  } finally {
    process.stderr.write = write;
    process.stdout.write = out;
  }
  return { sent, stderr, failures: cli.failures, thrown };
}

const dir = mkdtempSync(join(tmpdir(), 'gear-cli-env-'));
const SIMPLE = join(dir, 'simple.env');
writeFileSync(SIMPLE, 'TEST=value\nOTHER=1\nQUOTED=\\"foo\\"\nIGNORED\n');
const BAD = join(dir, 'bad.env');
writeFileSync(BAD, 'A=1\nB C=secret-value\n');

test('install --env-id, --env-file --env-format geard: the seed rules, the shared id in the body', async () => {
  const r = await run('install', 'test/web', 'web-1', 'web-2', '--env-id', 'shared', '--env-file', SIMPLE, '--env-format', 'geard', '-e', 'OTHER=2');
  assert.is(r.thrown, undefined);
  assert.equal(r.sent.map((s) => s.target), ['web-1', 'web-2']);
  assert.equal((r.sent[0]!.raw.body as { Environment: unknown }).Environment, {
    Variables: [
      { Name: 'TEST', Value: 'value' },
      { Name: 'OTHER', Value: '2' },
      { Name: 'QUOTED', Value: '\\"foo\\"' },
    ],
    Id: 'shared',
  });
});

test('install --env-file: gear strict rules by default; a bad format is refused', async () => {
  const strict = await run('install', 'test/web', 'web-1', '--env-file', SIMPLE);
  assert.match(strict.thrown ?? strict.stderr, /line 4: "IGNORED" must look like NAME=VALUE/);
  assert.equal(strict.sent, []);
  const bad = await run('install', 'test/web', 'web-1', '--env-file', SIMPLE, '--env-format', 'dotenv');
  assert.match(bad.thrown ?? bad.stderr, /--env-format must be strict or geard, not "dotenv"/);
  assert.equal(bad.sent, []);
});

test('--env-format geard warns of each line it skips, by number, never with its value', async () => {
  const r = await run('install', 'test/web', 'web-1', '--env-file', BAD, '--env-format', 'geard');
  assert.match(r.stderr, /bad\.env, line 2 skipped: the name has white space/);
  assert.not.match(r.stderr, /secret-value/);
  assert.equal((r.sent[0]!.raw.body as { Environment: unknown }).Environment, { Variables: [{ Name: 'A', Value: '1' }] });
});

test('install --env-url: Source in the body, nothing fetched by the CLI; not with -e or --env-file', async () => {
  const r = await run('install', 'test/web', 'web-1', '--env-url', 'http://10.0.0.1/app.env');
  assert.equal((r.sent[0]!.raw.body as { Environment: unknown }).Environment, { Variables: [], Source: 'http://10.0.0.1/app.env' });
  const both = await run('install', 'test/web', 'web-1', '--env-url', 'http://10.0.0.1/app.env', '-e', 'A=1');
  const positional = await run('install', 'test/web', 'web-1', '--env-url', 'http://10.0.0.1/app.env', 'A=1');
  assert.match(positional.thrown ?? positional.stderr, /--env-url cannot be combined with -e, NAME=VALUE or --env-file/);
  assert.match(both.thrown ?? both.stderr, /--env-url cannot be combined with -e, NAME=VALUE or --env-file/);
  assert.equal(both.sent, []);
  const file = await run('install', 'test/web', 'web-1', '--env-url', 'file:///etc/shadow');
  assert.match(file.stderr, /Environment.Source must be an http:\/\/ or https:\/\/ URL, not file:/);
  assert.equal(file.sent, []);
});

test('set-env ID... NAME=VALUE...: every id gets the same PATCH; --reset PUTs; --env-file first, arguments after', async () => {
  const r = await run('set-env', 'web-1', 'A=1', 'shared', 'B=x=y', '--env-file', SIMPLE, '--env-format', 'geard');
  assert.is(r.thrown, undefined);
  assert.equal(r.sent.map((s) => [s.op, s.target]), [['set-env', 'web-1'], ['set-env', 'shared']]);
  assert.equal(r.sent[0]!.raw.body, {
    Variables: [
      { Name: 'TEST', Value: 'value' },
      { Name: 'OTHER', Value: '1' },
      { Name: 'QUOTED', Value: '\\"foo\\"' },
      { Name: 'A', Value: '1' },
      { Name: 'B', Value: 'x=y' },
    ],
  });
  assert.match(r.stderr, /^gear: shared: environment shared is set; no container reads it yet \(install with --env-id shared\)\n$/);
  const reset = await run('set-env', 'shared', '--reset');
  assert.equal(reset.sent.map((s) => [s.op, s.raw.body]), [['set-env-reset', { Variables: [] }]]);
  const url = await run('set-env', 'shared', '--reset', '--env-url', 'https://cfg.example/app.env');
  assert.equal(url.sent.map((s) => [s.op, s.raw.body]), [['set-env-reset', { Source: 'https://cfg.example/app.env' }]]);
});

test('set-env refuses what it cannot do, sending nothing', async () => {
  for (const [argv, why] of [
    [['set-env', 'web-1'], /nothing to set/],
    [['set-env', 'A=1'], /name at least one environment/],
    [['set-env', 'web-1', '--env-url', 'http://x/e'], /--env-url replaces the environment: add --reset/],
    [['set-env', 'web-1', '--reset', '--env-url', 'http://x/e', 'A=1'], /cannot be combined with variables/],
    [['set-env', 'web-1', '1A=x'], /"1A" is not valid/],
    [['set-env', 'web-1', '--env-file', SIMPLE], /line 4: "IGNORED" must look like NAME=VALUE/],
    [['set-env', 'a b', 'A=1'], /container name "a b" is not valid/],
  ] as const) {
    const r = await run(...argv);
    assert.match(r.thrown ?? r.stderr, why, argv.join(' '));
    assert.equal(r.sent, [], argv.join(' '));
  }
});

test.run();
