import { randomBytes } from 'node:crypto';
import type { Host } from '../host/context.js';
import type { RunOutcome } from '../host/oneoff.js';
import { failed } from '../model/errors.js';
import { validateImage } from '../model/names.js';
import { JOB_LABEL, JOB_TIMEOUT, JobBodySchema, RUN_LOCK_PREFIX, checkArgs, runLockOf, runNameOf } from '../model/oneoff.js';
import { defineOperation, type Progress } from './operation.js';

export interface JobRequest {
  Image: string;
  /** The entrypoint instead of the image's (the seed's Command). */
  Command?: string;
  Arguments: string[];
  Timeout: number;
}

export interface JobResult extends RunOutcome {
  /** The job's unit was gear-job-ID.service, its container gear-job-ID. */
  Id: string;
  Image: string;
  Timeout: number;
}

/** A new job's id: its unit and container are named after it. */
export const newRunId = () => randomBytes(6).toString('hex');

/**
 * Run `work` (which makes the run's containers and removes or commits
 * them) under the run's own lock (model/oneoff.ts runLockOf): while this
 * process lives, `gear clean --repair` leaves the run alone; once it is
 * gone (killed), repair removes what it left. Old tombstones of earlier
 * runs' locks are swept after.
 */
export async function underRunLock<T>(host: Host, kind: 'job' | 'build', id: string, work: () => Promise<T>): Promise<T> {
  try {
    return await host.locks.with(runLockOf(kind, id), work);
  } finally {
    await host.locks.sweepOldTombstones(RUN_LOCK_PREFIX).catch(() => undefined);
  }
}

/** The image here, pulled when it is not (as install does). */
export async function ensureImage(host: Host, image: string, progress: Progress): Promise<void> {
  if (await host.docker.imageVolumes(image)) return;
  progress.note?.(`pulling ${image}`);
  await host.docker.pull(image, (p) => progress.pull?.(image, p));
  if (!(await host.docker.imageVolumes(image))) throw failed(`image ${image} is not on this host after pulling it`);
}

/**
 * `POST /jobs` (the seed's route and body) and `gear run-job IMAGE -- CMD...`:
 * a one-off container in a transient unit (gear-job-ID.service) with a time
 * limit, its output streamed back as it comes, its exit status in the
 * result; the container and the unit are gone when it ends, however it
 * ends (exit, time limit, the caller going away).
 */
export const runJob = defineOperation({
  name: 'runJob',
  method: 'POST',
  path: '/jobs',
  summary: `Run a one-off container (Image, Arguments, Command as its entrypoint, Timeout seconds, default ${JOB_TIMEOUT.default}) in a transient unit; 202 with its output streamed, its outcome in the X-Gear-Result trailer`,
  body: JobBodySchema,
  mutates: true,
  http: { output: true },
  parse(req): JobRequest {
    const b = req.body;
    return {
      Image: validateImage(b.Image),
      ...(b.Command ? { Command: checkArgs([b.Command], 'body/Command')[0]! } : {}),
      Arguments: checkArgs(b.Arguments ?? [], 'body/Arguments'),
      Timeout: b.Timeout ?? JOB_TIMEOUT.default,
    };
  },
  async run(host, req, progress): Promise<JobResult> {
    await ensureImage(host, req.Image, progress);
    const Id = newRunId();
    const outcome = await underRunLock(host, 'job', Id, async () =>
      (await host.oneoff.run({
        name: runNameOf('job', Id),
        image: req.Image,
        ...(req.Arguments.length ? { cmd: req.Arguments } : {}),
        ...(req.Command ? { entrypoint: [req.Command] } : {}),
        labels: { [JOB_LABEL]: Id },
        description: `gear job ${Id}: ${req.Image}`,
        timeoutSec: req.Timeout,
        removeAfter: true,
        output: (chunk, stream) => progress.output?.(chunk, stream),
        signal: progress.signal,
      })).outcome,
    );
    return { Id, Image: req.Image, Timeout: req.Timeout, ...outcome };
  },
});
