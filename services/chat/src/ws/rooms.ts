/**
 * Routes committed events to this instance's subscribers, one room per conversation.
 * A room passes events on strictly in seq order with no gaps: an event that arrives
 * early waits in `pending` while the gap is read from the database (a missed
 * notification, a frame sent by reference, or everything after a listener reconnect).
 */
import type { Logger } from 'pino';
import type { AccessChange, Bus, StreamEvent } from '../fanout/bus.ts';
import type { LoadedEvent } from '../db/messages.ts';

/** A frame as text, or already encoded once for all of its recipients. */
export type FrameData = string | Buffer;

/** A stream event as a room hands it to each subscriber. */
export interface Delivery {
  seq: number;
  data: FrameData;
  access: AccessChange | null;
}

export interface Subscriber {
  readonly userId: string;
  /** A stream event, in seq order; the subscriber decides whether its user may see it. */
  deliver(conversationId: string, event: Delivery): void;
  /** A room-wide signal (no seq), for subscribers whose membership is confirmed. */
  signal(conversationId: string, frame: FrameData): void;
}

export type { LoadedEvent };

/** Reads committed events with seq > afterSeq, ascending. */
export type EventLoader = (conversationId: string, afterSeq: number, limit: number) => Promise<LoadedEvent[]>;

interface Pending {
  frame: string | null;
  access: AccessChange | null;
}

interface Room {
  id: string;
  /** Resolves once the bus delivers this conversation (its interest is registered). */
  watched: Promise<void>;
  /** Highest seq passed on; null until the first subscriber read the conversation's state. */
  seq: number | null;
  subscribers: Set<Subscriber>;
  pending: Map<number, Pending>;
  filling: boolean;
  /** Set while a missing seq is given `gapGraceMs` to arrive before the database is read. */
  graceTimer: NodeJS.Timeout | null;
}

const FILL_PAGE = 500;
const FILL_RETRY_MS = 500;
/** Pages one gap fill may read before it yields to the next notification (bounds every loop). */
const FILL_MAX_PAGES = 20;

/** The bus's interest API: only conversations and users with sockets here are delivered. */
export type Interest = Pick<Bus, 'watch' | 'unwatch'>;

const EVERYTHING: Interest = { watch: () => Promise.resolve(), unwatch: () => {} };

