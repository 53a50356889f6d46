/**
 * `gear doctor`'s pure part: the findings' shape, the rules that turn facts
 * read from a host into findings, the checks across hosts (clock skew,
 * agent versions) and the text a user reads. No I/O: operations/doctor.ts
 * reads the facts.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { SelinuxMode } from './isolation.js';

export const LEVELS = ['ok', 'warning', 'error'] as const;
export type Level = (typeof LEVELS)[number];

export const FindingSchema = Type.Object({
  /** A stable name of the check: "systemd", "cgroup", "docker", ... */
  Check: Type.String(),
  Level: Type.Union(LEVELS.map((l) => Type.Literal(l))),
  /** What was found, one line. */
  Message: Type.String(),
  /** What to do about it (absent when nothing is to be done). */
  Fix: Type.Optional(Type.String()),
});
export type Finding = Static<typeof FindingSchema>;

export const DoctorReportSchema = Type.Object({
  /** The agent's (or the local CLI's) gear version. */
  Version: Type.String(),
  /** The host's clock when it read the facts, milliseconds since the epoch. */
  Time: Type.Number(),
  Findings: Type.Array(FindingSchema),
});
export type DoctorReport = Static<typeof DoctorReportSchema>;

const ok = (Check: string, Message: string): Finding => ({ Check, Level: 'ok', Message });
const warning = (Check: string, Message: string, Fix: string): Finding => ({ Check, Level: 'warning', Message, Fix });
const error = (Check: string, Message: string, Fix: string): Finding => ({ Check, Level: 'error', Message, Fix });

/** The oldest systemd gear is tested against; older ones lack directives its units use. */
export const MIN_SYSTEMD = 245;
/** The first systemd that refuses to boot with cgroup v1. */
export const SYSTEMD_WITHOUT_V1 = 256;

/** "252 (252.38-1~deb12u1)" or "252.38-1~deb12u1": the major number. */
export const systemdMajor = (version: string): number | undefined => {
  const m = /^v?([0-9]+)/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
};

export function systemdFinding(version: string | undefined, reason?: string): Finding {
  if (version === undefined) return error('systemd', `systemd is not reachable over DBus: ${reason ?? 'no answer'}`, 'gear needs systemd as PID 1 and its system bus (/run/dbus/system_bus_socket); the SPC needs -v /run:/run');
  const major = systemdMajor(version);
  if (major === undefined) return warning('systemd', `systemd version ${version} not understood`, `gear is tested with systemd ${MIN_SYSTEMD} and later`);
  if (major < MIN_SYSTEMD) return warning('systemd', `systemd ${version} is older than ${MIN_SYSTEMD}`, `upgrade systemd to ${MIN_SYSTEMD} or later: older ones may not know every directive gear's units use`);
  return ok('systemd', `systemd ${version}`);
}

export type CgroupMode = 'v2' | 'hybrid' | 'v1';

/** The cgroup mode from what /sys/fs/cgroup holds: cgroup.controllers at its top is v2, a unified/ beside v1 controllers is hybrid. */
export function cgroupMode(has: { topControllers: boolean; unified: boolean }): CgroupMode {
  if (has.topControllers) return 'v2';
  return has.unified ? 'hybrid' : 'v1';
}

export function cgroupFinding(mode: CgroupMode, systemdVersion: string | undefined): Finding {
  if (mode === 'v2') return ok('cgroup', 'cgroup v2 (unified)');
  const major = systemdVersion === undefined ? undefined : systemdMajor(systemdVersion);
  const what = `cgroup ${mode === 'hybrid' ? 'v1 (hybrid: v1 controllers, v2 for systemd)' : 'v1 (legacy)'}`;
  const fix = 'boot with systemd.unified_cgroup_hierarchy=1 (and without SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE) to use cgroup v2';
  if (major !== undefined && major >= SYSTEMD_WITHOUT_V1) return error('cgroup', `${what}: systemd ${major} no longer supports it`, fix);
  return ok('cgroup', `${what}; works with systemd before ${SYSTEMD_WITHOUT_V1}`);
}

