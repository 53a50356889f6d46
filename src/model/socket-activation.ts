import { invalid } from './errors.js';
import { formatDuration, parseDuration } from './health.js';
import type { PortPair } from './ports.js';
import { execLine, shellWord, unitText } from './systemd-quote.js';

/**
 * Socket activation and idling (gear install --socket-activated,
 * --idle-after; the API's SocketActivation and IdleAfter), on systemd's
 * own parts (see docs/decisions.md, "Socket activation"):
 *
 *   ctr-NAME.socket          listens on the first public port (gear's reservation);
 *                            enabled in gear.target instead of the container;
 *                            Requires= the further ports' sockets
 *   ctr-NAME@PORT.socket     one per further published port (PORT: its
 *                            container port), started and stopped with the first
 *   gear-proxy-NAME.service  the socket's service: systemd-socket-proxyd
 *   gear-proxy-NAME@PORT.service   --exit-idle-time=IDLE 127.0.0.1:PRIVATE;
 *                            Wants=/After= the container's unit (Wants: a
 *                            container that cannot start must not stick the socket)
 *   ctr-NAME.service         publishes each container port on its own
 *                            127.0.0.1:PRIVATE (a second reservation each);
 *                            StopWhenUnneeded=yes (it stops once the last proxy
 *                            idled out), and its start completes only once the
 *                            container listens on every port (the listening
 *                            gate), so the connection that woke it is served
 *
 * The proxy is not named ctr-NAME-proxy.service: container names may end in
 * "-proxy", and every ctr-*.service is a container to gear's listings.
 */
export interface SocketActivation {
  /** Loopback host port the first published port's container port is published on; its proxy connects to it. */
  PrivatePort: number;
  /**
   * With several published ports: every port's private port, by its
   * Internal (the first's repeats PrivatePort). Absent: one port, PrivatePort
   * (definitions written before several ports were taken have only it).
   */
  PrivatePorts?: PrivatePort[];
  /** Milliseconds without a connection after which the proxy exits and the container stops. Absent: never (as geard). */
  IdleAfterMs?: number;
}

export interface PrivatePort {
  Internal: number;
  Private: number;
}

/**
 * One published port of a socket-activated container, with its socket and
 * proxy units. The first port's are ctr-NAME.socket and
 * gear-proxy-NAME.service (as with one port); each further one's carry its
 * internal port as the instance: ctr-NAME@8081.socket,
 * gear-proxy-NAME@8081.service. A container name cannot contain "@", so
 * no other container's units can have these names.
 */
export interface ActivatedPort {
  Internal: number;
  /** The public port: the socket's ListenStream=. */
  Public: number;
  /** The loopback port its proxy connects to (the container's port published there). */
  Private: number;
  Socket: string;
  Proxy: string;
}

export const socketUnitOf = (id: string, internal?: number) => (internal === undefined ? `ctr-${id}.socket` : `ctr-${id}@${internal}.socket`);
export const proxyUnitOf = (id: string, internal?: number) => (internal === undefined ? `gear-proxy-${id}.service` : `gear-proxy-${id}@${internal}.service`);

/** Whether a unit file name is one of the container's further ports' socket or proxy units (ctr-NAME@N.socket, gear-proxy-NAME@N.service). */
export const isMorePortUnit = (id: string, file: string): boolean =>
  (file.startsWith(`ctr-${id}@`) && /^[0-9]+\.socket$/.test(file.slice(`ctr-${id}@`.length))) ||
  (file.startsWith(`gear-proxy-${id}@`) && /^[0-9]+\.service$/.test(file.slice(`gear-proxy-${id}@`.length)));

/** A socket-activated container's ports with their units, first port first (none when it is not socket-activated). */
export function activatedPorts(def: { Id: string; Ports: PortPair[]; SocketActivation?: SocketActivation }): ActivatedPort[] {
  const act = def.SocketActivation;
  if (!act) return [];
  return def.Ports.map((p, i) => {
    const priv = i === 0 ? act.PrivatePort : act.PrivatePorts?.find((x) => x.Internal === p.Internal)?.Private;
    if (priv === undefined) throw new Error(`definition of ${def.Id}: no private port for port ${p.Internal}`);
    const instance = i === 0 ? undefined : p.Internal;
    return { Internal: p.Internal, Public: p.External, Private: priv, Socket: socketUnitOf(def.Id, instance), Proxy: proxyUnitOf(def.Id, instance) };
  });
}

/** Every private port the activation holds (gear's reservations). */
export const privatePortsOf = (act: SocketActivation): number[] => [...new Set([act.PrivatePort, ...(act.PrivatePorts ?? []).map((p) => p.Private)])];

/** Every socket and proxy unit of the container, sockets first. */
export function activationUnitsOf(def: { Id: string; Ports: PortPair[]; SocketActivation?: SocketActivation }): string[] {
  const ports = activatedPorts(def);
  return [...ports.map((p) => p.Socket), ...ports.map((p) => p.Proxy)];
}

