import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { invalid } from '../../model/errors.js';
import type { AddKeysResult, KeyGrant, RemoveKeysResult } from '../../operations/keys.js';
import type { CreateRepoResult } from '../../operations/repos.js';
import { collect, type Cli } from '../cli.js';
import { outputProgress } from './run-job.js';

/** The keys of a key file (`-`: stdin) as request bodies take them; one readable line when it cannot be read. */
function keysOfFile(cli: Cli, file: string): { Type: string; Value: string }[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw invalid(`key file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // Read here for a message with the file's line number; the operation reads each key again.
  return cli.runtime.parseKeyFile(text).map((k) => ({ Type: 'authorized_keys', Value: `${k.type} ${k.blob}` }));
}

/** TARGET... as bodies name them: repo://NAME a repository, anything else a container. */
function targetsOf(targets: string[]): { Containers: { Id: string }[]; Repositories: { Id: string }[] } {
  return {
    Containers: targets.filter((t) => !t.startsWith('repo://')).map((t) => ({ Id: t })),
    Repositories: targets.filter((t) => t.startsWith('repo://')).map((t) => ({ Id: t.slice('repo://'.length) })),
  };
}

/** `gear create-repo`, `gear archive-repo`, `gear add-keys`, `gear remove-keys` and `gear list-keys`: Git repositories and SSH keys (issue 14). */
export function register(program: Command, cli: Cli): void {
  program
    .command('create-repo')
    .description("create a Git repository on the host (STATE/git/NAME.git, owned by its own user repo-NAME); clone, fetch and push over the host's sshd: ssh://repo-NAME@HOST/~")
    .argument('<name>', 'the repository: lower case letters, digits, "_" and "-"')
    .argument('[clone-url]', 'start as a bare clone of this http, https or git URL')
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .action(async (name: string, url: string | undefined, o: { on?: string }) => {
      const backend = cli.backends().forServer(o.on ?? '');
      const r: CreateRepoResult = await backend.call(cli.operations.createRepo, { params: { id: name }, query: {}, body: url ? { CloneUrl: url } : {} }, cli.progress);
      cli.print(`created repository ${r.Id} (${r.Path}, user ${r.User})${r.CloneUrl ? ` from ${r.CloneUrl}` : ''}\n`);
    });

  program
    .command('delete-repo')
    .description("delete a Git repository: its data, the keys' access to it, its host user")
    .argument('<name>', 'the repository')
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .action(async (name: string, o: { on?: string }) => {
      const backend = cli.backends().forServer(o.on ?? '');
      await backend.call(cli.operations.deleteRepo, { params: { id: name }, query: {} }, cli.progress);
      cli.print(`deleted repository ${name}\n`);
    });

  program
    .command('archive-repo')
    .description("write a repository's tree at REF as a tar to stdout (GET /repository/NAME/archive/REF)")
    .argument('<name>', 'the repository')
    .argument('[ref]', 'a branch, tag or commit', 'HEAD')
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .action(async (name: string, ref: string, o: { on?: string }) => {
      if (process.stdout.isTTY) throw invalid('archive-repo writes a tar: send its output to a file or a pipe');
      const backend = cli.backends().forServer(o.on ?? '');
      await backend.call(cli.operations.repoArchive, { params: { id: name, ref }, query: {} }, outputProgress(cli));
    });

  program
    .command('add-keys')
    .description('grant SSH public keys access: to a container (ssh ctr-NAME@HOST: a shell inside it) or a repository (repo://NAME: git clone and fetch; push with --write)')
    .requiredOption('--key-file <file>', 'public keys, one per line (TYPE BASE64 [COMMENT]; no options)')
    .option('--write', 'repositories: allow push too')
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .argument('<target...>', 'container names and repo://NAME')
    .action(async (targets: string[], o: { keyFile: string; write?: boolean; on?: string }) => {
      const Keys = keysOfFile(cli, o.keyFile);
      const backend = cli.backends().forServer(o.on ?? '');
      const r: AddKeysResult = await backend.call(cli.operations.addKeys, { params: {}, query: {}, body: { Keys, ...targetsOf(targets), ...(o.write ? { WriteAccess: true } : {}) } }, cli.progress);
      cli.print(`${r.Fingerprints.join(', ')}: may log in as ${r.Logins.join(', ')}${r.WriteAccess ? ' (push allowed)' : ''}\n`);
    });

  program
    .command('remove-keys')
    .description("revoke SSH keys' access to containers and repositories (repo://NAME): the next login with them is refused (DELETE /keys)")
    .option('--key-file <file>', 'the public keys, one per line (as add-keys takes them)')
    // Not --fingerprint: that is the program's own option (an agent's TLS certificate).
    .option('--key-fingerprint <fp>', 'a key by fingerprint (SHA256:..., as list-keys and ssh-keygen -lf print them; repeatable)', collect)
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .argument('<target...>', 'container names and repo://NAME')
    .action(async (targets: string[], o: { keyFile?: string; keyFingerprint?: string[]; on?: string }) => {
      if (!o.keyFile && !o.keyFingerprint?.length) throw invalid('name the keys: --key-file FILE or --key-fingerprint FP');
      const body = { ...(o.keyFile ? { Keys: keysOfFile(cli, o.keyFile) } : {}), ...(o.keyFingerprint?.length ? { Fingerprints: o.keyFingerprint } : {}), ...targetsOf(targets) };
      const backend = cli.backends().forServer(o.on ?? '');
      const r: RemoveKeysResult = await backend.call(cli.operations.removeKeys, { params: {}, query: {}, body }, cli.progress);
      cli.print(`${r.Fingerprints.join(', ')}: may no longer log in as ${r.Logins.join(', ')}\n`);
    });

  program
    .command('list-keys')
    .description('list the SSH keys granted access: TARGET ACCESS FINGERPRINT TYPE, one line per key and target (GET /keys)')
    .option('--json', 'the answer as JSON')
    .option('--on <host>', 'on this agent (HOST[:PORT])')
    .action(async (o: { json?: boolean; on?: string }) => {
      const backend = cli.backends().forServer(o.on ?? '');
      const r: { Grants: KeyGrant[] } = await backend.call(cli.operations.listKeys, { params: {}, query: {} }, cli.progress);
      if (o.json) return cli.print(`${JSON.stringify(r, null, 2)}\n`);
      for (const g of r.Grants) cli.print(`${g.Target} ${g.Access} ${g.Fingerprint} ${g.Type}\n`);
    });
}
