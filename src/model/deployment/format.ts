import { formatDuration, healthBodyOf } from '../health.js';
import { formatMemory } from '../limits.js';
import type { Deployment, PortSpec } from './types.js';

/** The descriptor as gear writes it back: PascalCase like the seed's resolved files, defaults left out. */
export function renderDeployment(d: Deployment, extra: { Hosts: string[]; Deployed: string }): string {
  const port = (p: PortSpec) => (p.External ? { Internal: p.Internal, External: p.External } : { Internal: p.Internal });
  const out = {
    Containers: d.Containers.map((c) => ({
      Name: c.Name,
      Image: c.Image,
      Count: c.Count,
      ...(c.PublicPorts.length ? { PublicPorts: c.PublicPorts.map(port) } : {}),
      ...(c.Links.length
        ? {
            Links: c.Links.map((l) => ({
              To: l.To,
              ...(l.NonLocal ? { NonLocal: true } : {}),
              ...(l.MatchPort ? { MatchPort: true } : {}),
              ...(l.AliasPorts.length ? { AliasPorts: l.AliasPorts.map(port) } : {}),
              ...(l.Ports.length ? { Ports: l.Ports } : {}),
            })),
          }
        : {}),
      ...(c.Environment.length ? { Environment: c.Environment } : {}),
      ...(c.Affinity ? { Affinity: c.Affinity } : {}),
      ...(c.Limits?.Memory !== undefined ? { Memory: formatMemory(c.Limits.Memory) } : {}),
      ...(c.Limits?.Cpus !== undefined ? { Cpus: c.Limits.Cpus } : {}),
      ...(c.Limits?.Pids !== undefined ? { Pids: c.Limits.Pids } : {}),
      ...(c.Health ? { Health: healthBodyOf(c.Health) } : {}),
      ...(c.Volumes?.length ? { Volumes: c.Volumes } : {}),
      ...(c.SocketActivation ? { SocketActivation: true } : {}),
      ...(c.SocketActivation?.IdleAfterMs !== undefined ? { IdleAfter: formatDuration(c.SocketActivation.IdleAfterMs) } : {}),
      ...(c.After?.length ? { After: c.After.map((a) => ({ To: a.To, Wait: a.Wait })) } : {}),
    })),
    Instances: d.Instances.map((i) => ({
      Id: i.Id,
      From: i.From,
      Image: i.Image,
      On: i.On,
      Ports: i.Ports.map((p) => ({ Internal: p.Internal, External: p.External, ...(p.Target ? { Target: p.Target } : {}) })),
      ...(i.Links?.length ? { Links: i.Links } : {}),
      ...(i.Environment?.length ? { Environment: i.Environment } : {}),
      ...(i.Remove ? { Remove: true } : {}),
    })),
    // Always written, as the seed does.
    IdPrefix: d.IdPrefix,
    RandomizeIds: d.RandomizeIds,
    Hosts: extra.Hosts,
    Deployed: extra.Deployed,
  };
  return `${readableJson(out, '')}\n`;
}

/** JSON with one line per port, link or variable: small objects stay on one line, the rest is indented. */
export function readableJson(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const flat = (x: unknown): boolean => x === null || typeof x !== 'object' || (!Array.isArray(x) && Object.values(x).every(flat));
  const inline = (x: unknown): string =>
    x === null || typeof x !== 'object' ? JSON.stringify(x) : `{ ${Object.entries(x).map(([k, y]) => `${JSON.stringify(k)}: ${inline(y)}`).join(', ')} }`;
  if (!Array.isArray(v) && flat(v) && inline(v).length <= 120) return inline(v);
  const next = `${indent}  `;
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => `${next}${readableJson(x, next)}`).join(',\n')}\n${indent}]` : '[]';
  const entries = Object.entries(v).map(([k, x]) => `${next}${JSON.stringify(k)}: ${readableJson(x, next)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}
