import { AgentClient, parseAgentAddress, type ClientSecurity } from '../api/client.js';
import { remoteImagePeer } from '../api/image-client.js';
import { configFromEnv } from '../host/config.js';
import { Host } from '../host/context.js';
import { localImagePeer, type ImagePeer } from '../operations/images.js';
import type { Operation, Progress, RawRequest } from '../operations/index.js';
import { openStream, type StreamingOperation, type StreamRequest } from '../operations/operation.js';
import { agentHostText, parseAgentHost, parseLocator, type AgentHost } from '../model/address.js';
import { LOCAL_HOST } from './syntax.js';

/**
 * Where the CLI's operations run: on this host directly (systemd, Docker)
 * or on an agent over HTTP. Commands do not care which.
 */
export interface Backend {
  /** Name of the host in output ("" for the local one). */
  readonly label: string;
  call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest, progress: Progress): Promise<Res>;
  /** A streaming operation's items as text lines (without their newline), until `signal` aborts or the stream ends. */
  lines<Item>(op: StreamingOperation<StreamRequest, Item>, raw: RawRequest, signal: AbortSignal): AsyncIterable<string>;
  /** This host or the agent as an end of an image transfer. */
  imagePeer(): ImagePeer;
  close(): void;
}

class LocalBackend implements Backend {
  readonly label = '';
  private host?: Host;

  private get engine(): Host {
    return (this.host ??= new Host(configFromEnv()));
  }

  call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest, progress: Progress): Promise<Res> {
    return op.run(this.engine, op.parse(raw), progress);
  }

  async *lines<Item>(op: StreamingOperation<StreamRequest, Item>, raw: RawRequest, signal: AbortSignal): AsyncIterable<string> {
    for await (const e of await openStream(op, this.engine, op.parse(raw), signal)) yield op.stream.line(e).slice(0, -1);
  }

  imagePeer(): ImagePeer {
    return localImagePeer(this.engine);
  }

  close(): void {
    this.host?.close();
  }
}

class RemoteBackend implements Backend {
  constructor(
    private readonly client: AgentClient,
    readonly label: string,
  ) {}

  call<Req, Res>(op: Operation<Req, Res>, raw: RawRequest, progress: Progress): Promise<Res> {
    // Validate here too: bad input fails before anything is sent.
    op.parse(raw);
    if (op.http?.output) return this.client.output(op as Operation<unknown, Res>, raw, progress);
    return this.client.call(op, raw);
  }

  lines<Item>(op: StreamingOperation<StreamRequest, Item>, raw: RawRequest, signal: AbortSignal): AsyncIterable<string> {
    op.parse(raw);
    return this.client.lines(op as Operation<unknown, unknown>, raw, signal);
  }

  imagePeer(): ImagePeer {
    return remoteImagePeer(this.client);
  }

  close(): void {}
}

/** A container on a backend, as named on the command line. */
export interface Target {
  backend: Backend;
  name: string;
  /** How to show it: NAME locally, HOST/NAME on an agent. */
  display: string;
}

/** Where the CLI finds the backend of a target or of a host named on the command line. */
export interface BackendSource {
  target(text: string): Target;
  forServer(text: string): Backend;
  close(): void;
}

/**
 * Resolves locators to backends, one per host. A locator without a host is
 * local, unless GEAR_AGENT names an agent for "here" (the SPC's host
 * command does that). So is the host `local` (the seed system's name for
 * this host: `local/NAME`, `list-units local`).
 */
export class Backends implements BackendSource {
  private readonly cache = new Map<string, Backend>();

  /** `make`: the backend of an agent (its address, and its label: "" for "here") or of this host (undefined); tests give their own. */
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly security: ClientSecurity = {},
    private readonly make: (agent: { address: string; label: string } | undefined) => Backend = (agent) =>
      agent ? new RemoteBackend(new AgentClient(parseAgentAddress(agent.address, security)), agent.label) : new LocalBackend(),
  ) {}

  /** The backend for an agent, or for this host (undefined). */
  private forAgent(a: AgentHost | undefined): Backend {
    const agent = a ? agentHostText(a) : this.env.GEAR_AGENT;
    const key = agent ?? '';
    let backend = this.cache.get(key);
    if (!backend) {
      backend = this.make(agent ? { address: agent, label: a ? agent : '' } : undefined);
      this.cache.set(key, backend);
    }
    return backend;
  }

  /** The backend for `HOST[:PORT]` as given on the command line ("" = this host). */
  forServer(text: string): Backend {
    return this.forAgent(text === '' || text === LOCAL_HOST ? undefined : parseAgentHost(text));
  }

  target(text: string): Target {
    const loc = parseLocator(text);
    const here = loc.host === undefined || (loc.host === LOCAL_HOST && loc.port === undefined);
    const backend = this.forAgent(here ? undefined : { host: loc.host!, port: loc.port });
    return { backend, name: loc.name, display: backend.label ? `${backend.label}/${loc.name}` : loc.name };
  }

  close(): void {
    for (const b of this.cache.values()) b.close();
  }
}
