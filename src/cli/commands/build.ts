import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { BuildResult } from '../../operations/build.js';
import type { Cli } from '../cli.js';
import { outputProgress, seconds } from './run-job.js';

/**
 * `gear build SOURCE BUILDER TAG [--incremental]`: POST /build-image. The
 * build's output (assemble's) is printed as it comes; the last line names
 * the new image. SOURCE is a directory of the host the build runs on.
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('build')
    .description("build an image from a source directory, git URL or host repository with a source-to-image builder image: assemble runs in a transient unit, the result runs the builder's run script")
    .argument('<source>', "a directory (on an agent's host with --on: one under its GEAR_BUILD_SOURCES), an http, https or git URL (#REF), or repo://NAME[#REF]")
    .argument('<builder>', 'the builder image (its scripts at its io.openshift.s2i.scripts-url label, else /usr/libexec/s2i)')
    .argument('<tag>', 'the image to make: NAME[:TAG], set only once the build succeeded')
    .option('--incremental', "restore the previous TAG image's saved artifacts (its save-artifacts script) into /tmp/artifacts first")
    .option('--timeout <seconds>', 'stop assemble after this long (default 3600)')
    .option('--on <host>', 'build on this agent (HOST[:PORT])')
    .action(async (source: string, builder: string, tag: string, o: { incremental?: boolean; timeout?: string; on?: string }) => {
      const backend = cli.backends().forServer(o.on ?? '');
      const timeout = seconds(o.timeout, '--timeout');
      // A relative directory is this shell's; a URL (git's, repo://) goes as given.
      const body = { Source: /^[A-Za-z][A-Za-z0-9+.-]*:/.test(source) ? source : resolve(source), BaseImage: builder, Tag: tag, ...(o.incremental ? { Incremental: true } : {}), ...(timeout ? { Timeout: timeout } : {}) };
      const r: BuildResult = await backend.call(cli.operations.buildImage, { params: {}, query: {}, body }, outputProgress(cli));
      cli.print(`built ${r.Tag}: ${r.Image.replace(/^sha256:/, '').slice(0, 12)}${r.Incremental ? ' (incremental)' : ''}\n`);
    });
}
