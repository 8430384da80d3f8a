/**
 * The fan-out bus: events committed by any instance reach every instance that holds
 * sockets for them. Postgres LISTEN/NOTIFY is the default implementation (pg-bus.ts);
 * NATS JetStream (nats-bus.ts) routes by interest: an instance receives only the keys it
 * `watch`es. Message sends are the exception to publishing through `publish`: the
 * `chat_send_messages_v2` statement NOTIFYs from SQL in the PgBus payload format (see
 * `NOTIFY_LIMITS`); on the NATS bus, a trigger writes their outbox rows instead and the
 * caller hands the committed events to `committed`.
 */
import type { Executor } from '@chat/db';

/**
 * How an event changes who may receive the rest of its stream. `removed`: that user's
 * sockets get this event and nothing after it; `closed` (the conversation was deleted):
 * everyone's. Joining is not here: a socket starts a stream only from a membership read
 * in one snapshot with the stream's position (ws/resume.ts).
 */
export type AccessChange = { kind: 'removed'; userId: string } | { kind: 'closed' };

/** A committed event in a conversation's seq stream. */
export interface StreamEvent {
  conversationId: string;
  seq: number;
  /** The serialised server frame, or null when the receiver must read it from the database. */
  frame: string | null;
  /** Set on the events that end someone's membership. */
  access: AccessChange | null;
}

/**
 * A frame that is never stored: typing and presence (fire-and-forget), and the
 * membership controls published inside a transaction (who must (un)subscribe).
 */
export interface Signal {
  /** Routing key: `c:<conversationId>` (the room) or `u:<userId>` (that user's sockets). */
  target: string;
  /** A user whose sockets must not receive it (the typist), or null. */
  exclude: string | null;
  frame: string;
}

export interface BusListener {
  onEvents(events: StreamEvent[]): void;
  onSignal(signal: Signal): void;
  /**
   * The subscription was lost at `downSince` and is back: events and membership controls
   * may have been missed; recover them from the database.
   */
  onResubscribed(downSince: Date): void;
}

/**
 * Where a SQL statement publishes by itself, in this bus's payload format: the send
 * statement (chat_send_messages_v2) NOTIFYs from inside PostgreSQL, the documented
 * exception to publishing through `publish`.
 */
export interface SqlNotifyTarget {
  channel: string;
  maxPayloadBytes: number;
  maxInlineFrameBytes: number;
}

export interface Bus {
  readonly sqlNotify: SqlNotifyTarget;
  /** Publishes inside the writing transaction: delivered if and only if it commits, in commit order. */
  publish(tx: Executor, events: StreamEvent[], signals?: Signal[]): Promise<void>;
  /**
   * The send statement just committed these events (it published them from SQL, see
   * `sqlNotify`). A bus that cannot see a SQL publish by itself (a broker fed from an
   * outbox) publishes them now; absent on buses that need nothing (PgBus), so callers
   * build no frames for it.
   */
  committed?(events: StreamEvent[]): void;
  /**
   * Interest: this instance now holds sockets for a routing key, `c:<conversationId>` (a
   * room gained its first subscriber) or `u:<userId>` (a user's first socket). Resolves once
   * the bus delivers that key's events and signals, so a caller can read the database after
   * it and miss nothing in between; it never rejects (while the bus is down, the
   * `onResubscribed` recovery covers the key). A bus that delivers everything (PgBus)
   * resolves at once. Callers count: one `unwatch` per `watch` of a key that is no longer held.
   */
  watch(key: string): Promise<void>;
  /** No socket here holds the key any more: the bus may stop delivering it. */
  unwatch(key: string): void;
  /** Best-effort, outside any transaction. */
  signal(signals: Signal[]): Promise<void>;
  start(listener: BusListener): Promise<void>;
  /** True while subscribed. */
  readonly listening: boolean;
  stop(): Promise<void>;
}
