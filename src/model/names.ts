import { invalid } from './errors.js';

/**
 * Container names become part of a unit name (ctr-NAME.service), a Docker
 * container name, and file names under the state directory. One conservative
 * alphabet fits all three: it cannot express a path separator, a systemd
 * specifier (%), whitespace or a newline.
 */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const MAX_NAME_LENGTH = 64;

export function validateName(name: unknown, what = 'container name'): string {
  if (typeof name !== 'string' || name.length === 0) throw invalid(`${what} must not be empty`);
  if (name.length > MAX_NAME_LENGTH)
    throw invalid(`${what} is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}`);
  if (!NAME.test(name) || name.includes('..'))
    throw invalid(
      `${what} ${JSON.stringify(name)} is not valid`,
      'use letters, digits, "_", "." and "-", starting with a letter or digit',
    );
  return name;
}

export const unitNameOf = (name: string) => `ctr-${name}.service`;
/** Every container's unit, as a unit name pattern. */
export const CONTAINER_UNITS = 'ctr-*.service';
export const containerNameOf = (name: string) => `ctr-${name}`;

/** The container name a unit name stands for, or undefined if it is not one of gear's. */
export function nameOfUnit(unit: string): string | undefined {
  const m = /^ctr-(.+)\.service$/.exec(unit);
  return m && NAME.test(m[1]!) ? m[1] : undefined;
}

/**
 * Image references: [registry[:port]/]path[:tag][@digest], as Docker accepts
 * them. Anything else is refused before it reaches a unit file.
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
// A first component is a registry only if it looks like a host: a dot, a port, or localhost.
const REGISTRY = '(?:(?:localhost|[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+)(?::[0-9]{1,5})?|[A-Za-z0-9-]+:[0-9]{1,5})/';
const IMAGE = new RegExp(
  `^(?:${REGISTRY})?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);

export function validateImage(image: unknown): string {
  if (typeof image !== 'string' || image.length === 0) throw invalid('image must not be empty');
  if (image.length > 255 || !IMAGE.test(image))
    throw invalid(`image ${JSON.stringify(image)} is not a valid image reference`);
  return image;
}

/**
 * geard's slice names: its memory classes (container-small was its
 * default), which gear does not have; its containers run in gear's default
 * slice, whether named over the API or on the command line.
 */
const GEARD_SLICES = new Set(['container', 'container-small', 'container-large']);
export const isGeardSlice = (slice: string) => GEARD_SLICES.has(slice);

/**
 * systemd slice names: dash-separated path components, ending in .slice.
 * gear runs containers in its own slice or below it (gear-NAME.slice is a
 * child of gear.slice): never in system.slice, user.slice or the root one.
 */
const SLICE = /^[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*\.slice$/;
export function validateSlice(slice: unknown): string {
  if (typeof slice !== 'string' || !SLICE.test(slice) || slice.length > 128)
    throw invalid(`slice ${JSON.stringify(slice)} is not a valid systemd slice name (e.g. gear-web.slice)`);
  if (slice !== 'gear.slice' && !slice.startsWith('gear-'))
    throw invalid(`slice ${JSON.stringify(slice)} is not gear's: containers run in gear.slice or a gear-NAME.slice below it`);
  return slice;
}
