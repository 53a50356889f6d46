import { invalid } from './errors.js';
import { formatDuration, parseDuration } from './health.js';
import type { PortPair } from './ports.js';
import { execLine, shellWord, unitText } from './systemd-quote.js';

/**
 * Socket activation and idling (gear install --socket-activated,
 * --idle-after; the API's SocketActivation and IdleAfter), on systemd's
 * own parts (see docs/decisions.md, "Socket activation"):
 *
 *   ctr-NAME.socket          listens on the public port (gear's reservation);
 *                            enabled in gear.target instead of the container
 *   gear-proxy-NAME.service  the socket's service: systemd-socket-proxyd
 *                            --exit-idle-time=IDLE 127.0.0.1:PRIVATE;
 *                            Requires=/After= the container's unit
 *   ctr-NAME.service         publishes the container's port on 127.0.0.1:PRIVATE
 *                            (a second reservation); StopWhenUnneeded=yes, and
 *                            its start completes only once the container
 *                            listens (the listening gate), so the connection
 *                            that woke it is served
 *
 * The proxy is not named ctr-NAME-proxy.service: container names may end in
 * "-proxy", and every ctr-*.service is a container to gear's listings.
 */
export interface SocketActivation {
  /** Loopback host port the container's port is published on; the proxy connects to it. */
  PrivatePort: number;
  /** Milliseconds without a connection after which the proxy exits and the container stops. Absent: never (as geard). */
  IdleAfterMs?: number;
}

export const socketUnitOf = (id: string) => `ctr-${id}.socket`;
export const proxyUnitOf = (id: string) => `gear-proxy-${id}.service`;

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
 * container, so gear always proxies: refused with it), and exactly one
 * published port (one socket, one proxy, one destination).
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
  if (ports.length !== 1)
    throw invalid(`${names.activation} needs exactly one published port (${names.ports}); ${ports.length === 0 ? 'none is' : `${ports.length} are`} given (systemd listens on it)`);
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

/** ctr-NAME.socket: systemd listens on the public port and starts the proxy on the first connection. */
export function socketUnitText(id: string, publicPort: number, ctx: SocketUnitContext): string {
  return (
    header('Socket', id, ctx) +
    `[Unit]\n` +
    `Description=gear socket of container ${unitText(id)} (port ${publicPort})\n\n` +
    `[Socket]\n` +
    `ListenStream=${publicPort}\n` +
    // Bound even before the host's addresses are configured (boot order).
    `FreeBind=yes\n` +
    `Accept=no\n` +
    `Service=${proxyUnitOf(id)}\n\n` +
    `[Install]\n` +
    `WantedBy=gear.target\n`
  );
}

/**
 * gear-proxy-NAME.service: started by the socket; the container's unit is
 * started first (After=: the proxy runs only once the container listens),
 * and stops once the proxy exits (StopWhenUnneeded=).
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
export function proxyUnitText(id: string, act: SocketActivation, slice: string, ctx: SocketUnitContext): string {
  const ctr = `ctr-${id}.service`;
  const idle = act.IdleAfterMs === undefined ? [] : [`--exit-idle-time=${formatDuration(act.IdleAfterMs)}`];
  return (
    header('Socket proxy', id, ctx) +
    `[Unit]\n` +
    `Description=gear socket proxy of container ${unitText(id)} (to 127.0.0.1:${act.PrivatePort}${act.IdleAfterMs === undefined ? '' : `, idle after ${formatDuration(act.IdleAfterMs)}`})\n` +
    `Wants=${ctr}\n` +
    `Requires=${socketUnitOf(id)}\n` +
    `After=${ctr} ${socketUnitOf(id)}\n\n` +
    `[Service]\n` +
    `Slice=${unitText(slice)}\n` +
    `ExecStart=${execLine([ctx.proxyd, ...idle, `127.0.0.1:${act.PrivatePort}`])}\n`
  );
}

/** The `-p` of `docker run` for a socket-activated container: its port on loopback only, at the private port. */
export const privatePublishArg = (act: SocketActivation, internal: number) => `127.0.0.1:${act.PrivatePort}:${internal}`;

/**
 * The listening gate, the last ExecStartPost of a socket-activated
 * container's unit: the start (and with it the proxy's, ordered after it)
 * completes only once a process in the container's network namespace
 * listens on the container's port, read from /proc/PID/net/tcp{,6} of the
 * container's process. A connect to 127.0.0.1:PRIVATE from the host would
 * not tell: docker-proxy accepts there before the application listens. The
 * unit's `docker run` gone first: the start fails.
 */
export function listeningGateScript(dockerBin: string, ctr: string, internalPort: number): string {
  const hex = internalPort.toString(16).toUpperCase().padStart(4, '0');
  const pid = [dockerBin, 'inspect', '--type', 'container', '-f', '{{if .State.Running}}{{.State.Pid}}{{end}}', ctr].map(shellWord).join(' ');
  return (
    `d=0.02; until p=$(${pid} 2>/dev/null) && [ -n "$p" ] && ` +
    `grep -Eq ${shellWord(`^ *[0-9]+: [0-9A-F]+:${hex} [0-9A-F]+:[0-9A-F]+ 0A `)} /proc/$p/net/tcp /proc/$p/net/tcp6 2>/dev/null; do ` +
    `kill -0 "$MAINPID" 2>/dev/null || { echo "gear: ${ctr} ended before it listened on port ${internalPort}" >&2; exit 1; }; ` +
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
