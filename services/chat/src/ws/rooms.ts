/**
 * Routes committed events to this instance's subscribers, one room per conversation.
 * A room passes events on strictly in seq order with no gaps: an event that arrives
 * early waits in `pending` while the gap is read from the database (a missed
 * notification, a frame sent by reference, or everything after a listener reconnect).
 */
import type { Logger } from 'pino';
import type { StreamEvent } from '../fanout/bus.ts';

/** A frame as text, or already encoded once for all of its recipients. */
export type FrameData = string | Buffer;

export interface Subscriber {
  readonly userId: string;
  deliver(conversationId: string, seq: number, frame: FrameData): void;
  /** Sends a signal frame (no seq) as is. */
  sendRaw(frame: FrameData): void;
}

export interface LoadedEvent {
  seq: number;
  frame: string;
}

/** Reads committed events with seq > afterSeq, ascending. */
export type EventLoader = (conversationId: string, afterSeq: number, limit: number) => Promise<LoadedEvent[]>;

interface Room {
  id: string;
  /** Highest seq passed on; null until the first subscriber read the conversation's state. */
  seq: number | null;
  subscribers: Set<Subscriber>;
  pending: Map<number, string | null>;
  filling: boolean;
}

const FILL_PAGE = 500;
const FILL_RETRY_MS = 500;

export class Rooms {
  private readonly rooms = new Map<string, Room>();

  constructor(
    private readonly load: EventLoader,
    private readonly log: Logger,
    private readonly onGapFilled?: (events: number) => void,
    /** Called once per event passed on live (not for gap fills). */
    private readonly onLive?: (frame: string) => void,
  ) {}

  get size(): number {
    return this.rooms.size;
  }

  /** Join before reading the conversation's state from the database, so nothing falls between. */
  join(conversationId: string, subscriber: Subscriber): void {
    let room = this.rooms.get(conversationId);
    if (!room) {
      room = { id: conversationId, seq: null, subscribers: new Set(), pending: new Map(), filling: false };
      this.rooms.set(conversationId, room);
    }
    room.subscribers.add(subscriber);
  }

  leave(conversationId: string, subscriber: Subscriber): void {
    const room = this.rooms.get(conversationId);
    if (!room) return;
    room.subscribers.delete(subscriber);
    if (room.subscribers.size === 0) this.rooms.delete(conversationId);
  }

  /** The conversation's last seq as read after joining; only the first reading counts. */
  initialize(conversationId: string, seq: number): void {
    const room = this.rooms.get(conversationId);
    if (!room || room.seq !== null) return;
    room.seq = seq;
    this.advance(room);
  }

  onEvents(events: StreamEvent[]): void {
    const touched = new Set<Room>();
    for (const event of events) {
      const room = this.rooms.get(event.conversationId);
      if (!room || (room.seq !== null && event.seq <= room.seq)) continue;
      room.pending.set(event.seq, event.frame);
      touched.add(room);
    }
    for (const room of touched) this.advance(room);
  }

  /** A signal for everyone in the room except the sockets of `exclude`. */
  broadcast(conversationId: string, frame: string, exclude: string | null): void {
    const room = this.rooms.get(conversationId);
    if (!room) return;
    const data = Buffer.from(frame);
    for (const subscriber of room.subscribers) if (subscriber.userId !== exclude) subscriber.sendRaw(data);
  }

  /** After a listener outage: read whatever each room may have missed. */
  resync(): void {
    for (const room of this.rooms.values()) if (room.seq !== null) void this.fill(room);
  }

  private advance(room: Room): void {
    if (room.seq === null || room.filling) return;
    let seq = room.seq;
    for (;;) {
      const frame = room.pending.get(seq + 1);
      if (frame === undefined || frame === null) break;
      room.pending.delete(++seq);
      room.seq = seq;
      // Encode once; every recipient's socket writes the same bytes.
      const data = Buffer.from(frame);
      for (const subscriber of room.subscribers) subscriber.deliver(room.id, seq, data);
      this.onLive?.(frame);
    }
    for (const pendingSeq of room.pending.keys()) if (pendingSeq <= seq) room.pending.delete(pendingSeq);
    if (room.pending.size > 0) void this.fill(room);
  }

  private async fill(room: Room): Promise<void> {
    if (room.filling || room.seq === null) return;
    room.filling = true;
    let filled = 0;
    try {
      for (;;) {
        const events = await this.load(room.id, room.seq, FILL_PAGE);
        if (this.rooms.get(room.id) !== room) return; // everyone left meanwhile
        for (const event of events) {
          if (event.seq !== room.seq + 1) continue;
          room.seq = event.seq;
          room.pending.delete(event.seq);
          filled++;
          const data = Buffer.from(event.frame);
          for (const subscriber of room.subscribers) subscriber.deliver(room.id, event.seq, data);
        }
        if (events.length < FILL_PAGE) break;
      }
      room.filling = false;
      if (filled > 0) this.onGapFilled?.(filled);
      this.advance(room);
    } catch (error) {
      room.filling = false;
      this.log.warn({ err: error, conversationId: room.id }, 'gap fill failed; retrying');
      setTimeout(() => this.rooms.get(room.id) === room && void this.fill(room), FILL_RETRY_MS).unref();
    }
  }
}
