import { conflict, invalid } from '../model/errors.js';
import { allocatable, listeningPorts, type PortPair, type PortRange } from '../model/ports.js';
import { shareInFlight } from '../lib/concurrency.js';
import type { HostFs } from './fs.js';
import { readReservations } from './reservations.js';

/**
 * Host port reservations: one file per port under the state directory, named
 * by the port and holding the owning container's name. Creating the file
 * with O_EXCL is the reservation, so two installs, in one process or two,
 * can never get the same port, and reservations survive restarts.
 */
export class PortReservations {
  /**
   * Ports some reserve() of this process is claiming at this moment. Thirty
   * installs in one command would otherwise all try the same lowest port,
   * then all the next one: a pile of failing file creations.
   */
  private readonly claiming = new Set<number>();

  constructor(
    private readonly fs: HostFs,
    private readonly dir: string,
    private readonly range: PortRange,
  ) {}

  private file(port: number): string {
    return `${this.dir}/${port}`;
  }

  /** Every reservation: port -> owner. */
  all(): Promise<Map<number, string>> {
    return readReservations(this.fs, this.dir);
  }

  /**
   * Ports some process on the host listens on (TCP, v4 and v6), from pid 1's
   * network namespace. Reading /proc/net/tcp walks the kernel's whole socket
   * table (about 10 ms of system time), so concurrent reservations share one read.
   */
  private readonly listening = shareInFlight(async () => {
    const v4 = (await this.fs.read('/proc/1/net/tcp')) ?? '';
    const v6 = (await this.fs.read('/proc/1/net/tcp6')) ?? '';
    return new Set([...listeningPorts(v4), ...listeningPorts(v6)]);
  });

  /**
   * Reserve every external port of `pairs` for `owner`, allocating the zeros
   * from the range. All or nothing: on any failure what was taken is given back.
   */
  async reserve(owner: string, pairs: PortPair[]): Promise<PortPair[]> {
    if (pairs.length === 0) return [];
    const taken: number[] = [];
    try {
      const busy = await this.listening();
      const result: PortPair[] = [];
      for (const pair of pairs) {
        if (pair.External !== 0) {
          await this.claim(owner, pair.External, busy);
          taken.push(pair.External);
          result.push(pair);
        }
      }
      // Reserved already when this call began; the O_EXCL create still decides.
      const allocating = pairs.some((p) => p.External === 0);
      const reserved = new Set(allocating ? (await this.fs.list(this.dir)).map(Number) : []);
      let candidate = this.range.first;
      for (const pair of pairs) {
        if (pair.External !== 0) continue;
        for (;; candidate++) {
          if (candidate > this.range.last)
            throw conflict(`no free port left in ${this.range.first}-${this.range.last}`);
          if (!allocatable(candidate) || busy.has(candidate) || reserved.has(candidate) || this.claiming.has(candidate)) continue;
          this.claiming.add(candidate);
          try {
            if (await this.fs.createExclusive(this.file(candidate), `${owner}\n`)) break;
          } finally {
            this.claiming.delete(candidate);
          }
        }
        taken.push(candidate);
        result.push({ Internal: pair.Internal, External: candidate++ });
      }
      // Keep the caller's order.
      return pairs.map((p) => result.find((r) => r.Internal === p.Internal)!);
    } catch (err) {
      await this.release(owner, taken);
      throw err;
    }
  }

  private async claim(owner: string, port: number, listening: Set<number>): Promise<void> {
    if (port < 1 || port > 65535) throw invalid(`port ${port} is not a port number`);
    if (await this.fs.createExclusive(this.file(port), `${owner}\n`)) {
      if (!listening.has(port)) return;
      await this.fs.remove(this.file(port));
      throw conflict(`port ${port} is already in use on the host`);
    }
    const holder = (await this.fs.read(this.file(port)))?.trim();
    if (holder !== owner) throw conflict(`port ${port} is already reserved by container ${holder}`);
  }

  /** Give ports back; a port now owned by someone else is left alone. */
  async release(owner: string, ports: number[]): Promise<void> {
    for (const port of ports) {
      if ((await this.fs.read(this.file(port)))?.trim() === owner) await this.fs.remove(this.file(port));
    }
  }
}
