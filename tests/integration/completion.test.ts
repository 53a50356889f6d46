import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEAR, REPO, TEST_HOST as A, gear, hostIp, remoteAgents, run, sh } from './harness.js';

// Shell completion and the man page, generated from the program's own
// definitions, loaded in real shells inside test host A: bash (its
// completion function called as bash calls it), fish (`complete -C`, fish's
// own completion engine), zsh (its line editor on a pseudo-terminal, zpty:
// the line typed, then Tab). Container names come from `gear list-units` of
// host A, and of agent B when the word names it (token over TLS).
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const ipB = hostIp(B);
const agents = remoteAgents([A, B], 'completion-token-0123456789abcdef');
const BIN = GEAR.slice(0, GEAR.lastIndexOf('/'));
/** What a user's shell in host A has: gear on PATH, an agent to complete ($GEAR_HOSTS), the token and CA to reach it. */
const ENV = { PATH: `${BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, GEAR_HOSTS: ipB, GEAR_TOKEN_FILE: '/root/gear.token', GEAR_CA: '/root/gear-cert.pem', HOME: '/root' };

test.before(async () => {
  await agents.start();
  const r = await gear(A, ['install', 'test/web', 'comp-web-1', 'comp-web-2']);
  assert.is(r.code, 0, r.stderr);
  const far = await agents.cli(['install', 'test/web', `${ipB}/comp-far-1`]);
  assert.is(far.code, 0, far.stderr);
  await sh(A, 'rm -rf /root/comp && mkdir -p /root/comp && echo {} > /root/comp/app.json');
  for (const shell of ['bash', 'zsh', 'fish']) await sh(A, `${GEAR} completion ${shell} > /root/comp/gear.${shell}`);
});

test.after(async () => {
  await gear(A, ['delete', 'comp-web-1', 'comp-web-2']);
  await agents.cli(['delete', `${ipB}/comp-far-1`]);
  await agents.stop();
});

// bash: COMP_LINE/COMP_POINT as typed, COMP_WORDS split as bash splits them (at blanks, and ':' a word of its own).
const BASH_DRIVER = [
  'source /root/comp/gear.bash',
  'cd /root/comp',
  'while IFS= read -r line; do',
  '  COMP_LINE=$line; COMP_POINT=${#line}',
  '  read -ra COMP_WORDS <<<"${line//:/ : }"',
  "  [[ $line == *' ' ]] && COMP_WORDS+=(\"\")",
  '  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
  '  COMPREPLY=()',
  '  _gear',
  "  printf '%s\\n' \"$(printf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' ' | sed 's/ $//')\"",
  'done',
].join('\n');

/** What bash's completion offers for each line (the words, sorted, space-separated). */
async function bashComplete(...lines: string[]): Promise<string[]> {
  const r = await run(A, ['bash', '-c', BASH_DRIVER], { input: `${lines.join('\n')}\n`, env: ENV });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  return r.stdout.split('\n').slice(0, lines.length);
}

/** The commands `gear --help` lists. */
async function helpCommands(): Promise<string[]> {
  const help = (await gear(A, ['--help'])).stdout;
  return help
    .slice(help.indexOf('Commands:'))
    .split('\n')
    .slice(1)
    .map((l) => /^  ([a-z-]+)/.exec(l)?.[1])
    .filter((c): c is string => !!c);
}

test('bash: every command of --help, flags of the command, option values, argument kinds by position', async () => {
  const commands = await helpCommands();
  assert.ok(commands.includes('doctor') && commands.includes('completion') && commands.length > 20, commands.join(' '));
  const [all, st, mem, wait, token, global, deploy, image, shells, helpSt] = await bashComplete(
    'gear ',
    'gear st',
    'gear install --mem',
    'gear install test/web x --wait ',
    'gear --token-file /root/gear.to',
    'gear --tok',
    'gear deploy ',
    'gear install comp',
    'gear completion ',
    'gear help st',
  );
  assert.equal(all!.split(' '), [...commands].sort());
  assert.is(st, 'start status stop');
  assert.is(mem, '--memory');
  assert.is(wait, 'healthy started');
  assert.is(token, '/root/gear.token');
  assert.is(global, '--token-file');
  assert.match(deploy!, /(^| )app\.json( |$)/);
  assert.is(image, '', 'the first argument of install is an image: no container names');
  assert.is(shells, 'bash fish zsh');
  assert.is(helpSt, 'start status stop');
});

test("bash: container names from gear list-units, here and on an agent (HOST/ and HOST:PORT/); hosts from $GEAR_HOSTS", async () => {
  const [here, second, far, farPort, hosts, none] = await bashComplete(
    'gear stop comp-',
    'gear install test/web comp-web-',
    `gear start ${ipB}/comp-`,
    `gear status ${ipB}:43273/comp-`,
    `gear list-units ${ipB.slice(0, -1)}`,
    'gear stop nothing-like-this-',
  );
  assert.is(here, 'comp-web-1 comp-web-2');
  assert.is(second, 'comp-web-1 comp-web-2');
  assert.is(far, `${ipB}/comp-far-1`);
  // bash replaces only what follows the ':' (its word break): the reply starts there.
  assert.is(farPort, '43273/comp-far-1');
  assert.match(hosts!, new RegExp(`(^| )${ipB.replace(/\./g, '\\.')}( |$)`));
  assert.is(none, '');
});

/** fish's own completion of a command line: the candidates, without descriptions. */
async function fishComplete(line: string): Promise<string[]> {
  const r = await run(A, ['fish', '-c', `source /root/comp/gear.fish; cd /root/comp; complete -C '${line}'`], { env: ENV });
  assert.is(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]!);
}

test('fish: commands, flags, option values and container names through fish\'s completion engine', async () => {
  assert.ok((await run(A, ['fish', '--no-execute', '/root/comp/gear.fish'])).code === 0);
  const st = await fishComplete('gear st');
  assert.equal(st.sort(), ['start', 'status', 'stop']);
  assert.equal(await fishComplete('gear install --mem'), ['--memory']);
  assert.equal((await fishComplete('gear install x y --wait ')).sort(), ['healthy', 'started']);
  assert.equal((await fishComplete('gear stop comp-')).sort(), ['comp-web-1', 'comp-web-2']);
  assert.equal(await fishComplete(`gear start ${ipB}/comp-`), [`${ipB}/comp-far-1`]);
  assert.equal((await fishComplete('gear completion ')).sort(), ['bash', 'fish', 'zsh']);
});

test('zsh: the script parses, registers itself as the completion of gear (compinit), and completes in a real zsh line editor', async () => {
  const syntax = await run(A, ['zsh', '-n', '/root/comp/gear.zsh']);
  assert.is(syntax.code, 0, syntax.stderr);
  const loaded = await run(A, ['zsh', '-fc', 'autoload -U compinit && compinit -u -D && source /root/comp/gear.zsh && print -r -- $_comps[gear] && whence -w _gear_containers'], { env: ENV });
  assert.is(loaded.code, 0, loaded.stderr);
  assert.is(loaded.stdout, '_gear\n_gear_containers: function\n');
  // zsh's own completion, in an interactive zsh on a pseudo-terminal (tests/fixtures/zsh-complete.zsh): the line, then Tab.
  const zsh = async (line: string) => {
    const r = await run(A, ['sh', '-c', `cd /root/comp && exec zsh -f ${REPO}/tests/fixtures/zsh-complete.zsh /root/comp/gear.zsh "$0"`, line], { env: ENV, timeoutMs: 60_000 });
    assert.is(r.code, 0, r.stderr);
    return [...new Set(r.stdout.split('\n').filter(Boolean))].sort();
  };
  assert.equal(await zsh('gear st'), ['start', 'status', 'stop']);
  assert.equal(await zsh('gear install --mem'), ['--memory']);
  assert.equal(await zsh('gear install x y --wait '), ['healthy', 'started']);
  assert.equal(await zsh('gear stop comp-'), ['comp-web-1', 'comp-web-2']);
  assert.equal(await zsh(`gear start ${ipB}/comp-`), [`${ipB}/comp-far-1`]);
  // Every command is offered, with its description.
  const text = await sh(A, 'cat /root/comp/gear.zsh');
  for (const c of await helpCommands()) assert.match(text, new RegExp(`^    '${c}:`, 'm'), c);
});

test('the man page: valid roff (groff warns of nothing), every command a section with its flags; bad shell names refused', async () => {
  const page = await gear(A, ['man']);
  assert.is(page.code, 0, page.stderr);
  assert.match(page.stdout, /^\.\\" Generated by `gear man`/);
  const check = await run(A, ['sh', '-c', 'gear man | groff -man -Tutf8 -ww -z'], { env: ENV });
  assert.is(check.code, 0);
  assert.is(check.stderr, '', 'groff has no warning');
  const text = (await run(A, ['sh', '-c', 'gear man > /root/comp/gear.1 && MANWIDTH=200 man -l /root/comp/gear.1 | col -b'], { env: ENV })).stdout;
  for (const c of await helpCommands()) if (c !== 'help') assert.match(text, new RegExp(`^   gear ${c}$`, 'm'), `section for ${c}`);
  assert.match(text, /^ {7}--memory <size>$/m);
  const bad = await gear(A, ['completion', 'ksh']);
  assert.is(bad.code, 2);
  assert.is(bad.stdout, '');
  assert.match(bad.stderr, /^error: command-argument value 'ksh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish\.\n$/);
});

test.run();
