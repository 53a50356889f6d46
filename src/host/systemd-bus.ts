import type * as DBus from 'dbus-next';
import { failed } from '../model/errors.js';
import { ConcurrencyLimit } from '../lib/concurrency.js';

export const DEST = 'org.freedesktop.systemd1';
export const MANAGER_PATH = '/org/freedesktop/systemd1';
export const MANAGER = 'org.freedesktop.systemd1.Manager';

/** dbus-next has no call timeouts; a wedged systemd must not hang gear forever. */
const CALL_TIMEOUT_MS = 30_000;
/**
 * Calls awaiting their reply at once. The system bus refuses more than
 * max_replies_per_connection (128 on Debian) pending replies per connection:
 * 30 concurrent starts asking five properties each went past it.
 */
const MAX_PENDING_CALLS = 64;

/** A signal as gear reads it: who sent it where, and its arguments. */
export interface Signal {
  path: string;
  interface: string;
  member: string;
  body: unknown[];
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(failed(`systemd did not answer ${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** dbus-next, loaded on first use so that commands without systemd work start faster. */
type DBusModule = typeof DBus;
interface Connection {
  dbus: DBusModule;
  bus: DBus.MessageBus;
  /** Counts connections: a table synced on one connection is not synced on the next. */
  generation: number;
  /** Match rules added on this connection, and its Subscribe. */
  matches: Set<string>;
  subscribed?: Promise<void>;
  /** Replies to handle in stream order (by the call's serial), before any later signal. */
  ordered: Map<number, (body: unknown[]) => void>;
  /** Rejects the calls still waiting when the connection goes. */
  waiting: Set<(err: Error) => void>;
}

/**
 * gear's connection to systemd on the system bus (dbus-next), opened on
 * first use and again after it closed. Signals and the replies to calls
 * arrive on it in the order systemd sent them; dbus-next hands every
 * message of a read to the 'message' listeners synchronously, but resolves
 * a call's promise only afterwards, once later messages of the same read
 * were handled. `callInOrder` therefore lets a reply be applied in the
 * listener itself, in its place among the signals.
 */
export class SystemdBus {
  private connection?: Promise<Connection>;
  private generations = 0;
  private readonly pending = new ConcurrencyLimit(MAX_PENDING_CALLS);
  private readonly signalListeners = new Set<(s: Signal) => void>();
  private readonly closeListeners = new Set<() => void>();

  constructor(private readonly busAddress: string) {}

  /** Changes whenever a connection opens or closes. */
  get generation(): number {
    return this.generations;
  }

  /** Called for every signal that a match rule lets through, in the order systemd sent them. */
  onSignal(listener: (s: Signal) => void): void {
    this.signalListeners.add(listener);
  }
  /** Called when the connection closes (signals were lost from then on). */
  onClose(listener: () => void): void {
    this.closeListeners.add(listener);
  }

  private connect(): Promise<Connection> {
    return (this.connection ??= import('dbus-next').then((mod) => {
      const dbus = ((mod as { default?: DBusModule }).default ?? mod) as DBusModule;
      const bus = dbus.sessionBus({ busAddress: this.busAddress });
      const conn: Connection = { dbus, bus, generation: ++this.generations, matches: new Set(), ordered: new Map(), waiting: new Set() };
      const closed = () => this.closed(conn);
      // Errors surface through the pending calls; without a listener node would crash.
      bus.on('error', closed);
      // dbus-next does not forward its stream's end; a closed stream means a lost connection.
      (bus as unknown as { _connection?: { stream?: NodeJS.EventEmitter } })._connection?.stream?.once('close', closed);
      bus.on('message', (msg: DBus.Message) => {
        if (msg.type === dbus.MessageType.SIGNAL) {
          const signal: Signal = { path: msg.path, interface: msg.interface, member: msg.member, body: msg.body as unknown[] };
          for (const listener of this.signalListeners) listener(signal);
        } else if (msg.type === dbus.MessageType.METHOD_RETURN && msg.replySerial !== undefined) {
          const apply = conn.ordered.get(Number(msg.replySerial));
          if (apply) {
            conn.ordered.delete(Number(msg.replySerial));
            apply(msg.body as unknown[]);
          }
        } else if (msg.type === dbus.MessageType.ERROR && msg.replySerial !== undefined) {
          conn.ordered.delete(Number(msg.replySerial));
        }
      });
      return conn;
    }));
  }

  private closed(conn: Connection): void {
    if (this.connection === undefined || conn.generation !== this.generations) return;
    this.connection = undefined;
    this.generations++;
    const err = failed('the connection to systemd on the system bus closed');
    for (const reject of conn.waiting) reject(err);
    conn.waiting.clear();
    conn.ordered.clear();
    conn.bus.disconnect();
    for (const listener of this.closeListeners) listener();
  }

  private message(conn: Connection, destination: string, path: string, iface: string, member: string, signature: string, body: unknown[]): DBus.Message {
    return new conn.dbus.Message({ destination, path, interface: iface, member, signature, body });
  }

  /** Send one call on this connection, at most MAX_PENDING_CALLS at once, failing when it closes. */
  private send(conn: Connection, msg: DBus.Message, member: string, inOrder?: (body: unknown[]) => void): Promise<unknown[]> {
    return this.pending
      .run(() => {
        if (conn.generation !== this.generations) throw failed('the connection to systemd on the system bus closed');
        let reject!: (err: Error) => void;
        const lost = new Promise<never>((_, r) => (reject = r));
        conn.waiting.add(reject);
        const reply = conn.bus.call(msg);
        // The serial is set by call(); no reply can arrive before this turn ends.
        if (inOrder) conn.ordered.set(msg.serial!, inOrder);
        return withTimeout(Promise.race([reply, lost]), CALL_TIMEOUT_MS, member).finally(() => conn.waiting.delete(reject));
      })
      .then(
        (reply) => (reply?.body ?? []) as unknown[],
        (err: unknown) => {
          // The error's name stays with it (isNoSuchUnit) for callers that expect one.
          if (err instanceof conn.dbus.DBusError) throw Object.assign(failed(`systemd: ${member} failed: ${err.text || err.type}`), { dbusName: err.type });
          throw err;
        },
      );
  }

  /** A method call to systemd; resolves with the reply's arguments. */
  async call(path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    const conn = await this.connect();
    return this.send(conn, this.message(conn, DEST, path, iface, member, signature, body), member);
  }

  /**
   * A call whose reply `apply` handles synchronously, in its place in the
   * stream: after every signal systemd sent before it, before any it sent
   * after. Resolves once applied; rejects (not applied) on an error reply.
   */
  async callInOrder(path: string, iface: string, member: string, signature: string, body: unknown[], apply: (body: unknown[]) => void): Promise<void> {
    const conn = await this.connect();
    await this.send(conn, this.message(conn, DEST, path, iface, member, signature, body), member, apply);
  }

  /**
   * A round trip to systemd (org.freedesktop.DBus.Peer.Ping, answered by
   * sd-bus without touching the manager): its reply comes after every
   * signal systemd sent before it read the ping, so once it is here those
   * signals have been handled.
   */
  async ping(): Promise<void> {
    const conn = await this.connect();
    await this.send(conn, this.message(conn, DEST, MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping', '', []), 'Ping');
  }

  /**
   * Match rules in place on the current connection (each added once), then
   * systemd's Subscribe, so that it sends unit and job signals at all.
   * Returns the connection's generation.
   */
  async subscribe(rules: string[]): Promise<number> {
    const conn = await this.connect();
    const fresh = rules.filter((r) => !conn.matches.has(r));
    for (const r of fresh) conn.matches.add(r);
    const add = (rule: string) => this.send(conn, this.message(conn, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]), 'AddMatch');
    try {
      await Promise.all(fresh.map(add));
    } catch (err) {
      for (const r of fresh) conn.matches.delete(r);
      throw err;
    }
    conn.subscribed ??= this.send(conn, this.message(conn, DEST, MANAGER_PATH, MANAGER, 'Subscribe', '', []), 'Subscribe').then(() => undefined);
    await conn.subscribed;
    return conn.generation;
  }

  /**
   * Subscribe again on the current connection, e.g. after systemd re-executed
   * (it keeps its subscribers across a re-exec; one more Subscribe is refused
   * as "already subscribed", which is what we want anyway).
   */
  async resubscribe(): Promise<void> {
    const conn = await this.connect();
    await this.send(conn, this.message(conn, DEST, MANAGER_PATH, MANAGER, 'Subscribe', '', []), 'Subscribe').catch(() => undefined);
  }

  close(): void {
    void this.connection?.then((conn) => {
      this.connection = undefined;
      this.generations++;
      conn.bus.disconnect();
    });
  }
}

/** A match rule for signals from systemd. */
export const signalMatch = (fields: Record<string, string>) =>
  [`type='signal'`, `sender='${DEST}'`, ...Object.entries(fields).map(([k, v]) => `${k}='${v}'`)].join(',');

/** systemd answered that it has no such unit loaded (org.freedesktop.systemd1.NoSuchUnit). */
export const isNoSuchUnit = (err: unknown): boolean => (err as { dbusName?: string } | undefined)?.dbusName === 'org.freedesktop.systemd1.NoSuchUnit';
