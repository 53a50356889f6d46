/**
 * Errors a user can cause or meet. Each kind maps to one HTTP status (used by
 * the agent) and one CLI exit code; anything that is not a GearError is a bug
 * and is reported as such.
 */
export type ErrorKind =
  | 'invalid' // the request is malformed: 400
  | 'not-found' // the container (or image) does not exist: 404
  | 'conflict' // it already exists / the port is taken: 409
  | 'busy' // another operation on the same container holds it: 429
  | 'unavailable' // the agent's job queue is full: 503
  | 'unauthorized' // no or wrong credentials: 401
  | 'failed' // the host refused: the unit failed, docker answered an error: 500
  | 'upstream' // a URL the request named (Environment.Source) could not be fetched: 502
  | 'full'; // the host has no room for it (its configured capacity): 412

export const statusOfKind: Record<ErrorKind, number> = {
  invalid: 400,
  'not-found': 404,
  conflict: 409,
  busy: 429,
  unavailable: 503,
  unauthorized: 401,
  failed: 500,
  upstream: 502,
  full: 412,
};

export class GearError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'GearError';
  }
}

export const invalid = (message: string, hint?: string) => new GearError('invalid', message, hint);
export const notFound = (message: string) => new GearError('not-found', message);
export const conflict = (message: string, hint?: string) => new GearError('conflict', message, hint);
export const busy = (message: string) => new GearError('busy', message);
export const unavailable = (message: string) => new GearError('unavailable', message);
export const failed = (message: string, hint?: string) => new GearError('failed', message, hint);
export const upstream = (message: string) => new GearError('upstream', message);
export const full = (message: string) => new GearError('full', message);

/**
 * System errors that are faults of the host, not bugs of gear: a full or
 * read-only state filesystem, a failing disk, no file descriptors left.
 * They are reported as what they are (the agent's 500 says so instead of
 * "internal error"), so the operator knows what to fix.
 */
const HOST_FAULTS: Record<string, string> = {
  ENOSPC: "the host's filesystem is full",
  EDQUOT: "the host's disk quota is used up",
  EROFS: "the host's filesystem is read-only",
  EIO: "the host's disk reported an I/O error",
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on the host',
  ENOMEM: 'the host is out of memory',
};

/** The host fault an error stands for (see HOST_FAULTS), as a GearError; undefined for anything else. */
export function hostFault(err: unknown): GearError | undefined {
  if (err instanceof GearError || !(err instanceof Error)) return undefined;
  const what = HOST_FAULTS[(err as NodeJS.ErrnoException).code ?? ''];
  return what ? failed(`${what} (${err.message})`) : undefined;
}

/** Printable form of any thrown value, for one-line CLI errors and API bodies. */
export function describeError(err: unknown): string {
  const fault = hostFault(err);
  if (fault) return fault.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The error kind an HTTP status stands for (the client's side of statusOfKind). */
export function kindOfStatus(status: number): ErrorKind {
  const found = (Object.entries(statusOfKind) as [ErrorKind, number][]).find(([, s]) => s === status);
  if (found) return found[0];
  return status >= 400 && status < 500 ? 'invalid' : 'failed';
}
