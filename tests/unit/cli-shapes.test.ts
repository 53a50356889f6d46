import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Command } from 'commander';
import { Cli } from '../../src/cli/cli.js';

/** What a function wrote to stderr. */
async function stderrOf(f: () => Promise<unknown>): Promise<string> {
  const write = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stderr.write;
  try {
    await f();
  } finally {
    process.stderr.write = write;
  }
  return text;
}

test('one request per container: every locator resolved first; one bad one and nothing runs', async () => {
  const cli = new Cli(new Command());
  const ran: string[] = [];
  const err = await stderrOf(() => cli.eachTarget(['web-1', 'a b', 'web-2'], async (t) => void ran.push(t.name)));
  assert.equal(ran, []);
  assert.is(err, 'gear: "a b": container name "a b" is not valid (use letters, digits, "_", "." and "-", starting with a letter or digit)\n');
  assert.is(cli.failures, 1);
});

test('one request per container: all run, each failure on its own line', async () => {
  const cli = new Cli(new Command());
  const ran: string[] = [];
  const err = await stderrOf(() =>
    cli.eachTarget(['web-1', 'web-2', 'web-3'], async (t) => {
      ran.push(t.name);
      if (t.name === 'web-2') throw new Error('boom');
    }),
  );
  assert.equal(ran.sort(), ['web-1', 'web-2', 'web-3']);
  assert.is(err, 'gear: web-2: boom\n');
  assert.is(cli.failures, 1);
});

test('one request per host: all hosts at once, results in the order named, a failing host reported and skipped', async () => {
  const cli = new Cli(new Command());
  let results: (string | undefined)[] = [];
  const err = await stderrOf(async () => {
    results = await cli.eachHost(
      ['a', 'b', 'c'],
      (h) => `host-${h}`,
      async (h) => {
        await new Promise((r) => setTimeout(r, h === 'a' ? 20 : 0));
        if (h === 'b') throw new Error('unreachable');
        return h.toUpperCase();
      },
    );
  });
  assert.equal(results, ['A', undefined, 'C']);
  assert.is(err, 'gear: host-b: unreachable\n');
  assert.is(cli.failures, 1);
});

test('agents named as HOST[:PORT]: a bad one is reported under its own name, the others still asked', async () => {
  const cli = new Cli(new Command());
  const asked: string[] = [];
  const err = await stderrOf(() => cli.eachServer(['10.0.0.2:43273', 'bad host'], async (backend) => void asked.push(backend.label)));
  assert.equal(asked, ['10.0.0.2:43273']);
  assert.match(err, /^gear: "bad host": host "bad host" must look like HOST\[:PORT\]/);
});

test.run();
