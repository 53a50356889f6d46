import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { gearBin } from '../host/self.js';
import { parseForcedCommand, parseGitCommand, sshTarget } from '../model/ssh.js';

/**
 * gear as the login shell of ctr-* and repo-* users: sshd runs
 * `SHELL -c FORCED-COMMAND`, FORCED-COMMAND being what gear's
 * authorized_keys line says (`ssh-serve repo NAME read|write`, `ssh-serve
 * ctr NAME`); the client's own command is in SSH_ORIGINAL_COMMAND. Nothing
 * else runs: the forced command must name this very login's repository or
 * container, a repository login runs one of git's three services on its
 * own repository (its home), a container login enters its container
 * through sudo (gear ssh-enter checks the caller again, as root).
 */
export async function loginShell(args: string[]): Promise<number> {
  const say = (m: string) => void process.stderr.write(`gear: ${m}\n`);
  const forced = args[0] === '-c' && args.length === 2 ? parseForcedCommand(args[1]!) : undefined;
  const me = userInfo();
  const target = sshTarget(me.username);
  if (!forced || !target || forced.kind !== target.kind || forced.name !== target.name) {
    say('this login runs only what its key allows');
    return 1;
  }
  const original = process.env.SSH_ORIGINAL_COMMAND;
  let argv: string[];
  if (forced.kind === 'repo') {
    try {
      argv = [parseGitCommand(original, forced.access).verb, me.homedir];
    } catch (err) {
      say((err as Error).message);
      return 1;
    }
  } else {
    argv = ['sudo', '-n', gearBin(), 'ssh-enter', ...(original ? ['--', original] : [])];
  }
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.on('error', (err) => {
      say(`cannot run ${argv[0]}: ${err.message}`);
      resolve(1);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}
