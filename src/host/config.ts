import { resolve } from 'node:path';
import { invalid } from '../model/errors.js';
import { parseMemory } from '../model/limits.js';
import { DEFAULT_PORT_RANGE, parsePortRange, type PortRange } from '../model/ports.js';
import { validatePath } from '../model/volumes.js';
import { parseRuntime, RUNTIME_DEFAULTS, type RuntimeName } from '../model/runtime.js';
import { DEFAULT_UID_RANGE, parseIdRange, type IdRange } from '../model/isolation.js';

/**
 * Where the host's parts are, for this process. Defaults fit gear running on
 * the host itself; the SPC and the test harness override them through the
 * environment.
 */
export interface HostConfig {
  /** Where the host's / is mounted for this process. */
  root: string;
  /** Host path of gear's state. */
  stateDir: string;
  /** Host path where unit files go. */
  unitDir: string;
  busAddress: string;
  dockerSocket: string;
  portRange: PortRange;
  /** Host path of the docker client used in ExecStart; found on the host's PATH when unset. */
  dockerBin?: string;
  /** Host path of systemd-socket-proxyd (socket-activated containers); found in systemd's directories when unset. */
  socketProxyd?: string;
  runtimeService: string;
  /** The host's container runtime (GEAR_RUNTIME: docker, the default, or podman; model/runtime.ts). */
  runtime?: RuntimeName;
  /** Seconds a container gets to stop after SIGTERM. */
  stopTimeout: number;
  /**
   * The gear command as the host runs it (host paths), for the units of
   * linked containers: their ExecStartPost applies the links.
   */
  selfCommand: string[];
  /** Host uids (= gids) of isolated containers (GEAR_UID_RANGE, model/isolation.ts). */
  uidRange: IdRange;
  /** The host's capacity for containers (GEAR_MAX_CONTAINERS, GEAR_MAX_MEMORY); absent: no limit. */
  capacity?: CapacityConfig;
  /**
   * The agent's token file as this process sees it (its --token-file), for
   * `gear doctor`; unset: the agent's own, STATE_DIR/token.
   */
  tokenFile?: string;
  /** The agent listens on no TCP address, so it reads no token file (`gear doctor` says so). */
  noTokenFile?: boolean;
  /**
   * Host directories a build's Source directory may be in (GEAR_BUILD_SOURCES,
   * colon-separated). Unset: any directory this process can read (the CLI
   * on its own host); the agent makes it none unless configured.
   */
  buildSources?: string[];
  /**
   * Where an image transfer's sender takes the image from (GEAR_IMAGE_EXPORT):
   * `auto`, Docker's layer store when this process can read it, else `docker
   * save`; `docker-save`, always `docker save` (host/layer-store.ts).
   */
  imageExport?: 'auto' | 'docker-save';
}

export interface CapacityConfig {
  /** The most containers installed at once. */
  maxContainers?: number;
  /** The most memory (bytes) the containers' memory limits may add up to. */
  maxMemory?: number;
}

/** GEAR_MAX_CONTAINERS (a whole number) and GEAR_MAX_MEMORY (a size: 4G): unset or empty, no limit. */
function capacityFromEnv(env: NodeJS.ProcessEnv): CapacityConfig {
  const out: CapacityConfig = {};
  if (env.GEAR_MAX_CONTAINERS) {
    if (!/^[0-9]{1,7}$/.test(env.GEAR_MAX_CONTAINERS)) throw invalid('GEAR_MAX_CONTAINERS must be a whole number of containers');
    out.maxContainers = Number(env.GEAR_MAX_CONTAINERS);
  }
  if (env.GEAR_MAX_MEMORY) out.maxMemory = parseMemory(env.GEAR_MAX_MEMORY, 'GEAR_MAX_MEMORY');
  return out;
}

/**
 * How the host runs gear: GEAR_SELF_BIN when set; on the host itself, this
 * node binary with this bundle; inside the SPC (host root elsewhere), the
 * gear wrapper the image installs on the host.
 */
function selfCommand(env: NodeJS.ProcessEnv, root: string): string[] {
  if (env.GEAR_SELF_BIN) return [validatePath(env.GEAR_SELF_BIN, 'GEAR_SELF_BIN')];
  if (root !== '/' || !process.argv[1]) return ['/usr/local/bin/gear'];
  return [process.execPath, resolve(process.argv[1])];
}

const join = (root: string, path: string) => (root === '/' ? path : `${root}${path}`);

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): HostConfig {
  const root = env.GEAR_HOST_ROOT || '/';
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost && !dockerHost.startsWith('unix://')) throw invalid(`DOCKER_HOST ${dockerHost}: only unix:// sockets are supported`);
  const stopTimeout = Number(env.GEAR_STOP_TIMEOUT ?? 10);
  // The runtime decides the defaults of the engine's socket and service; DOCKER_HOST and GEAR_RUNTIME_SERVICE still win.
  const runtime = env.GEAR_RUNTIME ? parseRuntime(env.GEAR_RUNTIME, 'GEAR_RUNTIME') : 'docker';
  const defaults = RUNTIME_DEFAULTS[runtime];
  if (!Number.isInteger(stopTimeout) || stopTimeout < 0 || stopTimeout > 3600) throw invalid('GEAR_STOP_TIMEOUT must be whole seconds (0-3600)');
  const imageExport = env.GEAR_IMAGE_EXPORT || 'auto';
  if (imageExport !== 'auto' && imageExport !== 'docker-save') throw invalid('GEAR_IMAGE_EXPORT must be auto or docker-save');
  return {
    root,
    imageExport,
    stateDir: validatePath(env.GEAR_STATE_DIR || '/var/lib/gear', 'GEAR_STATE_DIR'),
    unitDir: validatePath(env.GEAR_UNIT_DIR || '/etc/systemd/system', 'GEAR_UNIT_DIR'),
    busAddress: env.DBUS_SYSTEM_BUS_ADDRESS || `unix:path=${join(root, '/run/dbus/system_bus_socket')}`,
    dockerSocket: dockerHost ? dockerHost.slice('unix://'.length) : join(root, defaults.socket),
    portRange: env.GEAR_PORT_RANGE ? parsePortRange(env.GEAR_PORT_RANGE) : DEFAULT_PORT_RANGE,
    uidRange: env.GEAR_UID_RANGE ? parseIdRange(env.GEAR_UID_RANGE) : DEFAULT_UID_RANGE,
    dockerBin: env.GEAR_DOCKER_BIN ? validatePath(env.GEAR_DOCKER_BIN, 'GEAR_DOCKER_BIN') : undefined,
    socketProxyd: env.GEAR_SOCKET_PROXYD ? validatePath(env.GEAR_SOCKET_PROXYD, 'GEAR_SOCKET_PROXYD') : undefined,
    runtimeService: env.GEAR_RUNTIME_SERVICE || defaults.service,
    runtime,
    stopTimeout,
    selfCommand: selfCommand(env, root),
    capacity: capacityFromEnv(env),
    ...(env.GEAR_BUILD_SOURCES ? { buildSources: env.GEAR_BUILD_SOURCES.split(':').map((d) => validatePath(d, 'GEAR_BUILD_SOURCES')) } : {}),
  };
}
