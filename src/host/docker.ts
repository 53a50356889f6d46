import type Dockerode from 'dockerode';
import { failed, notFound } from '../model/errors.js';

/** One line of pull progress, as Docker reports it per layer. */
export interface PullProgress {
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface ContainerInfo {
  Id: string;
  Name: string;
  Status: string;
  Running: boolean;
  Pid: number;
  ExitCode: number;
  StartedAt: string;
  Image: string;
  /** The container's address and gateway on its (first) network; empty with --net=host or none. */
  IPAddress: string;
  Gateway: string;
  /** Docker's health state (starting, healthy, unhealthy) when the container has a check. */
  Health?: string;
}

/** What gear needs of the container runtime. */
export interface Docker {
  pull(ref: string, onProgress?: (p: PullProgress) => void): Promise<void>;
  /** The container by name, or undefined if there is none. */
  inspect(name: string): Promise<ContainerInfo | undefined>;
  remove(name: string): Promise<void>;
  /** The image's own VOLUMEs (paths as the image declares them), or undefined when the image is not here. */
  imageVolumes(ref: string): Promise<string[] | undefined>;
  /** A volume by name, or undefined if there is none. */
  volume(name: string): Promise<VolumeInfo | undefined>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Remove a volume; one already gone is not an error. */
  removeVolume(name: string): Promise<void>;
  /** Every container (in any state) that has the label `key`, whatever its value. */
  containersLabelled(key: string): Promise<LabelledContainer[]>;
  /** Every volume that has the label `key`, whatever its value. */
  volumesLabelled(key: string): Promise<VolumeInfo[]>;
  /** The image's configured USER ("" when none), or undefined when the image is not here (isolation's check). */
  imageUser?(ref: string): Promise<string | undefined>;
  /**
   * Create a container of `image` with these volumes mounted (`NAME:/path`)
   * and remove it, never started: Docker copies the image's content at each
   * path into an empty volume at the create (isolated containers mount
   * theirs with nocopy, so gear has this copy made first).
   */
  copyIntoVolumes?(image: string, binds: string[], label: string): Promise<void>;
  /** Docker's cgroup driver ("systemd", "cgroupfs"), for the unit's --cgroup-parent; absent in fakes. */
  cgroupDriver?(): Promise<string>;
  /** The engine's version and API version (one request, not cached), for `gear doctor`; absent in fakes. */
  version?(): Promise<{ Version: string; ApiVersion: string }>;
}

export interface LabelledContainer {
  /** The full id. */
  Id: string;
  Name: string;
  Labels: Record<string, string>;
}

export interface VolumeInfo {
  Name: string;
  Labels: Record<string, string> | null;
  /** Host path of its data (the local driver's); from inspect only. */
  Mountpoint?: string;
}

/** Docker's own API over its unix socket (dockerode). */
const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;
/**
 * Docker's reason, or, when nothing answers on its socket (dockerd stopped
 * or never started), that plainly with what to do: a bare "connect
 * ECONNREFUSED /run/docker.sock" names neither.
 */
const reasonOf = (err: unknown) => {
  const e = err as NodeJS.ErrnoException & { json?: { message?: string }; address?: string };
  if (e.syscall === 'connect' && (e.code === 'ECONNREFUSED' || e.code === 'ENOENT'))
    return `Docker is not running (nothing answers on ${e.address ?? 'its socket'}); start it (systemctl start docker) and try again`;
  return e.json?.message ?? e.message;
};

export class DockerodeDocker implements Docker {
  private client?: Promise<Dockerode>;

  constructor(private readonly socketPath: string) {}

  /** Loaded on first use: commands that never talk to Docker do not pay for loading dockerode. */
  private get api(): Promise<Dockerode> {
    return (this.client ??= import('dockerode').then(({ default: Dockerode }) => new Dockerode({ socketPath: this.socketPath })));
  }

  async pull(ref: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    const api = await this.api;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await api.pull(ref);
    } catch (err) {
      const code = statusOf(err);
      const reason = reasonOf(err);
      if (code === 404) throw notFound(`image ${ref} is not on this host and cannot be pulled: ${reason}`);
      throw failed(`image ${ref} is not on this host and cannot be pulled: ${reason}`);
    }
    // followProgress reports success even when a line says {"error": ...}: look for it ourselves.
    let streamError: string | undefined;
    await new Promise<void>((resolve, reject) => {
      api.modem.followProgress(
        stream,
        // The stream cut short ("aborted"): dockerd went away mid-pull, and whatever it had is its own to clean up.
        (err: Error | null) =>
          err ? reject(failed(`pulling ${ref} was cut off (${reasonOf(err)}): Docker stopped answering; once it runs again (systemctl start docker), try again`)) : resolve(),
        (event: { error?: string; status?: string; id?: string; progressDetail?: { current?: number; total?: number } }) => {
          if (event.error) streamError = event.error;
          else if (event.status)
            onProgress?.({ id: event.id, status: event.status, current: event.progressDetail?.current, total: event.progressDetail?.total });
        },
      );
    });
    if (streamError) throw failed(`pulling ${ref} failed: ${streamError}`);
  }

