import type { Command } from 'commander';
import { actsAlone, collect, type Cli } from '../cli.js';

/** `gear daemon`: the agent (loaded only for this command). */
export function register(program: Command, cli: Cli): void {
  // The agent: the operations it serves come with src/agent/daemon.ts; the CLI's backends and deploy are not its.
  actsAlone(program.command('daemon'))
    .description('run the agent: the HTTP API on a unix socket (no token: root only) and on 127.0.0.1:43273 (token)')
    .option('--listen <address>', 'HOST:PORT to listen on, token required (repeatable; default 127.0.0.1:43273)', collect)
    .option('--insecure-tokenless-listen <address>', 'HOST:PORT to listen on WITHOUT a token: whoever reaches it is root here (repeatable)', collect)
    .option('--tls-cert <file>', 'PEM certificate: TLS on the listeners beyond loopback')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--server-name <name>', 'a DNS name clients may use for this agent in Host (repeatable; IP addresses, localhost and the hostname always)', collect)
    .option('--console-peer <url>', "another agent, https://HOST[:PORT]: this agent's web console shows its containers too, and its console may call this agent (CORS; repeatable; each request still needs the token)", collect)
    .option('--socket <path>', 'unix socket (default /run/gear/gear.sock)')
    .option('--no-socket', 'do not listen on a unix socket')
    .option('--log-stream-seconds <n>', 'how long a streamed log follows the journal', '30')
    .option('--request-timeout <seconds>', 'time a client gets to send its whole request', '30')
    .option('--max-jobs <n>', 'operations running at once', '32')
    .option('--max-queued <n>', 'operations waiting beyond those; more are refused with 503', '256')
    .option('--max-log-streams <n>', 'log requests served at once; more are refused with 429', '64')
    .option('--callback-secret-file <file>', 'the shared secret job callbacks are signed with (HMAC-SHA256; root-owned, mode 0600, at least 16 characters); without it a request naming a Callback is refused')
    .action(async (o: Record<string, string | string[] | false | undefined>) => {
      const { runDaemon } = await import('../../agent/daemon.js');
      await runDaemon({
        listen: o.listen as string[] | undefined,
        tokenlessListen: o.insecureTokenlessListen as string[] | undefined,
        socket: o.socket as string | false | undefined,
        // The global --token-file: for the agent, the token TCP clients must send (default: its own, made once).
        tokenFile: cli.options.tokenFile,
        tlsCert: o.tlsCert as string | undefined,
        tlsKey: o.tlsKey as string | undefined,
        insecurePlaintext: cli.options.insecurePlaintext === true,
        serverNames: o.serverName as string[] | undefined,
        consolePeers: o.consolePeer as string[] | undefined,
        logStreamSeconds: Number(o.logStreamSeconds),
        requestTimeoutSeconds: Number(o.requestTimeout),
        maxJobs: Number(o.maxJobs),
        maxQueued: Number(o.maxQueued),
        maxLogStreams: Number(o.maxLogStreams),
        callbackSecretFile: o.callbackSecretFile as string | undefined,
      });
    });
}
