import { invalid } from './errors.js';

/** A host directory or file mounted into the container. */
export interface BindMount {
  HostPath: string;
  ContainerPath: string;
  ReadOnly: boolean;
}

/** Anonymous volumes (container paths) live and die with the container; bind mounts persist on the host. */
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

export function validateVolumeConfig(value: unknown): VolumeConfig {
  if (value === undefined || value === null) return { Volumes: [], BindMounts: [] };
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('VolumeConfig must be an object {Volumes, BindMounts}');
  const { Volumes = [], BindMounts = [] } = value as Record<string, unknown>;
  if (!Array.isArray(Volumes) || !Array.isArray(BindMounts)) throw invalid('VolumeConfig.Volumes and .BindMounts must be lists');
  return {
    Volumes: Volumes.map((v) => validatePath(v, 'volume path')),
    BindMounts: BindMounts.map((b: unknown) => {
      const m = (b ?? {}) as Record<string, unknown>;
      if (m.ReadOnly !== undefined && typeof m.ReadOnly !== 'boolean') throw invalid('BindMounts[].ReadOnly must be true or false');
      return {
        HostPath: validatePath(m.HostPath, 'host path'),
        ContainerPath: validatePath(m.ContainerPath, 'container path'),
        ReadOnly: m.ReadOnly === true,
      };
    }),
  };
}
