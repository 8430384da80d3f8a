/** This instance's open connections: by user, limits, and the shared heartbeat. */
import type { Connection } from './connection.ts';

export class Registry {
  private readonly byUser = new Map<string, Set<Connection>>();
  private heartbeat: NodeJS.Timeout | null = null;
  private count = 0;

  constructor(private readonly maxPerUser: number) {}

  get size(): number {
    return this.count;
  }

  canAccept(userId: string): boolean {
    return (this.byUser.get(userId)?.size ?? 0) < this.maxPerUser;
  }

  add(connection: Connection): void {
    let set = this.byUser.get(connection.userId);
    if (!set) this.byUser.set(connection.userId, (set = new Set()));
    set.add(connection);
    this.count++;
  }

  remove(connection: Connection): void {
    const set = this.byUser.get(connection.userId);
    if (!set?.delete(connection)) return;
    this.count--;
    if (set.size === 0) this.byUser.delete(connection.userId);
  }

  ofUser(userId: string): ReadonlySet<Connection> {
    return this.byUser.get(userId) ?? new Set();
  }

  *all(): Iterable<Connection> {
    for (const set of this.byUser.values()) yield* set;
  }

  /** One timer for all sockets: ping each; drop those that did not answer the previous ping. */
  startHeartbeat(intervalMs: number): void {
    this.heartbeat = setInterval(() => {
      for (const connection of this.all()) {
        if (!connection.alive) {
          // Sends 4408 in case the peer is only slow; a dead one is terminated by close().
          connection.log.debug('heartbeat missed');
          connection.close('HEARTBEAT_TIMEOUT');
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
    }, intervalMs);
    this.heartbeat.unref();
  }

  stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
  }
}
