import type Dockerode from 'dockerode';
import { Writable, type Readable } from 'node:stream';
import { failed, notFound } from '../model/errors.js';
import type { Systemd, UnitState } from './systemd.js';

/** How a one-off run ended: the container's exit status and why it stopped. */
export interface RunOutcome {
  ExitCode: number;
  /** "exited" (by itself), "timeout" (over its time limit), "cancelled" (the caller went away). */
  Result: 'exited' | 'timeout' | 'cancelled';
}

/** One container run once, in a transient systemd unit of the same name. */
export interface OneOffSpec {
  /** Container and unit name (`gear-job-ID`, `gear-build-ID`): the unit is NAME.service. */
  name: string;
  image: string;
  cmd?: string[];
  entrypoint?: string[];
  labels: Record<string, string>;
  description: string;
  timeoutSec: number;
  /** Remove the container when the unit stops (jobs); a build keeps it to commit it. */
  removeAfter: boolean;
  output(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  signal?: AbortSignal;
  /** Before it starts: put files into the created container (a build's source). */
  prepare?(container: Dockerode.Container): Promise<void>;
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;
const reasonOf = (err: unknown) => (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
const ENDED = new Set(['inactive', 'failed']);

/** A Writable that hands each chunk to `f`. */
const sink = (f: (chunk: Buffer) => void) =>
  new Writable({
    write(chunk: Buffer, _enc, done) {
      f(chunk);
      done();
    },
  });

/**
 * One-off containers (jobs, build steps) as transient systemd units: the
 * container is created and attached through Docker's API (so no output is
 * missed and arguments never pass through a command line or a unit file),
 * then a transient unit runs `docker start -a NAME`, so the run is a unit
 * like any other: in systemctl, in the journal, stopped by systemd at its
 * RuntimeMaxSec (ExecStop: docker stop), cancellable by stopping the unit.
 */
export class OneOffRunner {
  private client?: Promise<Dockerode>;

  constructor(
    private readonly socketPath: string,
    private readonly systemd: Systemd,
    private readonly dockerBin: () => Promise<string>,
    private readonly stopTimeout: number,
  ) {}

  get api(): Promise<Dockerode> {
    return (this.client ??= import('dockerode').then(({ default: Dockerode }) => new Dockerode({ socketPath: this.socketPath })));
  }

  /** The image's config (labels, Cmd, User), or undefined when it is not here. */
  async imageConfig(ref: string): Promise<{ Id: string; Labels: Record<string, string>; User: string } | undefined> {
    try {
      const i = await (await this.api).getImage(ref).inspect();
      return { Id: i.Id, Labels: i.Config?.Labels ?? {}, User: i.Config?.User ?? '' };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failed(`docker: cannot inspect image ${ref}: ${reasonOf(err)}`);
    }
  }

  async removeContainer(name: string): Promise<void> {
    try {
      await (await this.api).getContainer(name).remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw failed(`docker: cannot remove ${name}: ${reasonOf(err)}`);
    }
  }

  async create(spec: Pick<OneOffSpec, 'name' | 'image' | 'cmd' | 'entrypoint' | 'labels'>): Promise<Dockerode.Container> {
    try {
      return await (await this.api).createContainer({
        name: spec.name,
        Image: spec.image,
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        Labels: spec.labels,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
    } catch (err) {
      if (statusOf(err) === 404) throw notFound(`image ${spec.image} is not on this host`);
      throw failed(`docker: cannot create container ${spec.name}: ${reasonOf(err)}`);
    }
  }

  /** Attach before start (every byte of output), demultiplexed; resolves when the output ends. */
  private async attach(container: Dockerode.Container, output: OneOffSpec['output'], signal: AbortSignal): Promise<{ ended: Promise<void> }> {
    const api = await this.api;
    const stream = (await container.attach({ stream: true, stdout: true, stderr: true, abortSignal: signal })) as unknown as Readable;
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    api.modem.demuxStream(stream, sink((c) => output(c, 'stdout')), sink((c) => output(c, 'stderr')));
    // In an object: an async function's returned promise would be awaited with it.
    return { ended };
  }

  /**
   * Run the container to its end in its transient unit. The unit's state is
   * read once it has ended (its Result says "timeout"), then its failed
   * state is reset, so nothing of it stays loaded.
   */
  async run(spec: OneOffSpec): Promise<{ outcome: RunOutcome; container: Dockerode.Container }> {
    const unit = `${spec.name}.service`;
    const docker = await this.dockerBin();
    if (spec.signal?.aborted) throw failed('cancelled');
    const container = await this.create(spec);
    let started = false;
    // Ends the attach and wait requests however the run ends (a wait on a container removed unstarted never returns).
    const calls = new AbortController();
    try {
      await spec.prepare?.(container);
      const { ended: outputEnded } = await this.attach(container, spec.output, calls.signal);
      const exited = container.wait({ condition: 'next-exit', abortSignal: calls.signal }) as Promise<{ StatusCode: number }>;
      exited.catch(() => undefined);
      if (spec.signal?.aborted) throw failed('cancelled');
      let cancelled = false;
      const cancel = () => {
        cancelled = true;
        if (started) void this.systemd.stop(unit).catch(() => undefined);
      };
      spec.signal?.addEventListener('abort', cancel, { once: true });
      try {
        await this.systemd.startTransient!(unit, {
          description: spec.description,
          execStart: [docker, 'start', '-a', spec.name],
          execStop: [docker, 'stop', '-t', String(this.stopTimeout), spec.name],
          ...(spec.removeAfter ? { execStopPost: [docker, 'rm', '-f', spec.name] } : {}),
          runtimeMaxSec: spec.timeoutSec,
          timeoutStopSec: this.stopTimeout + 30,
        });
        started = true;
        if (cancelled) cancel();
        const { StatusCode } = await exited;
        await outputEnded;
        const state = await this.ended(unit);
        if (spec.removeAfter) await this.removeContainer(spec.name);
        return {
          outcome: { ExitCode: StatusCode, Result: cancelled ? 'cancelled' : state.Result === 'timeout' ? 'timeout' : 'exited' },
          container,
        };
      } finally {
        spec.signal?.removeEventListener('abort', cancel);
      }
    } catch (err) {
      if (started) await this.systemd.stop(unit).catch(() => undefined);
      await this.removeContainer(spec.name).catch(() => undefined);
      throw err;
    } finally {
      calls.abort();
      // Also when its start failed: a failed transient unit would stay loaded.
      await this.systemd.resetFailed(unit);
    }
  }

  /** The unit once it has ended (docker start -a returns right after the container; ExecStopPost may still run). */
  private async ended(unit: string): Promise<UnitState> {
    for (;;) {
      const state = await this.systemd.state(unit);
      if (ENDED.has(state.ActiveState) || state.LoadState !== 'loaded') return state;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