  async inspect(name: string): Promise<ContainerInfo | undefined> {
    try {
      const c = await (await this.api).getContainer(name).inspect();
      const nets = Object.values(c.NetworkSettings?.Networks ?? {}) as { IPAddress?: string; Gateway?: string }[];
      const net = nets.find((n) => n.IPAddress) ?? { IPAddress: '', Gateway: '' };
      return {
        Id: c.Id,
        Name: c.Name.replace(/^\//, ''),
        Status: c.State.Status,
        Running: c.State.Running,
        Pid: c.State.Pid,
        ExitCode: c.State.ExitCode,
        StartedAt: c.State.StartedAt,
        Image: c.Config.Image,
        IPAddress: net.IPAddress ?? '',
        Gateway: net.Gateway ?? '',
        ...(c.State.Health?.Status ? { Health: c.State.Health.Status } : {}),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failed(`docker: cannot inspect container ${name}: ${(err as Error).message}`);
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await (await this.api).getContainer(name).remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw failed(`docker: cannot remove ${name}: ${(err as Error).message}`);
    }
  }

  private info?: Promise<{ CgroupDriver?: string }>;
  /** docker info, once per process (none of what gear reads changes while dockerd runs). */
  private dockerInfo() {
    return (this.info ??= this.api
      .then((api) => api.info() as Promise<{ CgroupDriver?: string }>)
      .catch((err) => {
        this.info = undefined;
        throw failed(`docker: cannot read docker info: ${reasonOf(err)}`);
      }));
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    try {
      const v = (await (await this.api).version()) as { Version?: string; ApiVersion?: string };
      return { Version: v.Version ?? '?', ApiVersion: v.ApiVersion ?? '?' };
    } catch (err) {
      throw failed(`docker: ${reasonOf(err)}`);
    }
  }

  async cgroupDriver(): Promise<string> {
    return (await this.dockerInfo()).CgroupDriver ?? '';
  }

  async imageVolumes(ref: string): Promise<string[] | undefined> {
    try {
      const image = await (await this.api).getImage(ref).inspect();
      return Object.keys(image.Config?.Volumes ?? {});
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failed(`docker: cannot inspect image ${ref}: ${reasonOf(err)}`);
    }
  }

  async volume(name: string): Promise<VolumeInfo | undefined> {
    try {
      const v = await (await this.api).getVolume(name).inspect();
      return { Name: v.Name, Labels: v.Labels ?? null, Mountpoint: v.Mountpoint };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failed(`docker: cannot inspect volume ${name}: ${reasonOf(err)}`);
    }
  }

  async imageUser(ref: string): Promise<string | undefined> {
    try {
      return (await (await this.api).getImage(ref).inspect()).Config?.User ?? '';
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failed(`docker: cannot inspect image ${ref}: ${reasonOf(err)}`);
    }
  }

  async copyIntoVolumes(image: string, binds: string[], label: string): Promise<void> {
    const api = await this.api;
    let id: string | undefined;
    try {
      // A command of its own: an image without CMD cannot be created otherwise (it never runs).
      const c = await api.createContainer({ Image: image, Cmd: ['/gear-copy-up'], Entrypoint: [], Labels: { 'io.gear.copy-up': label }, HostConfig: { Binds: binds } });
      id = c.id;
    } catch (err) {
      throw failed(`docker: cannot fill volumes from ${image}: ${reasonOf(err)}`);
    } finally {
      // Named volumes stay (v: false); only the container goes.
      if (id) await api.getContainer(id).remove({ v: false, force: true }).catch(() => undefined);
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await (await this.api).createVolume({ Name: name, Labels: labels });
    } catch (err) {
      throw failed(`docker: cannot create volume ${name}: ${reasonOf(err)}`);
    }
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await (await this.api).getVolume(name).remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw failed(`docker: cannot remove volume ${name}: ${reasonOf(err)}`);
    }
  }

  async containersLabelled(key: string): Promise<LabelledContainer[]> {
    try {
      const list = await (await this.api).listContainers({ all: true, filters: { label: [key] } });
      return list.map((c) => ({ Id: c.Id, Name: (c.Names?.[0] ?? '').replace(/^\//, ''), Labels: c.Labels ?? {} }));
    } catch (err) {
      throw failed(`docker: cannot list containers: ${reasonOf(err)}`);
    }
  }

  async volumesLabelled(key: string): Promise<VolumeInfo[]> {
    try {
      const list = await (await this.api).listVolumes({ filters: { label: [key] } });
      return (list.Volumes ?? []).map((v) => ({ Name: v.Name, Labels: v.Labels ?? null }));
    } catch (err) {
      throw failed(`docker: cannot list volumes: ${reasonOf(err)}`);
    }
  }
}