export function dockerFinding(runtimeService: string, version: { Version: string; ApiVersion: string } | undefined, reason?: string, runtime: 'docker' | 'podman' = 'docker'): Finding {
  const what = runtime === 'podman' ? "podman's Docker API" : 'Docker';
  if (!version)
    return error('docker', `${what} is not reachable: ${reason ?? 'no answer'}`, `start it: systemctl start ${runtimeService}; check its socket (DOCKER_HOST, ${runtime === 'podman' ? '/run/podman/podman.sock' : '/run/docker.sock'})`);
  return ok('docker', `${what} ${version.Version} (API ${version.ApiVersion}) reachable`);
}

/**
 * Which runtime runs this host's containers (GEAR_RUNTIME) and the client
 * its units run; no client is an error (no unit could start).
 */
export function runtimeFinding(runtime: 'docker' | 'podman', client: string | undefined, reason?: string): Finding {
  if (!client) return error('runtime', `containers run with ${runtime}, but its client is missing: ${reason ?? 'not found'}`, `install ${runtime}, or set GEAR_DOCKER_BIN`);
  const how = runtime === 'podman' ? ' (units run podman run; gear uses its Docker API, podman.socket)' : '';
  return ok('runtime', `containers run with ${runtime}: ${client}${how}`);
}

/** "iptables v1.8.9 (nf_tables)" -> nft; "(legacy)" -> legacy; before 1.8 there was only legacy. */
export function iptablesBackend(versionLine: string): { version: string; backend: 'nft' | 'legacy' } | undefined {
  const m = /^iptables v([0-9][0-9.]*)(?: \(([a-z_]+)\))?/.exec(versionLine.trim());
  if (!m) return undefined;
  return { version: m[1]!, backend: m[2] === 'nf_tables' ? 'nft' : 'legacy' };
}

export function iptablesFinding(versionLine: string | undefined, reason?: string): Finding {
  if (versionLine === undefined) return error('iptables', `iptables cannot run: ${reason ?? 'not found'}`, 'install iptables: gear programs container links with iptables-restore');
  const b = iptablesBackend(versionLine);
  if (!b) return warning('iptables', `iptables answered "${versionLine.trim()}"`, 'gear expects iptables 1.8 or later (nf_tables or legacy)');
  return ok('iptables', `iptables ${b.version}, ${b.backend === 'nft' ? 'nf_tables' : 'legacy'} backend${b.backend === 'legacy' ? ' (Docker must use the same backend)' : ''}`);
}

/** What network-online.target pulls in: gear's units order themselves after it, which waits only when a wait-online service is wanted. */
export function networkOnlineFinding(target: { loadState: string; wants: string[] } | undefined, reason?: string): Finding {
  if (!target) return warning('network-online', `cannot read network-online.target: ${reason ?? 'no answer'}`, 'check systemd: systemctl show network-online.target');
  if (target.loadState !== 'loaded') return error('network-online', `network-online.target is ${target.loadState}`, "gear's units are ordered after network-online.target: it must exist (it ships with systemd)");
  const waiters = target.wants.filter((u) => /wait-online/.test(u));
  if (waiters.length) return ok('network-online', `network-online.target waits for ${waiters.join(', ')}`);
  return warning(
    'network-online',
    'network-online.target pulls in no wait-online service: containers may start before the network is configured',
    'enable the one for your network manager: systemctl enable systemd-networkd-wait-online.service (or NetworkManager-wait-online.service)',
  );
}

/**
 * The propagation of the mount at "/" in a mountinfo text (proc(5)): its
 * optional fields (between the mount options and " - ") say "shared:N" for
 * a shared mount, "master:N" for a slave; none is private.
 */
