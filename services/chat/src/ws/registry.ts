/** This instance's open connections: by user, the per-user limit, and the shared heartbeat. */
import type { Connection } from './connection.ts';

/**
 * One of a user's connection slots, taken when an upgrade is admitted (before it completes):
 * it either becomes the connection (Registry.add) or is released.
 */
export class Slot {
  private held = true;

  constructor(
    readonly userId: string,
    private readonly onSettled: () => void,
  ) {}

  /** Gives the slot back unless it already became a connection; safe to call more than once. */
  release(): void {
    this.settle();
  }

  /** Ends the reservation; true only the first time. */
  settle(): boolean {
    if (!this.held) return false;
    this.held = false;
    this.onSettled();
    return true;
  }
}

export class Registry {
  private readonly byUser = new Map<string, Set<Connection>>();
  /** Slots reserved by admitted upgrades that have not completed yet, per user. */
  private readonly pending = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;
  private count = 0;

  constructor(private readonly maxPerUser: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Takes one of the user's slots, or null when open and pending connections already fill
   * them. Checking and taking in one synchronous step keeps the limit under concurrent upgrades.
   */
  reserve(userId: string): Slot | null {
    const pending = this.pending.get(userId) ?? 0;
    if ((this.byUser.get(userId)?.size ?? 0) + pending >= this.maxPerUser) return null;
    this.pending.set(userId, pending + 1);
    return new Slot(userId, () => {
      const left = (this.pending.get(userId) ?? 1) - 1;
      if (left > 0) this.pending.set(userId, left);
      else this.pending.delete(userId);
    });
  }

  /** The upgrade completed: its slot becomes the connection. */
  add(connection: Connection, slot: Slot): void {
    if (slot.userId !== connection.userId || !slot.settle()) {
      throw new Error('registry: a connection needs a held slot of its own user');
    }
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
