import { invalid } from '../errors.js';
import { formatDuration } from '../health.js';
import { dockerLimitArgs } from '../limits.js';
import { containerNameOf } from '../names.js';
import { execLine } from '../systemd-quote.js';
import type { ExportedContainer } from './container.js';

/**
 * Quadlet files (podman 5: Notify=healthy is 5.0's; `man podman-systemd.unit`) that run
 * the same container as gear's unit: NAME.container, from which Quadlet's
 * generator makes NAME.service. What the unit does with gear's own scripts
 * is said with Quadlet's keys: the health gate is Notify=healthy (the start
 * completes once healthy), the watcher that kills an unhealthy container
 * HealthOnFailure=kill, gear's backoff systemd's Restart=.
 */
export interface ExportFile {
  /** The file's name: NAME.container, NAME.volume, NAME.network. */
  Name: string;
  Text: string;
}

/**
 * A value in a Quadlet file. Quadlet reads files as systemd does: a line
 * break would start a new key, a trailing backslash continues the line,
 * whitespace at either end is dropped, and "%" starts a specifier (Quadlet
 * passes specifiers through to the service, where systemd expands them), so
 * "%%" is a "%". Values are otherwise taken whole (one key, one value),
 * and Quadlet quotes each for the service's ExecStart, but leaves "$"
 * alone: systemd would expand "${X}" there, so a "$" of a value that
 * reaches a command line is written "$$" (systemd's literal dollar).
 * tests/integration/export.test.ts runs the real generator on such values.
 */
export function quadletValue(value: string, what: string, inCommand = true): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw invalid(`${what} ${JSON.stringify(value)} has a control character: it cannot go into a Quadlet file`);
  if (value !== value.trim()) throw invalid(`${what} ${JSON.stringify(value)} begins or ends with whitespace, which a Quadlet file drops`);
  if (value.endsWith('\\')) throw invalid(`${what} ${JSON.stringify(value)} ends with a backslash, which continues a line in a Quadlet file`);
  const text = value.replace(/%/g, '%%');
  return inCommand ? text.replace(/\$/g, '$$$$') : text;
}

/**
 * The image as Docker resolves it, in full: a first component that is no
 * registry (no "." or ":", not "localhost") means Docker Hub, a lone name
 * its library ("nginx" is docker.io/library/nginx). Podman would ask its
 * search registries for a short name instead, and Quadlet warns of it.
 */
export function qualifiedImage(image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) return image;
  return slash < 0 ? `docker.io/library/${image}` : `docker.io/${image}`;
}

/** A comment line: a comment runs to the line's end, so only line breaks matter. */
const comment = (text: string) => `# ${text.replace(/[\x00-\x1f\x7f]/g, ' ')}`;

/** NAME.container for one container; `source` names where it came from, for the reader. */
export function quadletContainer(c: ExportedContainer, source: string): ExportFile {
  const v = quadletValue;
  const lines: string[] = [
    comment(`${c.Name}, exported by gear from ${source}.`),
    comment(`Quadlet makes ${c.Name}.service of it: copy it to /etc/containers/systemd/ and run systemctl daemon-reload.`),
    ...c.Notes.map((n) => comment(`Not carried over: ${n}.`)),
    '[Unit]',
    `Description=${v(`gear container ${c.Name} (${c.Image})`, 'description', false)}`,
  ];
  if (c.After.length) {
    // Quadlet names each service after its file: the other containers' exports.
    const units = c.After.map((a) => `${v(a, 'after', false)}.service`).join(' ');
    lines.push(`After=${units}`, `Wants=${units}`);
  }
  lines.push(
    '',
    '[Container]',
    `ContainerName=${v(containerNameOf(c.Name), 'name')}`,
    `Image=${v(qualifiedImage(c.Image), 'image')}`,
    `Label=io.gear.container=${v(c.Name, 'name')}`,
  );
  // The variables stay in gear's env file (0600, root's): referenced, never copied here.
  if (c.EnvFile) lines.push(`EnvironmentFile=${v(c.EnvFile, 'env file')}`);
  // External 0 (a descriptor not deployed yet): a port the host picks, as gear would.
  for (const p of c.Ports) lines.push(`PublishPort=${p.External ? `${p.External}:` : ''}${p.Internal}`);
  for (const vol of c.Volumes)
    // A named volume by its name (podman creates it at the first run, as Docker does); none: anonymous, as gear's was.
    lines.push(`Volume=${vol.Name ? `${v(vol.Name, 'volume name')}:` : ''}${v(vol.Path, 'volume path')}`);
  for (const b of c.BindMounts) lines.push(`Volume=${v(b.HostPath, 'host path')}:${v(b.ContainerPath, 'container path')}:${b.ReadOnly ? 'ro' : 'rw'}`);
  const h = c.Health;
  if (h)
    lines.push(
      `HealthCmd=${v(h.Cmd, 'health command')}`,
      `HealthInterval=${formatDuration(h.IntervalMs)}`,
      `HealthTimeout=${formatDuration(h.TimeoutMs)}`,
      `HealthRetries=${h.Retries}`,
      `HealthStartPeriod=${formatDuration(h.StartPeriodMs)}`,
      // gear's watcher kills an unhealthy container and systemd restarts it; its gate ends the start once healthy.
      'HealthOnFailure=kill',
      'Notify=healthy',
    );
  const iso = c.Isolation;
  if (iso) {
    lines.push(`User=${iso.Uid}`, `Group=${iso.Gid}`, 'DropCapability=all', 'NoNewPrivileges=true');
    if (iso.Label) lines.push(`SecurityLabelLevel=${v(iso.Label, 'SELinux level')}`);
  }
  // Memory (with no swap beyond it), CPUs and pids as gear gives them to docker run: podman takes the same flags.
  const limits = dockerLimitArgs(c.Limits);
  if (limits.length) lines.push(`PodmanArgs=${execLine(limits)}`);
  lines.push(
    '',
    '[Service]',
    `Slice=${v(c.Slice, 'slice', false)}`,
    // As gear's unit: a crash or kill comes back, a clean exit (0, or 143 after SIGTERM) does not.
    'Restart=on-failure',
    'RestartSec=2s',
    'SuccessExitStatus=143',
    'TimeoutStartSec=5min',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  );
  return { Name: `${c.Name}.container`, Text: lines.join('\n') };
}