export function rootPropagation(mountinfo: string): 'shared' | 'slave' | 'private' | undefined {
  let found: 'shared' | 'slave' | 'private' | undefined;
  for (const line of mountinfo.split('\n')) {
    const [before] = line.split(' - ');
    const fields = (before ?? '').split(' ');
    if (fields.length < 6 || fields[4] !== '/') continue;
    const optional = fields.slice(6);
    // The last mount on "/" is the one in effect (mounts stack).
    found = optional.some((f) => f.startsWith('shared:')) ? 'shared' : optional.some((f) => f.startsWith('master:')) ? 'slave' : 'private';
  }
  return found;
}

export function propagationFinding(propagation: ReturnType<typeof rootPropagation>, reason?: string): Finding {
  if (!propagation) return warning('mount-propagation', `cannot read the propagation of /: ${reason ?? 'no mount at /'}`, 'check: findmnt -o TARGET,PROPAGATION /');
  if (propagation === 'shared') return ok('mount-propagation', '/ is a shared mount');
  return error(
    'mount-propagation',
    `/ is a ${propagation} mount: mounts made by Docker (volumes, container roots) do not reach the super-privileged container's /host`,
    'make it shared: mount --make-rshared / (systemd does so at boot; something changed it)',
  );
}

/** A file's or directory's mode and owner. */
export interface FileFacts {
  mode: number;
  uid: number;
  isDirectory: boolean;
  isFile: boolean;
  isSymlink: boolean;
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

export function stateDirFinding(path: string, facts: FileFacts | undefined, envFiles: { name: string; facts: FileFacts }[]): Finding {
  if (!facts) return ok('state-dir', `${path} does not exist yet (made at the first install)`);
  if (!facts.isDirectory || facts.isSymlink) return error('state-dir', `${path} is not a directory`, `move it away: gear keeps its state in the directory ${path}`);
  if (facts.uid !== 0) return error('state-dir', `${path} is owned by uid ${facts.uid}, not root`, `chown root:root ${path}`);
  if (facts.mode & 0o022) return error('state-dir', `${path} has mode ${octal(facts.mode)}: others can change gear's state`, `chmod go-w ${path}`);
  const open = envFiles.filter((e) => e.facts.mode & 0o077 || e.facts.uid !== 0);
  if (open.length)
    return error('state-dir', `environment files readable by others: ${open.map((e) => `${e.name} (${octal(e.facts.mode)})`).join(', ')}`, `chmod 600 ${path}/env/*.env (they may hold secrets)`);
  return ok('state-dir', `${path} is root's, mode ${octal(facts.mode)}; environment files 0600`);
}

/** A path the doctor could not examine (a user other than root runs it): said, not guessed. */
export const unreadable = (check: string, path: string, reason: string): Finding =>
  warning(check, `cannot examine ${path}: ${reason}`, 'run gear doctor as root (or ask the agent: gear doctor HOST)');

export function tokenFinding(path: string | undefined, facts: FileFacts | undefined, configured: boolean): Finding {
  if (path === undefined) return ok('token-file', 'no token file in use (the agent listens on its unix socket only)');
  if (!facts)
    return configured
      ? error('token-file', `token file ${path} does not exist`, `write the token there (mode 0600), or start the agent without --token-file to have it made`)
      : ok('token-file', `no token file at ${path} yet (the agent makes it, mode 0600, when it listens on TCP)`);
  if (facts.isSymlink) return error('token-file', `token file ${path} is a symbolic link`, 'replace it with the file itself: the agent refuses a symbolic link');
  if (!facts.isFile) return error('token-file', `token file ${path} is not a regular file`, 'replace it with a regular file holding the token');
  if (facts.uid !== 0) return error('token-file', `token file ${path} is owned by uid ${facts.uid}`, `chown root:root ${path}`);
  if (facts.mode & 0o077) return error('token-file', `token file ${path} has mode ${octal(facts.mode)}: others can read the token`, `chmod 600 ${path}, and change the token: it may have been read`);
  return ok('token-file', `token file ${path} is root's, mode ${octal(facts.mode)}`);
}

export function selinuxFinding(mode: SelinuxMode): Finding {
  if (mode === 'disabled') return ok('selinux', 'SELinux is not enabled');
  if (mode === 'enforcing')
    return warning('selinux', 'SELinux is enforcing', "the agent's image runs --privileged (unconfined); a container's bind mounts of host paths need a label (-v PATH:PATH:z) to be readable; isolated containers get an MCS level");
  return ok('selinux', 'SELinux is permissive');
}

/** Clock skew beyond this between two hosts is an error: TLS certificates, logs and job callbacks compare times. */
export const MAX_SKEW_MS = 2000;

/** One host's answer, with the round trip it came in: its clock is compared at the round trip's midpoint. */
export interface HostAnswer {
  host: string;
  report: DoctorReport;
  /** This client's clock when the request was sent and when the answer came (ms). */
  sent: number;
  received: number;
}

/** How far ahead of this client's clock each host's is (ms), give or take half its round trip. */
export const clockOffset = (a: HostAnswer) => a.report.Time - (a.sent + a.received) / 2;

/** The findings across hosts: clock skew between them, and whether every agent runs the same gear. */
export function acrossHosts(answers: HostAnswer[]): Finding[] {
  if (answers.length < 2) return [];
  const offsets = answers.map((a) => ({ host: a.host, offset: clockOffset(a), slack: (a.received - a.sent) / 2 }));
  const lo = offsets.reduce((a, b) => (b.offset < a.offset ? b : a));
  const hi = offsets.reduce((a, b) => (b.offset > a.offset ? b : a));
  // The round trips' halves bound the measurement's error: only skew beyond them counts.
  const skew = hi.offset - lo.offset;
  const certain = Math.max(0, skew - hi.slack - lo.slack);
  const out: Finding[] = [];
  const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  out.push(
    certain > MAX_SKEW_MS
      ? error('clock-skew', `clocks differ by ${seconds(skew)}: ${hi.host} is ahead of ${lo.host}`, 'synchronise the clocks (systemd-timesyncd or chrony: timedatectl set-ntp true)')
      : ok('clock-skew', `clocks agree within ${seconds(Math.max(skew, 0) + hi.slack + lo.slack)}`),
  );
  const versions = new Map<string, string[]>();
  for (const a of answers) versions.set(a.report.Version, [...(versions.get(a.report.Version) ?? []), a.host]);
  out.push(
    versions.size > 1
      ? warning('agent-versions', `agents run different gear versions: ${[...versions].map(([v, hosts]) => `${v} on ${hosts.join(', ')}`).join('; ')}`, 'install the same gear version on every host')
      : ok('agent-versions', `every agent runs gear ${answers[0]!.report.Version}`),
  );
  return out;
}

/** The worst level among findings. */
export const worst = (findings: Finding[]): Level => (findings.some((f) => f.Level === 'error') ? 'error' : findings.some((f) => f.Level === 'warning') ? 'warning' : 'ok');

/** The text `gear doctor` prints: per host its findings, then those across hosts. */
export function doctorText(hosts: { host: string; findings: Finding[] }[], across: Finding[]): string {
  const lines: string[] = [];
  const block = (title: string, findings: Finding[]) => {
    lines.push(title);
    for (const f of findings) {
      lines.push(`  ${f.Level.padEnd(7)} ${f.Check.padEnd(17)} ${f.Message}`);
      if (f.Fix) lines.push(`  ${''.padEnd(7)} ${''.padEnd(17)} fix: ${f.Fix}`);
    }
  };
  for (const h of hosts) block(`${h.host}:`, h.findings);
  if (across.length) block('across hosts:', across);
  const all = [...hosts.flatMap((h) => h.findings), ...across];
  const count = (l: Level) => all.filter((f) => f.Level === l).length;
  lines.push(`${count('error')} errors, ${count('warning')} warnings, ${count('ok')} ok`);
  return `${lines.join('\n')}\n`;
}
