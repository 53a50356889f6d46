import type { Host } from '../host/context.js';
import type { ContainerDefinition } from '../model/definition.js';
import { invalid, notFound } from '../model/errors.js';
import { validateHealth, type HealthCheck } from '../model/health.js';
import { validateAfter } from '../model/ordering.js';
import type { InstallBody } from './schemas.js';

/**
 * An install's health check and start ordering. undefined: not given (a
 * re-install keeps the container's); null / []: removed.
 */
export interface HealthRequest {
  Health?: HealthCheck | null;
  After?: string[];
  WaitHealthy: boolean;
}

/** The request's Health part: absent when the body has none of these fields. */
export function parseHealthRequest(id: string, body: InstallBody): { Health?: HealthRequest } {
  if (body.Health === undefined && body.After === undefined && body.Wait === undefined) return {};
  const Health = body.Health === undefined ? undefined : body.Health === null ? null : validateHealth(body.Health, 'body/Health');
  const After = body.After === undefined ? undefined : validateAfter(body.After ?? [], id);
  const WaitHealthy = body.Wait === 'healthy';
  if (body.Wait !== undefined && !After?.length) throw invalid(`body/Wait needs containers to wait for (body/After)`);
  return { Health: { ...(Health === undefined ? {} : { Health }), ...(After === undefined ? {} : { After }), WaitHealthy } };
}

/**
 * The containers it starts after are installed on this host, and with
 * --wait healthy each has a health check (else "healthy" would mean nothing).
 */
export async function checkOrdering(host: Host, id: string, req: HealthRequest): Promise<void> {
  for (const name of req.After ?? []) {
    const def = await host.store.read(name);
    if (!def) throw notFound(`container ${name} (After) is not installed on this host; ${id} can only start after a container of its own host`);
    if (req.WaitHealthy && !def.Health) throw invalid(`container ${name} has no health check, so ${id} cannot wait for it to be healthy (install ${name} with --health-cmd, or use --wait started)`);
  }
}

/** The definition's health fields from the request, over the old definition's on a re-install. */
export function healthFields(req: HealthRequest = { WaitHealthy: false }, old?: ContainerDefinition): Pick<ContainerDefinition, 'Health' | 'After' | 'WaitHealthy'> {
  const health = req.Health === undefined ? old?.Health : (req.Health ?? undefined);
  const after = req.After === undefined ? old?.After : req.After;
  const waitHealthy = req.After === undefined ? old?.WaitHealthy : req.WaitHealthy;
  return { ...(health ? { Health: health } : {}), ...(after?.length ? { After: after } : {}), ...(after?.length && waitHealthy ? { WaitHealthy: true } : {}) };
}
