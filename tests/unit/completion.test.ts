import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProgram } from '../../src/cli/program.js';
import { bashScript } from '../../src/cli/completion/bash.js';
import { fishScript } from '../../src/cli/completion/fish.js';
import { manPage } from '../../src/cli/completion/man.js';
import { programSpec } from '../../src/cli/completion/spec.js';
import { zshScript } from '../../src/cli/completion/zsh.js';

const spec = programSpec(makeProgram().program);
const command = (name: string) => spec.commands.find((c) => c.name === name)!;
const option = (cmd: string, long: string) => command(cmd).options.find((o) => o.long === long)!;

test('the spec is read from the program: every command, its arguments by kind, option values by kind', () => {
  const names = makeProgram().program.commands.map((c) => c.name());
  // apply-links and ssh-enter are hidden (units and sudo run them): not offered, as --help does not list them.
  assert.equal(spec.commands.map((c) => c.name), names.filter((n) => n !== 'apply-links' && n !== 'ssh-enter'));
  assert.ok(names.includes('apply-links'));
  assert.equal(command('install').args.map((a) => [a.name, a.kind, a.variadic]), [['image', 'none', false], ['targets', 'container', true]]);
  assert.equal(command('deploy').args.map((a) => a.kind), ['file', 'host']);
  assert.equal(command('list-units').args.map((a) => a.kind), ['host']);
  assert.equal(command('pull-image').args.map((a) => a.kind), ['host']);
  assert.equal(command('build').args.map((a) => a.kind), ['file', 'none', 'none']);
  assert.equal(command('completion').args[0]!.kind, { words: ['bash', 'zsh', 'fish'] });
  assert.is(option('install', '--env-file').kind, 'file');
  assert.is(option('install', '--from').kind, 'host');
  assert.is(option('install', '--after').kind, 'container');
  assert.equal(option('install', '--wait').kind, { words: ['started', 'healthy'] });
  assert.is(option('install', '--start').kind, 'none');
  assert.is(option('install', '--start').value, undefined);
  assert.is(spec.options.find((o) => o.long === '--token-file')!.kind, 'file');
});

test('each generator names every command, and quotes what the shell would read', () => {
  const scripts = [bashScript(spec), zshScript(spec), fishScript(spec)];
  for (const s of scripts) for (const c of spec.commands) assert.ok(s.includes(c.name), c.name);
  // roff spells a hyphen \-.
  for (const c of spec.commands) assert.ok(manPage(spec).includes(`.SS gear ${c.name.replace(/-/g, '\\-')}\n`), c.name);
  // A description with a quote, brackets and a colon reaches zsh and fish escaped.
  const odd = { ...spec, commands: [{ name: 'x', description: "it's [odd]: yes", options: [{ flags: '--y <file>', long: '--y', value: '<file>', kind: 'file' as const, description: "a 'b' [c]: d" }], args: [] }] };
  assert.match(zshScript(odd), /'x:it'\\''s \[odd\]\\: yes'/);
  assert.match(zshScript(odd), /'--y\[a '\\''b'\\'' \\\[c\\\]\\: d\]:file:_files'/);
  assert.match(fishScript(odd), /-a x -d 'it\\'s \[odd\]: yes'/);
  assert.match(manPage(odd), /^\.B \\-\\-y <file>$/m);
});

test.run();
