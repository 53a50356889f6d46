import { Type } from '@sinclair/typebox';
import { promises as fsp } from 'node:fs';
import { runCaptured } from '../host/exec.js';
import type { Host } from '../host/context.js';
import {
  cgroupFinding,
  cgroupMode,
  dockerFinding,
  runtimeFinding,
  doctorText,
  iptablesFinding,
  networkOnlineFinding,
  propagationFinding,
  rootPropagation,
  selinuxFinding,
  stateDirFinding,
  systemdFinding,
  tokenFinding,
  unreadable,
  type DoctorReport,
  type FileFacts,
} from '../model/doctor.js';
import { closed } from '../model/schema.js';
import { VERSION } from '../version.js';
import { hostSelinux } from './isolation.js';
import { defineOperation } from './operation.js';

/** A check that cannot answer in this time is reported as such (a hung Docker socket must not hang the doctor). */
const CHECK_MS = 10_000;

const reason = (err: unknown) => (err as Error).message ?? String(err);

/** `f()`'s value, or the reason it failed (or timed out). */
async function attempt<T>(f: () => Promise<T>): Promise<{ value: T } | { reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_MS / 1000} s`)), CHECK_MS)));
    return { value: await Promise.race([f(), timeout]) };
  } catch (err) {
    return { reason: reason(err) };
  } finally {
    clearTimeout(timer);
  }
}
const valueOf = <T>(r: { value: T } | { reason: string }) => ('value' in r ? r.value : undefined);
const reasonOf = (r: { value: unknown } | { reason: string }) => ('reason' in r ? r.reason : undefined);

/** A path's mode and owner without following a symlink; undefined when it does not exist. */
async function fileFacts(localPath: string): Promise<FileFacts | undefined> {
  try {
    const st = await fsp.lstat(localPath);
    return { mode: st.mode, uid: st.uid, isDirectory: st.isDirectory(), isFile: st.isFile(), isSymlink: st.isSymbolicLink() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const exists = (path: string) => fsp.access(path).then(() => true, () => false);

/**
 * What is wrong with this host for gear, each finding with what to do. The
 * kernel's facts (cgroups, SELinux, mounts) are read from this process's
 * /sys and /proc: the agent's image shares the host's kernel and pid
 * namespace (--pid=host), so /proc/1 is the host's init.
 */
export async function examine(host: Host): Promise<DoctorReport> {
  const { config } = host;
  const [sd, wants, docker, iptables, mountinfo, topControllers, unified, selinux, state, token, client] = await Promise.all([
    attempt(() => host.systemd.version?.() ?? Promise.reject(new Error('not supported here'))),
    attempt(() => host.systemd.wants?.('network-online.target') ?? Promise.reject(new Error('not supported here'))),
    attempt(() => host.docker.version?.() ?? Promise.reject(new Error('not supported here'))),
    attempt(async () => {
      const r = await runCaptured(['iptables', '--version'], { timeoutMs: CHECK_MS });
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    }),
    attempt(() => fsp.readFile('/proc/1/mountinfo', 'utf8')),
    exists('/sys/fs/cgroup/cgroup.controllers'),
    exists('/sys/fs/cgroup/unified'),
    hostSelinux(host), // as install reads it for isolated containers
    attempt(async () => ({ dir: await fileFacts(host.fs.local(config.stateDir)), env: await envFacts(host) })),
    attempt(async () => (config.noTokenFile ? undefined : fileFacts(config.tokenFile ?? host.fs.local(`${config.stateDir}/token`)))),
    attempt(() => host.units.docker()),
  ]);
  const version = valueOf(sd);
  const tokenPath = config.noTokenFile ? undefined : (config.tokenFile ?? `${config.stateDir}/token`);
  return {
    Version: VERSION,
    Time: Date.now(),
    Findings: [
      systemdFinding(version, reasonOf(sd)),
      cgroupFinding(cgroupMode({ topControllers, unified }), version),
      runtimeFinding(config.runtime ?? 'docker', valueOf(client), reasonOf(client)),
      dockerFinding(config.runtimeService, valueOf(docker), reasonOf(docker), config.runtime ?? 'docker'),
      iptablesFinding(valueOf(iptables), reasonOf(iptables)),
      networkOnlineFinding(valueOf(wants), reasonOf(wants)),
      propagationFinding(mountinfo && 'value' in mountinfo ? rootPropagation(mountinfo.value) : undefined, reasonOf(mountinfo)),
      'value' in state ? stateDirFinding(config.stateDir, state.value.dir, state.value.env) : unreadable('state-dir', config.stateDir, state.reason),
      'value' in token ? tokenFinding(tokenPath, token.value, config.tokenFile !== undefined) : unreadable('token-file', tokenPath ?? '', token.reason),
      selinuxFinding(selinux),
    ],
  };
}

/** The mode and owner of each environment file (they may hold secrets). */
async function envFacts(host: Host): Promise<{ name: string; facts: FileFacts }[]> {
  const dir = `${host.config.stateDir}/env`;
  const names = (await host.fs.list(dir).catch(() => [])).filter((n) => n.endsWith('.env'));
  const facts = await Promise.all(names.map((n) => fileFacts(host.fs.local(`${dir}/${n}`))));
  return names.flatMap((name, i) => (facts[i] ? [{ name, facts: facts[i]! }] : []));
}

export const doctor = defineOperation({
  name: 'doctor',
  method: 'GET',
  path: '/doctor',
  summary: "What is wrong with this host for gear: systemd, cgroups, Docker, iptables, network-online.target, mount propagation of /, the state directory, the token file, SELinux; each finding ok/warning/error with what to do, and the host's clock and gear version",
  query: Type.Object({}, closed),
  mutates: false,
  http: { text: (r: DoctorReport) => doctorText([{ host: 'this host', findings: r.Findings }], []) },
  parse: () => ({}),
  run: (host) => examine(host),
});
