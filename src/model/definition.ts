import type { PortPair } from './ports.js';
import type { VolumeConfig } from './volumes.js';

/**
 * What gear stores about a container (/var/lib/gear/containers/NAME.json):
 * everything its unit is rendered from, and nothing systemd or Docker already
 * know. Environment values live in the env file beside it, not here.
 */
export interface ContainerDefinition {
  Id: string;
  Image: string;
  /** External ports are always resolved (never 0) once stored. */
  Ports: PortPair[];
  VolumeConfig: VolumeConfig;
  SystemdSlice: string;
  /**
   * The container has (or had) network links: its unit applies them at
   * every start (ExecStartPost). The links themselves are in links/NAME.json.
   */
  Linked?: boolean;
  /** ISO time of the install, for people reading the file. */
  Created: string;
}

export const DEFAULT_SLICE = 'gear.slice';