/** Published ports a socket-activated container may have: each is two units and two port reservations. */
export const MAX_ACTIVATED_PORTS = 16;

/** Idle times gear takes: a second to a day. */
const IDLE_MIN_MS = 1000;
const IDLE_MAX_MS = 86_400_000;

/** IdleAfter's text ("10m", "3s", "1h") in milliseconds; `field` names it in the error. */
export function parseIdleAfter(text: string, field: string): number {
  return parseDuration(text, field, IDLE_MIN_MS, IDLE_MAX_MS);
}

/**
 * The request's socket activation, checked: geard's SocketActivation flag,
 * gear's IdleAfter (only with it), SkipSocketProxy (geard handed the socket
 * to the container itself; Docker cannot pass a listening socket into a
 * container, so gear always proxies: refused with it), and at least one
 * published port (each gets a socket and a proxy of its own:
 * systemd-socket-proxyd has one destination).
 * Undefined: not socket-activated.
 */
export function parseSocketActivation(
  body: { SocketActivation?: boolean | null; SkipSocketProxy?: boolean | null; IdleAfter?: string | null },
  ports: PortPair[],
  names = { activation: 'SocketActivation', idle: 'IdleAfter', skip: 'SkipSocketProxy', ports: 'Ports' },
): { IdleAfterMs?: number } | undefined {
  const idle = body.IdleAfter ?? undefined;
  if (body.SocketActivation !== true) {
    if (idle !== undefined) throw invalid(`${names.idle} needs ${names.activation}: only a socket-activated container idles`);
    return undefined;
  }
  if (body.SkipSocketProxy === true)
    throw invalid(`${names.skip} is not supported with ${names.activation}: Docker cannot hand the listening socket to a container, so gear always proxies`);
  if (ports.length === 0) throw invalid(`${names.activation} needs a published port (${names.ports}); none is given (systemd listens on it)`);
  if (ports.length > MAX_ACTIVATED_PORTS)
    throw invalid(`${names.activation} takes at most ${MAX_ACTIVATED_PORTS} published ports (${names.ports}); ${ports.length} are given (each is a socket and a proxy)`);
  return idle === undefined ? {} : { IdleAfterMs: parseIdleAfter(idle, names.idle) };
}

/** Host facts the socket and proxy units need. */
export interface SocketUnitContext {
  version: string;
  /** Host path of systemd-socket-proxyd. */
  proxyd: string;
  /** Host path of the stored definition, named in the header. */
  definitionFile: string;
}

/** The first line of both units, as gear's container unit has its own ("written by gear"). */
const header = (kind: string, id: string, ctx: SocketUnitContext) =>
  `# ${kind} of container ${unitText(id)}, written by gear ${unitText(ctx.version)}.\n` +
  `# gear renders this file from ${unitText(ctx.definitionFile)};\n` +
  `# change the container with gear, not by editing here.\n`;

/** The header's first line, whichever of the two units (clean and repair know gear's files by it). */
export const SOCKET_UNIT_HEADER = /^# (?:Socket|Socket proxy) of container \S+, written by gear /;

/**
 * A port's socket: systemd listens on the public port and starts the port's
 * proxy on the first connection. The first port's socket (ctr-NAME.socket)
 * is the one enabled in gear.target and that gear starts and stops: with
 * several ports it Requires= the others, and they are PartOf= it, so
 * starting, stopping or restarting it (gear, or a sysadmin's systemctl)
 * does so to all of the container's sockets, and one that cannot listen
 * fails the start.
 */
export function socketUnitText(id: string, port: ActivatedPort, all: ActivatedPort[], ctx: SocketUnitContext): string {
  const first = all[0]!;
  const more = all.slice(1).map((p) => p.Socket);
  const primary = port.Socket === first.Socket;
  return (
    header('Socket', id, ctx) +
    `[Unit]\n` +
    `Description=gear socket of container ${unitText(id)} (port ${port.Public}${primary ? '' : `, its port ${port.Internal}`})\n` +
    (primary && more.length ? `Requires=${more.join(' ')}\nAfter=${more.join(' ')}\n` : '') +
    (primary ? '' : `PartOf=${first.Socket}\n`) +
    `\n[Socket]\n` +
    `ListenStream=${port.Public}\n` +
    // Bound even before the host's addresses are configured (boot order).
    `FreeBind=yes\n` +
    `Accept=no\n` +
    `Service=${port.Proxy}\n` +
    (primary ? `\n[Install]\nWantedBy=gear.target\n` : '')
  );
}

