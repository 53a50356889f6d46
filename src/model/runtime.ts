import { Type } from '@sinclair/typebox';
import { invalid } from './errors.js';

/**
 * The container runtime of a host: Docker, or podman through its
 * Docker-compatible API (podman.socket) for everything gear asks of an
 * engine (images, pulls, volumes with labels, inspect), and its client in
 * the units (`podman run`, same flags). One per host, chosen by the agent's
 * GEAR_RUNTIME: gear's volumes, images and repair all go through one
 * engine's API, and two engines on one host would each hold half of them
 * (see docs/decisions.md).
 */
export type RuntimeName = 'docker' | 'podman';

export const RuntimeSchema = Type.Union([Type.Literal('docker'), Type.Literal('podman')]);

export interface RuntimeDefaults {
  /** The engine's API socket (host path). */
  socket: string;
  /** The unit every container unit requires and starts after. */
  service: string;
  /** The client the units run, looked for on the host's PATH. */
  client: string;
}

export const RUNTIME_DEFAULTS: Record<RuntimeName, RuntimeDefaults> = {
  docker: { socket: '/run/docker.sock', service: 'docker.service', client: 'docker' },
  podman: { socket: '/run/podman/podman.sock', service: 'podman.socket', client: 'podman' },
};

export function parseRuntime(value: unknown, what = 'runtime'): RuntimeName {
  if (value === 'docker' || value === 'podman') return value;
  throw invalid(`${what} ${JSON.stringify(value)} must be docker or podman`);
}
