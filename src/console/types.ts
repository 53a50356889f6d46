// The shapes of the public API's answers the console reads (docs/api.md).
// Written out here: the console is built for the browser and imports none
// of the agent's modules.

export interface Port {
  Internal: number;
  External: number;
}

export interface Link {
  FromHost: string;
  FromPort: number;
  ToHost: string;
  ToPort: number;
}

/** A row of GET /containers/overview. */
export interface Container {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
  Image: string;
  Ports: Port[];
  NetworkLinks: Link[];
  Since?: number;
  Restarts?: number;
}

/** A row of an `units` event of GET /events (a GET /containers?all=1 row). */
export interface UnitRow {
  Id: string;
  ActiveState: string;
  SubState: string;
  LoadState: string;
}

export interface UnitsEvent {
  Full: boolean;
  Containers: UnitRow[];
  Removed: string[];
}

/** GET /container/:id/status as JSON (the parts the console shows). */
export interface Status {
  Id: string;
  Image: string;
  Unit: { ActiveState: string; SubState: string; LoadState: string; MainPID?: number; ActiveEnterTimestamp?: number; NRestarts?: number; Result?: string; UnitFileState?: string };
  Ports: Port[];
  NetworkLinks?: Link[];
  Volumes: { Name: string; Path: string }[];
  Container?: { Id: string; Status: string; Running: boolean; Pid: number; StartedAt: string; IPAddress: string; Health?: string };
}