export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Users with sockets here → how many, and when the bus delivers their controls. */
  private readonly users = new Map<string, { count: number; watched: Promise<void> }>();

  constructor(
    private readonly load: EventLoader,
    private readonly log: Logger,
    private readonly onGapFilled?: (events: number) => void,
    /** Called once per event passed on live (not for gap fills). */
    private readonly onLive?: (frame: string) => void,
    /** Called with the number of pending events dropped because the database has no such seq. */
    private readonly onDropped?: (events: number) => void,
    /** Where the first subscriber of a room, and the first socket of a user, registers interest. */
    private readonly interest: Interest = EVERYTHING,
    /** Called with the number of events delivered again (seq already passed on) and dropped here. */
    private readonly onDuplicate?: (events: number) => void,
    /**
     * How long a missing seq may take to arrive before the gap is read from the database.
     * 0 on a bus that delivers in commit order (PgBus: a missing seq is lost); a broker fed
     * by several writers (NATS) delivers two instances' commits in either order.
     */
    private readonly gapGraceMs = 0,
  ) {}

  get size(): number {
    return this.rooms.size;
  }

  /**
   * Join, and wait for what it resolves (the bus delivers the conversation) before reading
   * the conversation's state from the database, so nothing falls between.
   */
  join(conversationId: string, subscriber: Subscriber): Promise<void> {
    let room = this.rooms.get(conversationId);
    if (!room) {
      const watched = this.interest.watch(`c:${conversationId}`);
      room = { id: conversationId, watched, seq: null, subscribers: new Set(), pending: new Map(), filling: false, graceTimer: null };
      this.rooms.set(conversationId, room);
    }
    room.subscribers.add(subscriber);
    return room.watched;
  }

  leave(conversationId: string, subscriber: Subscriber): void {
    const room = this.rooms.get(conversationId);
    if (!room) return;
    room.subscribers.delete(subscriber);
    if (room.subscribers.size === 0) {
      if (room.graceTimer) clearTimeout(room.graceTimer);
      this.rooms.delete(conversationId);
      this.interest.unwatch(`c:${conversationId}`);
    }
  }

  /** A socket of this user opened here: the bus delivers the user's controls (member.added). */
  holdUser(userId: string): void {
    const held = this.users.get(userId);
    if (held) held.count++;
    else this.users.set(userId, { count: 1, watched: this.interest.watch(`u:${userId}`) });
  }

  /** One of the user's sockets here closed. */
  releaseUser(userId: string): void {
    const held = this.users.get(userId);
    if (!held) return;
    if (--held.count > 0) return;
    this.users.delete(userId);
    this.interest.unwatch(`u:${userId}`);
  }

  /** Resolves once the user's controls are delivered here (read memberships after it). */
  userWatched(userId: string): Promise<void> {
    return this.users.get(userId)?.watched ?? Promise.resolve();
  }

  /** The conversation's last seq as read after joining; only the first reading counts. */
  initialize(conversationId: string, seq: number): void {
    const room = this.rooms.get(conversationId);
    if (!room || room.seq !== null) return;
    room.seq = seq;
    this.advance(room);
  }

  /**
   * Server-side de-duplication: a seq already passed on (a bus that delivers twice, a relay
   * after the writer) is dropped here, and one already pending keeps its first copy unless
   * the new one carries the frame.
   */
  onEvents(events: StreamEvent[]): void {
    const touched = new Set<Room>();
    let duplicates = 0;
    for (const event of events) {
      const room = this.rooms.get(event.conversationId);
      if (!room || !Number.isSafeInteger(event.seq)) continue;
      const known = room.pending.get(event.seq);
      if ((room.seq !== null && event.seq <= room.seq) || (known && (known.frame !== null || event.frame === null))) {
        duplicates++;
        continue;
      }
      room.pending.set(event.seq, { frame: event.frame, access: event.access });
      touched.add(room);
    }
    if (duplicates > 0) this.onDuplicate?.(duplicates);
    for (const room of touched) this.advance(room);
  }

  /** A signal for everyone in the room except the sockets of `exclude`. */
  broadcast(conversationId: string, frame: string, exclude: string | null): void {
    const room = this.rooms.get(conversationId);
    if (!room) return;
    const data = Buffer.from(frame);
    for (const subscriber of room.subscribers) if (subscriber.userId !== exclude) subscriber.signal(conversationId, data);
  }

  /** After a listener outage: read whatever each room may have missed. */
  resync(): void {
    for (const room of this.rooms.values()) if (room.seq !== null) void this.fill(room);
  }

  private advance(room: Room): void {
    if (room.seq === null || room.filling) return;
    let seq = room.seq;
    for (;;) {
      const next = room.pending.get(seq + 1);
      if (next === undefined || next.frame === null) break;
      room.pending.delete(++seq);
      room.seq = seq;
      this.pass(room, { seq, frame: next.frame, access: next.access });
      this.onLive?.(next.frame);
    }
    for (const pendingSeq of room.pending.keys()) if (pendingSeq <= seq) room.pending.delete(pendingSeq);
    if (room.pending.size === 0) return;
    // A by-reference event must be read now; a missing one may still be on its way.
    if (this.gapGraceMs === 0 || room.pending.has(seq + 1)) return void this.fill(room);
    room.graceTimer ??= setTimeout(() => {
      room.graceTimer = null;
      if (this.rooms.get(room.id) === room && room.pending.size > 0) void this.fill(room);
    }, this.gapGraceMs);
  }

  /** Encodes once; every subscriber's socket writes the same bytes (or skips them). */
  private pass(room: Room, event: LoadedEvent): void {
    const delivery: Delivery = { seq: event.seq, data: Buffer.from(event.frame), access: event.access };
    for (const subscriber of room.subscribers) subscriber.deliver(room.id, delivery);
  }

  /**
   * Reads the gap from the database, at most FILL_MAX_PAGES pages at a time. Seqs are
   * taken under the conversation's lock and published after commit, in commit order, so
   * an event that was pending before the read began is in the database if it is real:
   * one the read did not find was never committed (a forged or corrupt record) and is
   * dropped, never waited or looped on.
   */
  private async fill(room: Room): Promise<void> {
    if (room.filling || room.seq === null) return;
    room.filling = true;
    const before = [...room.pending.keys()];
    let filled = 0;
    let reachedEnd = false;
    try {
      for (let page = 0; page < FILL_MAX_PAGES && !reachedEnd; page++) {
        const events = await this.load(room.id, room.seq, FILL_PAGE);
        if (this.rooms.get(room.id) !== room) return; // everyone left meanwhile
        for (const event of events) {
          if (event.seq !== room.seq + 1) continue;
          room.seq = event.seq;
          room.pending.delete(event.seq);
          filled++;
          this.pass(room, event);
        }
        reachedEnd = events.length < FILL_PAGE;
      }
      room.filling = false;
      if (filled > 0) this.onGapFilled?.(filled);
      if (reachedEnd) {
        const phantom = before.filter((seq) => seq > room.seq! && room.pending.delete(seq));
        if (phantom.length > 0) {
          this.onDropped?.(phantom.length);
          this.log.warn({ conversationId: room.id, dropped: phantom.length }, 'dropped fan-out events the database does not have');
        }
      }
      this.advance(room);
    } catch (error) {
      room.filling = false;
      this.log.warn({ err: error, conversationId: room.id }, 'gap fill failed; retrying');
      setTimeout(() => this.rooms.get(room.id) === room && void this.fill(room), FILL_RETRY_MS).unref();
    }
  }
}
