import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { invalid } from './errors.js';
import { validateName } from './names.js';
import { closed, nullable } from './schema.js';

/** A host directory or file mounted into the container. */
export interface BindMount {
  HostPath: string;
  ContainerPath: string;
  ReadOnly: boolean;
}

/**
 * Volumes (container paths, `-v /path`) become named volumes of the
 * container (see NamedVolume); bind mounts are host paths.
 */
export interface VolumeConfig {
  Volumes: string[];
  BindMounts: BindMount[];
}

/**
 * Absolute, normalised paths without ":" (Docker's -v separator), "," or
 * control characters. Other characters (spaces, quotes, "$", "%") are allowed
 * and quoted when the unit is rendered.
 */
export function validatePath(path: unknown, what: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) throw invalid(`${what} ${JSON.stringify(path)} must be an absolute path`);
  if (path.length > 1024) throw invalid(`${what} is longer than 1024 characters`);
  if (/[\x00-\x1f\x7f:,]/.test(path)) throw invalid(`${what} ${JSON.stringify(path)} must not contain ":", "," or control characters`);
  const parts = path.split('/').slice(1);
  if (path !== '/' && parts.some((p) => p === '' || p === '.' || p === '..'))
    throw invalid(`${what} ${JSON.stringify(path)} must be normalised (no "//", ".", ".." or trailing "/")`);
  return path;
}

/** Parse the CLI's `-v HOST:CONTAINER[:ro|rw]` (bind mount) or `-v CONTAINER` (anonymous volume). */
export function parseVolumeFlag(flag: string, into: VolumeConfig): void {
  const parts = flag.split(':');
  if (parts.length === 1) {
    into.Volumes.push(validatePath(parts[0], 'volume path'));
    return;
  }
  const [host, ctr, mode = 'rw', ...rest] = parts;
  if (rest.length > 0 || (mode !== 'ro' && mode !== 'rw'))
    throw invalid(`volume ${JSON.stringify(flag)} must look like HOST_PATH:CONTAINER_PATH[:ro|rw]`);
  into.BindMounts.push({
    HostPath: validatePath(host, 'host path'),
    ContainerPath: validatePath(ctr, 'container path'),
    ReadOnly: mode === 'ro',
  });
}

/**
 * VolumeConfig as the API takes it; validateVolumeConfig checks the paths.
 * Also geard's form: Volumes as `[{Path}]` and VolumeMounts
 * `[{Path, HostPath, ReadOnly}]`, where (as geard handed them to docker,
 * `-v Path:HostPath`) Path is the host's side and HostPath the container's.
 */
const PathSchema = Type.String({ maxLength: 1024 });
export const VolumeConfigSchema = Type.Object(
  {
    Volumes: Type.Optional(nullable(Type.Array(Type.Union([PathSchema, Type.Object({ Path: PathSchema }, closed)]), { maxItems: 64 }))),
    BindMounts: Type.Optional(
      Type.Array(Type.Object({ HostPath: PathSchema, ContainerPath: PathSchema, ReadOnly: Type.Optional(Type.Boolean()) }, closed), { maxItems: 64 }),
    ),
    VolumeMounts: Type.Optional(
      nullable(Type.Array(Type.Object({ Path: PathSchema, HostPath: PathSchema, ReadOnly: Type.Optional(Type.Boolean()) }, closed), { maxItems: 64 })),
    ),
  },
  closed,
);

/** The API's VolumeConfig (checked against VolumeConfigSchema): absolute, normalised paths; absent or null parts empty. */
export function validateVolumeConfig(config: Static<typeof VolumeConfigSchema> | null = {}): VolumeConfig {
  const mounts = [
    ...(config?.BindMounts ?? []).map((b) => ({ host: b.HostPath, ctr: b.ContainerPath, ro: b.ReadOnly, at: 'BindMounts' })),
    // geard's VolumeMounts: Path on the host, HostPath in the container.
    ...(config?.VolumeMounts ?? []).map((m) => ({ host: m.Path, ctr: m.HostPath, ro: m.ReadOnly, at: 'VolumeMounts' })),
  ];
  if (mounts.length > 64) throw invalid('VolumeConfig has more than 64 bind mounts');
  return {
    Volumes: (config?.Volumes ?? []).map((v) => validatePath(typeof v === 'string' ? v : v.Path, 'volume path')),
    BindMounts: mounts.map((b) => ({
      HostPath: validatePath(b.host, 'host path'),
      ContainerPath: validatePath(b.ctr, 'container path'),
      ReadOnly: b.ro === true,
    })),
  };
}

