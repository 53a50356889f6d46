import type { Command } from 'commander';
import { parseAgentHost, agentHostText } from '../../model/address.js';
import { invalid } from '../../model/errors.js';
import type { TransferProgress, TransferResult } from '../../operations/images.js';
import type { Backend } from '../backend.js';
import type { Cli } from '../cli.js';

/**
 * `gear push-image IMAGE HOST...` and `gear pull-image HOST/IMAGE`: an
 * image from one host to another, only the layers the receiver lacks,
 * checked by the receiver before it loads (operations/images.ts).
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('push-image')
    .description('send an image of this host (or of --from HOST) to agents: only the layers each lacks, checked before it is loaded')
    .argument('<image>', 'NAME[:TAG] (":latest" when no tag is given)')
    .argument('<hosts...>', 'HOST[:PORT] of the agents to send it to')
    .option('--from <host>', 'take the image from this agent instead of this host (the bytes pass through this machine)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (image: string, hosts: string[], o: { from?: string; quiet?: boolean }) => {
      let source: Backend;
      let tag: string;
      try {
        tag = cli.runtime.transferImage(image);
        source = cli.backends().forServer(o.from === undefined ? '' : agentHostText(parseAgentHost(o.from)));
        for (const h of hosts) parseAgentHost(h);
      } catch (err) {
        return cli.report(undefined, err);
      }
      await cli.eachHost(
        hosts,
        (h) => h,
        async (h) => {
          const dest = cli.backends().forServer(h);
          const started = Date.now();
          const r = await cli.runtime.transfer(source.imagePeer(), dest.imagePeer(), tag, reporter(h, o.quiet));
          cli.print(resultLine(dest.label, r, started));
        },
      );
    });

  program
    .command('pull-image')
    .description("fetch an image from an agent to this host: only the layers this host lacks, checked before it is loaded")
    .argument('<source>', 'HOST[:PORT]/NAME[:TAG]')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (text: string, o: { quiet?: boolean }) => {
      let source: Backend;
      let tag: string;
      try {
        const slash = text.indexOf('/');
        if (slash < 0) throw invalid(`${JSON.stringify(text)}: name the agent and the image, HOST[:PORT]/NAME[:TAG]`);
        source = cli.backends().forServer(agentHostText(parseAgentHost(text.slice(0, slash))));
        tag = cli.runtime.transferImage(text.slice(slash + 1));
      } catch (err) {
        return cli.report(undefined, err);
      }
      await cli.eachHost(
        [source],
        (s) => s.label,
        async (s) => {
          const started = Date.now();
          const r = await cli.runtime.transfer(s.imagePeer(), cli.backends().forServer('').imagePeer(), tag, reporter(s.label, o.quiet));
          cli.print(resultLine(s.label, r, started));
        },
      );
    });
}

const kB = (n: number) => (n < 10_000 ? `${n} B` : n < 10_000_000 ? `${(n / 1000).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

/** "hostB: multi:1 (sha256:...) loaded: 3 of 4 layers sent (102912 bytes of layers), 1 already there; 110592 bytes transferred in 0.4 s (0.3 MB/s)" */
export function resultLine(label: string, r: TransferResult, started: number): string {
  const sent = r.Layers.filter((l) => l.Received).length;
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  return `${label ? `${label}: ` : ''}${r.Image} (${r.Id}) loaded: ${sent} of ${r.Layers.length} layers sent (${r.Bytes} bytes of layers), ${r.Layers.length - sent} already there; ${r.Transferred} bytes transferred in ${seconds.toFixed(1)} s (${(r.Transferred / 1e6 / seconds).toFixed(1)} MB/s)\n`;
}

/** Seconds between two lines of progress within a layer (a large layer would otherwise say nothing for minutes). */
const PROGRESS_EVERY_MS = 5000;

/**
 * Progress on stderr, one line per event, each naming the host (none with
 * -q): the start, each layer, and every 5 s while bytes flow, the bytes so
 * far and the rate since the last line.
 */
export function reporter(label: string, quiet: boolean | undefined, write: (line: string) => unknown = (line) => process.stderr.write(line), now = Date.now): TransferProgress {
  if (quiet) return {};
  const say = (line: string) => write(`${label ? `${label}: ` : ''}${line}\n`);
  let layers = 0;
  let count = 0;
  let bytes = 0;
  let last = { at: now(), bytes: 0 };
  return {
    start(info, missing) {
      layers = info.Layers.length;
      say(`${info.Image} (${info.Id}): ${layers} layers, ${missing} to send`);
    },
    layer(e) {
      count++;
      const which = e.index === undefined ? `layer ${count}` : `layer ${e.index + 1}/${layers} ${e.diffId?.slice(0, 19) ?? ''}`;
      say(`${which} ${e.sent ? 'sent' : 'already there, not sent'} (${kB(e.bytes)}); ${kB(bytes)} so far`);
    },
    bytes(total) {
      bytes = total;
      const at = now();
      if (at - last.at < PROGRESS_EVERY_MS) return;
      say(`${kB(total)} so far (${((total - last.bytes) / 1e6 / ((at - last.at) / 1000)).toFixed(1)} MB/s)`);
      last = { at, bytes: total };
    },
  };
}

