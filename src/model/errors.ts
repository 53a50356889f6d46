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
export const conflict = (message: string) => new GearError('conflict', message);
export const busy = (message: string) => new GearError('busy', message);
export const unavailable = (message: string) => new GearError('unavailable', message);
export const failed = (message: string, hint?: string) => new GearError('failed', message, hint);
export const upstream = (message: string) => new GearError('upstream', message);
export const full = (message: string) => new GearError('full', message);

/** Printable form of any thrown value, for one-line CLI errors and API bodies. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The error kind an HTTP status stands for (the client's side of statusOfKind). */
export function kindOfStatus(status: number): ErrorKind {
  const found = (Object.entries(statusOfKind) as [ErrorKind, number][]).find(([, s]) => s === status);
  if (found) return found[0];
  return status >= 400 && status < 500 ? 'invalid' : 'failed';
}
