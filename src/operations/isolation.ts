import { promises as fsp } from 'node:fs';
import type { Host } from '../host/context.js';
import { runCaptured } from '../host/exec.js';
import { KEYS_LOCK } from '../host/keys.js';
import type { ContainerDefinition } from '../model/definition.js';
import { failed, invalid } from '../model/errors.js';
import { hostUserComment, hostUserName, imageUserRefusal, mcsLevel, selinuxMode, type Isolation, type SelinuxMode } from '../model/isolation.js';
import type { NamedVolume } from '../model/volumes.js';
import { attempt } from './common.js';

/**
 * Isolated containers on the host: their uid and host user, the volumes
 * gear made for them given to that uid, their host user removed with them.
 * Pure rules in model/isolation.ts; choices in docs/decisions.md.
 */

/**
 * The host's SELinux mode: selinuxfs under the host's root, else this
 * process's own /sys (SELinux is the kernel's, one for every namespace; a
 * container such as the SPC may see the host's / without its selinuxfs
 * mount). Neither there: disabled.
 */
export async function hostSelinux(host: Host): Promise<SelinuxMode> {
  const enforce = await host.fs.read('/sys/fs/selinux/enforce');
  if (enforce !== undefined || host.fs.root === '/') return selinuxMode(enforce);
  return selinuxMode(await fsp.readFile('/sys/fs/selinux/enforce', 'utf8').catch(() => undefined));
}

/** Refuse (400, nothing changed) an image that cannot run as the container's uid; checked after the pull. */
export async function checkImageIsolable(host: Host, image: string): Promise<void> {
  const user = await host.docker.imageUser?.(image);
  if (user === undefined) throw failed(`image ${image} is not on this host`);
  const refusal = imageUserRefusal(image, user);
  if (refusal) throw invalid(refusal);
}

/**
 * The container's isolation: the one its definition has (same uid for
 * good: re-install, update, restart, reboot), or a new one when asked. Its
 * host user and group are made when missing (also after someone removed
 * them). `undo` gives back what this call took, on a failed install.
 */
export async function isolationOf(host: Host, id: string, asked: boolean, old?: Isolation): Promise<{ iso?: Isolation; undo: () => Promise<void> }> {
  if (!old && !asked) return { iso: undefined, undo: async () => undefined };
  const { uid, fresh } = old ? { uid: old.Uid, fresh: false } : await host.uids.reserve(id);
  let iso: Isolation = old ?? { Uid: uid, Gid: uid, User: hostUserName(id, uid) };
  let made = false;
  const undo = async () => {
    if (made) await attempt(() => host.users.remove(iso.User, iso.Uid, iso.Gid, hostUserComment(id)));
    if (fresh) await attempt(() => host.uids.release(id, uid));
  };
  try {
    if (!old) {
      // An MCS level only where SELinux enforces it (and where the range gives the uid one).
      const index = uid - host.config.uidRange.first;
      if ((await hostSelinux(host)) === 'enforcing' && index >= 0) iso = { ...iso, Label: mcsLevel(index) };
    }
    made = await host.users.ensure(iso.User, iso.Uid, iso.Gid, hostUserComment(id));
  } catch (err) {
    await undo();
    throw err;
  }
  return { iso, undo };
}

/**
 * Give the container's volumes (gear's, named, labelled for it: checked by
 * createVolumes before) to its uid. Docker copies an image's content into
 * an empty volume, and with it the owner (root), at every mount unless the
 * mount says nocopy: isolated containers mount theirs with nocopy, so the
 * copy is made here once (a container created and removed, never run),
 * then the volume's tree is given to the uid. A volume whose top is the
 * uid's already is left as it is (a re-install, a restart): its data is
 * the container's. Bind mounts are the host's, never touched.
 */
export async function ownVolumes(host: Host, def: Pick<ContainerDefinition, 'Id' | 'Image' | 'Isolation'>, volumes: NamedVolume[]): Promise<void> {
  const iso = def.Isolation;
  if (!iso || !volumes.length) return;
  const pending: { volume: NamedVolume; path: string }[] = [];
  for (const volume of volumes) {
    const mountpoint = (await host.docker.volume(volume.Name))?.Mountpoint;
    if (!mountpoint) throw failed(`docker: volume ${volume.Name} has no mount point on this host (gear gives isolated containers local volumes)`);
    const path = host.fs.local(mountpoint);
    const st = await fsp.lstat(path);
    if (st.uid !== iso.Uid || st.gid !== iso.Gid) pending.push({ volume, path });
  }
  if (!pending.length) return;
  if (!host.docker.copyIntoVolumes) throw failed('docker: cannot fill volumes here');
  await host.docker.copyIntoVolumes(def.Image, pending.map((p) => `${p.volume.Name}:${p.volume.Path}`), def.Id);
  for (const p of pending) {
    // chown -R -P: fts walks by file descriptors and never follows a symbolic
    // link, so what the data holds (links to /etc...) cannot redirect it.
    const r = await runCaptured(['chown', '-R', '-P', '--no-dereference', `${iso.Uid}:${iso.Gid}`, p.path], { timeoutMs: 600_000 });
    if (r.code !== 0) throw failed(`cannot give volume ${p.volume.Name} to uid ${iso.Uid}: ${r.stderr.trim().split('\n')[0]}`);
  }
}

/**
 * Before an SSH login's user is removed: its systemd user manager
 * (user@UID.service, which logind keeps for a while after the last logout,
 * and which would make userdel refuse) is stopped. A login still open
 * keeps its processes, and userdel then says so.
 */
export async function endLogins(host: Host, uid: number): Promise<void> {
  await attempt(() => host.systemd.stop(`user@${uid}.service`));
}

/** After a delete: the container's host user and group, and its uid, are given back. */
export async function releaseIsolation(host: Host, id: string, iso: Isolation | undefined): Promise<void> {
  // SSH keys granted to the container's login go with it: a new container of that name starts with none.
  const login = await host.keys.has(`ctr-${id}`);
  await host.locks.with(KEYS_LOCK, () => host.keys.revokeAll(`ctr-${id}`));
  const uid = iso?.Uid ?? (await host.uids.of(id));
  if (uid === undefined) return;
  if (login) await endLogins(host, uid);
  // Without a definition (an install that crashed before it): the user it would have made.
  const i = iso ?? { Uid: uid, Gid: uid, User: hostUserName(id, uid) };
  await host.users.remove(i.User, i.Uid, i.Gid, hostUserComment(id));
  await host.uids.release(id, uid);
}