/**
 * A volume of a container: a named Docker volume that gear created for it
 * (labelled as gear's), mounted by name, so it outlives every stop, crash,
 * `docker rm` and reboot. Only `gear delete` removes it.
 */
export interface NamedVolume {
  Name: string;
  /** Where it is mounted in the container. */
  Path: string;
}

/** Labels on every volume gear creates: whose it is and where it is mounted. */
const VOLUME_LABEL = 'io.gear.volume';
const CONTAINER_LABEL = 'io.gear.container';
const PATH_LABEL = 'io.gear.path';

/** The longest part of a volume's name taken from its path. */
const SLUG_LENGTH = 40;

/**
 * The volume name of a container's path: `gear.NAME.SLUG.HASH`, e.g.
 * `gear.db-1.var-lib-postgresql-data.3f2a9c01`. Deterministic (a reinstall of
 * the same name and path finds it again), readable (the slug is the path,
 * "/" as "-", other characters outside Docker's alphabet as "_", cut to 40),
 * and collision-free: the hash is of name and path, which the slug may not
 * render faithfully.
 */
export function volumeNameOf(id: string, path: string): string {
  const slug = path === '/' ? 'root' : path.slice(1).replace(/[^A-Za-z0-9_./]/g, '_').replace(/\//g, '-').slice(0, SLUG_LENGTH);
  const hash = createHash('sha256').update(`${id}\0${path}`).digest('hex').slice(0, 8);
  return `gear.${id}.${slug}.${hash}`;
}

export const volumeLabels = (id: string, path: string): Record<string, string> => ({
  [VOLUME_LABEL]: '1',
  [CONTAINER_LABEL]: id,
  [PATH_LABEL]: path,
});

/** A volume (name and labels, as Docker reports them) is the one gear made for this container and path. */
export function isVolumeOf(volume: { Name: string; Labels?: Record<string, string> | null }, id: string, path: string): boolean {
  const l = volume.Labels ?? {};
  return l[VOLUME_LABEL] === '1' && l[CONTAINER_LABEL] === id && l[PATH_LABEL] === path && volume.Name === volumeNameOf(id, path);
}

/** An image's VOLUME, as a path gear can mount by name (Docker keeps them as the Dockerfile wrote them). */
export function imageVolumePath(path: string, image: string): string {
  const clean = path.startsWith('/') ? posix.normalize(path).replace(/(.)\/$/, '$1') : path;
  try {
    return validatePath(clean, 'volume path');
  } catch (err) {
    throw invalid(`image ${image} declares VOLUME ${JSON.stringify(path)}, which gear cannot mount by name: ${(err as Error).message}`);
  }
}

/**
 * Every volume of a container: its `-v /path` volumes, then the image's own
 * VOLUMEs (sorted), each path once; a bind mount on the same path wins.
 */
export function planVolumes(id: string, config: VolumeConfig, imageVolumes: string[]): NamedVolume[] {
  const bound = new Set(config.BindMounts.map((b) => b.ContainerPath));
  const paths = new Set([...config.Volumes, ...[...imageVolumes].sort()].filter((p) => !bound.has(p)));
  return [...paths].map((Path) => ({ Name: volumeNameOf(id, Path), Path }));
}

/**
 * Volumes read back from gear's state (a definition, or a volume record):
 * checked again, so a file edited by hand can never make gear mount or
 * remove a volume under a name it would not have given.
 */
export function validateNamedVolumes(value: unknown, id: string, where: string): NamedVolume[] {
  validateName(id);
  if (!Array.isArray(value)) throw invalid(`${where}: volumes must be a list`);
  return value.map((v: unknown) => {
    const { Name, Path } = (v ?? {}) as Record<string, unknown>;
    const path = validatePath(Path, `${where}: volume path`);
    if (Name !== volumeNameOf(id, path)) throw invalid(`${where}: volume ${JSON.stringify(Name)} is not the name gear gives ${id}'s ${path}`);
    return { Name, Path: path };
  });
}

/** Volumes of `a` whose name is not in `b`. */
export const volumesNotIn = (a: NamedVolume[], b: NamedVolume[]): NamedVolume[] => a.filter((v) => !b.some((w) => w.Name === v.Name));