/**
 * A port's proxy (gear-proxy-NAME[@PORT].service): started by its socket;
 * the container's unit is started first (After=: the proxy runs only once
 * the container listens), and stops once no proxy runs any more
 * (StopWhenUnneeded=: each running proxy Wants= it, so with several ports
 * the container stops only when every port's proxy has exited idle).
 *
 * Wants=, not Requires=, the container: with Requires= a container that
 * cannot start failed the proxy's start job as a dependency, which leaves
 * the proxy dead without a state change, and systemd (252) then keeps the
 * socket "running" for good: the waking connection hung, later ones queued
 * and nothing woke the container again. With Wants= the proxy starts
 * anyway, its connect to the private port is refused and it closes the
 * waiting connections at once; the container's unit goes on retrying with
 * gear's backoff, and connections are served again once it starts.
 */
export function proxyUnitText(id: string, port: ActivatedPort, act: SocketActivation, slice: string, ctx: SocketUnitContext): string {
  const ctr = `ctr-${id}.service`;
  const idle = act.IdleAfterMs === undefined ? [] : [`--exit-idle-time=${formatDuration(act.IdleAfterMs)}`];
  return (
    header('Socket proxy', id, ctx) +
    `[Unit]\n` +
    `Description=gear socket proxy of container ${unitText(id)} (to 127.0.0.1:${port.Private}${act.IdleAfterMs === undefined ? '' : `, idle after ${formatDuration(act.IdleAfterMs)}`})\n` +
    `Wants=${ctr}\n` +
    `Requires=${port.Socket}\n` +
    `After=${ctr} ${port.Socket}\n\n` +
    `[Service]\n` +
    `Slice=${unitText(slice)}\n` +
    `ExecStart=${execLine([ctx.proxyd, ...idle, `127.0.0.1:${port.Private}`])}\n`
  );
}

/** The `-p` of `docker run` for a socket-activated container's port: on loopback only, at its private port. */
export const privatePublishArg = (port: ActivatedPort) => `127.0.0.1:${port.Private}:${port.Internal}`;

/**
 * The listening gate, the last ExecStartPost of a socket-activated
 * container's unit: the start (and with it the proxy's, ordered after it)
 * completes only once a process in the container's network namespace
 * listens on the container's port (every one of its published ports: the
 * connection that woke it may have come to any), read from /proc/PID/net/tcp{,6} of the
 * container's process. A connect to 127.0.0.1:PRIVATE from the host would
 * not tell: docker-proxy accepts there before the application listens. The
 * unit's `docker run` gone first: the start fails.
 */
export function listeningGateScript(dockerBin: string, ctr: string, internalPorts: number[]): string {
  const listens = internalPorts.map((port) => {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    return `grep -Eq ${shellWord(`^ *[0-9]+: [0-9A-F]+:${hex} [0-9A-F]+:[0-9A-F]+ 0A `)} /proc/$p/net/tcp /proc/$p/net/tcp6 2>/dev/null`;
  });
  const pid = [dockerBin, 'inspect', '--type', 'container', '-f', '{{if .State.Running}}{{.State.Pid}}{{end}}', ctr].map(shellWord).join(' ');
  const ports = `port${internalPorts.length > 1 ? 's' : ''} ${internalPorts.join(', ')}`;
  return (
    `d=0.02; until p=$(${pid} 2>/dev/null) && [ -n "$p" ] && ` +
    `${listens.join(' && ')}; do ` +
    `kill -0 "$MAINPID" 2>/dev/null || { echo "gear: ${ctr} ended before it listened on ${ports}" >&2; exit 1; }; ` +
    `sleep $d; case $d in 0.02) d=0.05;; 0.05) d=0.1;; *) d=0.2;; esac; done`
  );
}

/** The idle time as the CLI and status show it. */
export const idleText = (act: SocketActivation) => (act.IdleAfterMs === undefined ? 'never idles' : `idles after ${formatDuration(act.IdleAfterMs)}`);

/**
 * A socket-activated container in one word, from its socket's and its
 * container unit's ActiveState: "idle" (listening, no container), "waking"
 * (its container is starting, or backing off after failed starts:
 * connections wait, or are closed while it cannot start), "awake" (its
 * container runs), "stopped" (socket not listening: a connection is
 * refused and wakes nothing), "failed" (the socket failed).
 */
export function socketStateWord(socketActive: string, containerActive: string): 'idle' | 'waking' | 'awake' | 'stopped' | 'failed' {
  if (socketActive === 'failed') return 'failed';
  if (socketActive !== 'active') return 'stopped';
  if (containerActive === 'activating') return 'waking';
  return containerActive === 'active' || containerActive === 'reloading' ? 'awake' : 'idle';
}

/**
 * The ActiveState of a container's sockets together (one per published
 * port): failed when one failed, active only when all are (one not
 * listening means a port that refuses connections), else the first other.
 */
export function socketsActiveState(states: string[]): string {
  if (states.includes('failed')) return 'failed';
  return states.find((s) => s !== 'active') ?? (states.length ? 'active' : 'inactive');
}
