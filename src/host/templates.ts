import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UnitTemplates } from '../model/unit.js';

/**
 * The units/ directory: beside dist/ in a checkout or the image, found by
 * walking up from this module (bundled or not), or named by GEAR_UNITS_DIR.
 */
export function findUnitsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GEAR_UNITS_DIR) return env.GEAR_UNITS_DIR;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'units');
    if (existsSync(join(candidate, 'container.service.hbs'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the units/ templates; set GEAR_UNITS_DIR');
    dir = parent;
  }
}

export function loadUnitTemplates(dir = findUnitsDir()): UnitTemplates {
  return {
    container: readFileSync(join(dir, 'container.service.hbs'), 'utf8'),
    target: readFileSync(join(dir, 'gear.target.hbs'), 'utf8'),
  };
}
