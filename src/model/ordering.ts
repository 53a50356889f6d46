import { Type } from '@sinclair/typebox';
import type { ContainerDefinition } from './definition.js';
import { invalid } from './errors.js';
import { unitNameOf, validateName } from './names.js';

/**
 * Start ordering between containers of one host, on systemd's own terms: a
 * container installed `--after web-3` has `After=ctr-web-3.service` and
 * `Wants=ctr-web-3.service` (starting it starts web-3 first; stopping web-3
 * leaves it running). Since a health-checked unit's start completes only
 * when its container is healthy, `--wait healthy` means what it says; it
 * is refused for a container without a health check.
 */
export const AfterSchema = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 });
export const WaitSchema = Type.Union([Type.Literal('started'), Type.Literal('healthy')]);
export type WaitFor = 'started' | 'healthy';

/** The names after which a container starts: valid, not itself, no repeats. */
export function validateAfter(names: string[] | undefined, self: string): string[] {
  const out: string[] = [];
  for (const [i, n] of (names ?? []).entries()) {
    const name = validateName(n, `After[${i}]`);
    if (name === self) throw invalid(`After[${i}] names the container itself (${self})`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The units of the containers it starts after. */
export const orderingUnits = (def: ContainerDefinition): string[] => (def.After ?? []).map(unitNameOf);
