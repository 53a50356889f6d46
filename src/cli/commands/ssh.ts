import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { runCaptured } from '../../host/exec.js';
import { gearBin } from '../../host/self.js';
import { failed, invalid, notFound } from '../../model/errors.js';
import { hostUserComment, userDbEntry } from '../../model/isolation.js';
import { containerNameOf } from '../../model/names.js';
import type { Cli } from '../cli.js';

/** This host's parts, loaded when a command here runs, not with the command line's declarations (docs/decisions.md). */
async function thisHost(cli: Cli) {
  const { Host, configFromEnv } = await cli.load();
  return new Host(configFromEnv());
}

const SSHD_CONFIG = '/etc/ssh/sshd_config';
const SUDOERS = '/etc/sudoers.d/gear-ssh';

/** The sudoers rule that lets a container's login (any user: `gear ssh-enter` itself checks who called) enter its container. */
const sudoersText = (bin: string) =>
  `# gear ssh-setup: a container's SSH login (ctr-NAME) enters its own container; gear ssh-enter reads the caller from SUDO_UID.\nALL ALL=(root) NOPASSWD: ${bin} ssh-enter *\n`;

/**
 * `gear auth-keys-command USER` (sshd's AuthorizedKeysCommand, run as root),
 * `gear ssh-setup [--remove]`, and `gear ssh-enter` (a container login's
 * way in, through sudo). The login shell is in cli/ssh-login.ts. Why it
 * is safe: docs/decisions.md ("SSH").
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('auth-keys-command')
    .description("print the authorized_keys lines of a login for sshd's AuthorizedKeysCommand (ctr-NAME, repo-NAME: gear's keys with a forced command and no forwarding; any other user: none)")
    .argument('<user>', 'the login name sshd asks about (%u)')
    .action(async (user: string) => {
      const target = cli.runtime.sshTarget(user);
      if (!target) return;
      const host = await thisHost(cli);
      // Only gear's user of a container that is installed, or of a repository that exists.
      const entry = userDbEntry(await host.fs.read('/etc/passwd'), user);
      if (target.kind === 'repo') {
        if (entry?.comment !== cli.runtime.repoUserComment(target.name)) return;
        const { requireRepo } = await cli.load();
        if (!(await requireRepo(host, target.name).then(() => true, () => false))) return;
      } else {
        if (entry?.comment !== hostUserComment(target.name)) return;
        if (!(await host.store.read(target.name).catch(() => undefined))) return;
      }
      for (const k of await host.keys.of(user)) cli.print(`${cli.runtime.authorizedKeysLine(k, target.kind, target.name, k.access)}\n`);
    });

  program
    .command('ssh-setup')
    .description("make this host's sshd ask gear for the keys of ctr-* and repo-* logins: shows and appends a Match block to /etc/ssh/sshd_config (checked with sshd -t), and a sudoers rule for container logins; reload sshd after")
    .option('--remove', 'take those lines out again')
    .action(async (o: { remove?: boolean }) => {
      const host = await thisHost(cli);
      const config = await host.fs.read(SSHD_CONFIG);
      if (config === undefined) throw notFound(`${SSHD_CONFIG} does not exist (is openssh-server installed?)`);
      const mode = (await fsp.stat(host.fs.local(SSHD_CONFIG))).mode & 0o7777;
      const without = cli.runtime.withoutSshdBlock(config);
      if (o.remove) {
        if (without === config) cli.print(`${SSHD_CONFIG} has no lines of gear's\n`);
        else {
          await host.fs.writeAtomic(SSHD_CONFIG, without, mode);
          cli.print(`removed from ${SSHD_CONFIG}:\n${config.slice(config.indexOf(cli.runtime.SSHD_BEGIN)).split('\n').slice(0, cli.runtime.sshdBlock('').length).join('\n')}\n`);
        }
        if (await host.fs.exists(SUDOERS)) {
          await host.fs.remove(SUDOERS);
          cli.print(`removed ${SUDOERS}\n`);
        }
        cli.print('reload sshd now (systemctl reload ssh)\n');
        return;
      }
      const bin = gearBin();
      const block = cli.runtime.sshdBlock(bin);
      const next = `${without.replace(/\n*$/, '\n')}\n${block.join('\n')}\n`;
      // sshd checks the new file before it replaces the old one; a bad one changes nothing.
      const temp = `${host.fs.local(SSHD_CONFIG)}.gear-check`;
      await fsp.writeFile(temp, next, { mode: 0o600 });
      try {
        const check = await runCaptured(['sshd', '-t', '-f', temp], { timeoutMs: 30_000 });
        if (check.code !== 0) throw failed(`sshd -t refuses the new configuration: ${(check.stderr || check.stdout).trim().split('\n')[0]}`);
      } finally {
        await fsp.rm(temp, { force: true });
      }
      await fsp.mkdir(host.fs.local('/etc/sudoers.d'), { recursive: true, mode: 0o750 });
      await host.fs.writeAtomic(SUDOERS, sudoersText(bin), 0o440);
      if (next !== config) await host.fs.writeAtomic(SSHD_CONFIG, next, mode);
      cli.print(`${next === config ? 'already in' : 'added to'} ${SSHD_CONFIG}:\n${block.join('\n')}\n${SUDOERS}:\n${sudoersText(bin)}reload sshd now (systemctl reload ssh)\n`);
    });

  program
    .command('ssh-enter', { hidden: true })
    .description("(run by a container's login shell through sudo) run COMMAND, or a shell, inside the caller's own container")
    .argument('[command]', 'what the SSH client asked to run')
    .action(async (command: string | undefined) => {
      cli.exitCode = await sshEnter(cli, command);
    });
}

/**
 * As root (sudo): who called is SUDO_UID, set by sudo, not by the caller.
 * That uid's user must be gear's ctr-NAME of an installed container; the
 * command runs inside that container (docker exec), as the container's own
 * user (an isolated one's uid, else the image's USER), with a terminal only
 * when the login has one.
 */
async function sshEnter(cli: Cli, command: string | undefined): Promise<number> {
  const uid = Number(process.env.SUDO_UID ?? NaN);
  if (process.getuid?.() !== 0 || !Number.isInteger(uid)) throw invalid('gear ssh-enter runs only through sudo, from a container login');
  const host = await thisHost(cli);
  const passwd = (await host.fs.read('/etc/passwd')) ?? '';
  const name = passwd.split('\n').map((l) => l.split(':')).find((f) => Number(f[2]) === uid)?.[0] ?? '';
  const target = cli.runtime.sshTarget(name);
  if (target?.kind !== 'ctr' || userDbEntry(passwd, name)?.comment !== hostUserComment(target.name)) throw invalid(`uid ${uid} is not the login of a gear container`);
  const def = await host.store.read(target.name);
  if (!def) throw notFound(`container ${target.name} is not installed`);
  const tty = process.stdin.isTTY === true;
  const argv = ['exec', '-i', ...(tty ? ['-t'] : []), ...(def.Isolation ? ['-u', `${def.Isolation.Uid}:${def.Isolation.Gid}`] : []), containerNameOf(target.name), '/bin/sh', ...(command ? ['-c', command] : ['-l'])];
  return new Promise((resolve) => {
    const child = spawn('docker', argv, { stdio: 'inherit' });
    child.on('error', (err) => {
      process.stderr.write(`gear: cannot run docker: ${err.message}\n`);
      resolve(1);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}
