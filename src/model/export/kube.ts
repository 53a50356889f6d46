import { invalid } from '../errors.js';
import type { EnvVar } from '../env.js';
import { formatDuration, type HealthCheck } from '../health.js';
import type { ContainerLimits } from '../limits.js';
import type { Deployment } from '../deployment/types.js';

/**
 * Kubernetes manifests for a deployment descriptor (or the resolved file
 * gear deploy wrote): per container, a Deployment with its count as
 * replicas (a StatefulSet when it has volumes: each replica keeps its own,
 * as each gear instance has its named volumes), a Secret for its
 * environment, a Service for the ports other containers link to (on the
 * port they saw through the link) and for its published ports, probes from
 * its health check. What cannot carry over is listed in `Notes` (and in
 * docs/export.md). Plain objects: the YAML is written by model/export/yaml.ts,
 * and tests validate every object against Kubernetes' OpenAPI schemas.
 */
export interface KubeApp {
  Name: string;
  Image: string;
  Replicas: number;
  /** Its container ports. */
  Ports: number[];
  Environment: EnvVar[];
  Limits?: ContainerLimits;
  Health?: HealthCheck;
  /** Container paths of its volumes (a PVC template each). */
  Volumes: string[];
}

/** A link of one app to another's port: seen by the source on `Port`. */
export interface KubeLink {
  From: string;
  To: string;
  Internal: number;
  Port: number;
}

export interface KubeExport {
  Objects: Record<string, unknown>[];
  Notes: string[];
}

/** The size each volume claim asks for: gear's volumes have none; the reader changes it. */
export const DEFAULT_VOLUME_SIZE = '1Gi';
const LABEL = 'app.kubernetes.io/name';
const MANAGED = { 'app.kubernetes.io/managed-by': 'gear-export' };

/**
 * A Kubernetes object name from a gear name: gear allows upper case, "_"
 * and "." which a Service name (an RFC 1035 label) does not. Lower-cased,
 * other characters become "-"; a name that still cannot be one is refused.
 */
export function kubeName(name: string): string {
  const out = name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(out))
    throw invalid(`${JSON.stringify(name)} cannot be a Kubernetes name (${JSON.stringify(out)}): it must start with a letter and end with a letter or digit, 63 characters at most`);
  return out;
}

/** The apps and links of a descriptor: every container with its count; links from its Links (the port the source saw: the alias's External, or the same). */
export function kubeAppsOf(d: Deployment): { apps: KubeApp[]; links: KubeLink[]; notes: string[] } {
  const notes: string[] = [];
  const apps = d.Containers.map((c) => ({
    Name: c.Name,
    Image: c.Image,
    Replicas: c.Count,
    Ports: c.PublicPorts.map((p) => p.Internal),
    Environment: c.Environment,
    ...(c.Limits ? { Limits: c.Limits } : {}),
    ...(c.Health ? { Health: c.Health } : {}),
    Volumes: [...(c.Volumes ?? [])],
  }));
  const links: KubeLink[] = [];
  for (const c of d.Containers) {
    if (c.SocketActivation) notes.push(`${c.Name}: gear's socket activation (started on the first connection, stopped when idle) has no Kubernetes counterpart: its pods run all the time`);
    for (const a of c.After ?? [])
      notes.push(`${c.Name} starts after ${a.To} is ${a.Wait}: Kubernetes does not order workloads; an initContainer that waits for ${kubeName(a.To)}, or retries in ${c.Name}`);
    for (const p of c.PublicPorts)
      if (p.External) notes.push(`${c.Name}: host port ${p.External} (published on each gear host): expose port ${p.Internal} with a NodePort, LoadBalancer or Ingress`);
    for (const l of c.Links) {
      const to = d.Containers.find((x) => x.Name === l.To);
      if (!to) continue;
      const ports = l.AliasPorts.length ? l.AliasPorts : to.PublicPorts.map((p) => ({ Internal: p.Internal, External: 0 }));
      for (const p of ports) links.push({ From: c.Name, To: to.Name, Internal: p.Internal, Port: p.External || p.Internal });
      notes.push(
        `${c.Name} -> ${to.Name}: gear's link (iptables, ${l.NonLocal ? 'a private address' : '127.0.0.x'} in the container) becomes Service ${kubeName(to.Name)} on the same port${ports.length === 1 ? '' : 's'}: point ${c.Name} at ${kubeName(to.Name)}:PORT`,
      );
    }
  }
  return { apps, links, notes };
}

const durationS = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Exec probes from gear's health check: the command through /bin/sh, as Docker's CMD-SHELL ran it. */
function probes(h: HealthCheck) {
  const probe = {
    exec: { command: ['/bin/sh', '-c', h.Cmd] },
    periodSeconds: durationS(h.IntervalMs),
    timeoutSeconds: durationS(h.TimeoutMs),
    failureThreshold: h.Retries,
  };
  // The start period: failures do not count (Docker's) ~ a startup probe that allows that long.
  const startup = h.StartPeriodMs
    ? { startupProbe: { ...probe, failureThreshold: Math.max(h.Retries, Math.ceil(h.StartPeriodMs / Math.max(h.IntervalMs, 1000))) } }
    : {};
  // gear's gate (the start completes once healthy) is readiness; its watcher (kill when unhealthy) liveness.
  return { readinessProbe: probe, livenessProbe: probe, ...startup };
}

const MEMORY_UNITS = [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const;

/** Kubernetes' quantities: memory in bytes ("268435456" → "256Mi" when whole), CPUs in millicores. */
export function kubeLimits(l: ContainerLimits | undefined): Record<string, string> | undefined {
  if (!l || (l.Memory === undefined && l.Cpus === undefined)) return undefined;
  const out: Record<string, string> = {};
  if (l.Memory !== undefined) {
    const m = l.Memory;
    const unit = MEMORY_UNITS.find(([, n]) => m % n === 0);
    out.memory = unit ? `${m / unit[1]}${unit[0]}` : String(m);
  }
  if (l.Cpus !== undefined) out.cpu = `${Math.round(l.Cpus * 1000)}m`;
  return out;
}

/** Every object of the export, in the order kubectl apply wants them (Secrets and Services before their users). */
export function kubeObjects(apps: KubeApp[], links: KubeLink[], notesIn: string[] = []): KubeExport {
  const notes = [...notesIn];
  const names = new Map<string, string>();
  for (const a of apps) {
    const k = kubeName(a.Name);
    const other = names.get(k);
    if (other !== undefined) throw invalid(`${JSON.stringify(a.Name)} and ${JSON.stringify(other)} would both be ${k} in Kubernetes`);
    names.set(k, a.Name);
  }
  const secrets: Record<string, unknown>[] = [];
  const services: Record<string, unknown>[] = [];
  const workloads: Record<string, unknown>[] = [];
  for (const a of apps) {
    const name = kubeName(a.Name);
    const labels = { [LABEL]: name };
    const meta = (n: string) => ({ name: n, labels: { ...labels, ...MANAGED } });
    if (a.Environment.length)
      secrets.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(`${name}-env`),
        type: 'Opaque',
        stringData: Object.fromEntries(a.Environment.map((e) => [e.Name, e.Value])),
      });
    // The Service's ports: the container's own, and each port a link made it seen on (same number when not aliased).
    const svcPorts = new Map<number, number>();
    for (const p of a.Ports) svcPorts.set(p, p);
    for (const l of links.filter((x) => x.To === a.Name)) {
      const had = svcPorts.get(l.Port);
      if (had !== undefined && had !== l.Internal)
        throw invalid(`links to ${a.Name} see port ${l.Port} as both ${had} and ${l.Internal}: one Service cannot carry both`);
      svcPorts.set(l.Port, l.Internal);
    }
    const stateful = a.Volumes.length > 0;
    if (svcPorts.size || stateful)
      services.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(name),
        spec: {
          selector: labels,
          ...(svcPorts.size
            ? { ports: [...svcPorts].sort((x, y) => x[0] - y[0]).map(([port, target]) => ({ name: `p${port}`, port, targetPort: target, protocol: 'TCP' })) }
            : { clusterIP: 'None' }),
        },
      });
    if (a.Limits?.Pids !== undefined) notes.push(`${a.Name}: its pids limit (${a.Limits.Pids}) has no per-container field in Kubernetes (the kubelet's podPidsLimit is per node)`);
    const limits = kubeLimits(a.Limits);
    const container = {
      name,
      image: a.Image,
      ...(a.Ports.length || svcPorts.size
        ? { ports: [...new Set([...a.Ports, ...svcPorts.values()])].sort((x, y) => x - y).map((p) => ({ containerPort: p, protocol: 'TCP' })) }
        : {}),
      ...(a.Environment.length ? { envFrom: [{ secretRef: { name: `${name}-env` } }] } : {}),
      // gear's limits are limits, not reservations: requests equal to them (Guaranteed QoS when both are set).
      ...(limits ? { resources: { limits, requests: limits } } : {}),
      ...(a.Health ? probes(a.Health) : {}),
      ...(stateful ? { volumeMounts: a.Volumes.map((path, i) => ({ name: `data${i}`, mountPath: path })) } : {}),
    };
    const template = { metadata: { labels }, spec: { containers: [container] } };
    workloads.push(
      stateful
        ? {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            metadata: meta(name),
            spec: {
              serviceName: name,
              replicas: a.Replicas,
              selector: { matchLabels: labels },
              template,
              volumeClaimTemplates: a.Volumes.map((path, i) => ({
                metadata: { name: `data${i}`, annotations: { 'gear.io/path': path } },
                spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: DEFAULT_VOLUME_SIZE } } },
              })),
            },
          }
        : { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(name), spec: { replicas: a.Replicas, selector: { matchLabels: labels }, template } },
    );
    if (a.Health?.StartPeriodMs) notes.push(`${a.Name}: its start period (${formatDuration(a.Health.StartPeriodMs)}) is a startupProbe`);
  }
  return { Objects: [...secrets, ...services, ...workloads], Notes: notes };
}
