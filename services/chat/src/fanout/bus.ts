/**
 * The fan-out bus: events committed by any instance reach every instance.
 * Postgres LISTEN/NOTIFY is the default implementation; a broker can replace it
 * behind this interface.
 */
import type { Sql, TransactionSql } from 'postgres';

/** A committed event in a conversation's seq stream. */
export interface StreamEvent {
  conversationId: string;
  seq: number;
  /** The serialised server frame, or null when the receiver must read it from the database. */
  frame: string | null;
}

/** A fire-and-forget signal that is never stored (typing, presence). */
export interface Signal {
  /** Routing key: `c:<conversationId>` or `u:<userId>`. */
  target: string;
  frame: string;
  /** The publishing instance, so an origin can tell its own signals apart. */
  origin: string;
}

export interface BusListener {
  onEvents(events: StreamEvent[]): void;
  onSignal(signal: Signal): void;
  /** The subscription was lost and is back: events may have been missed, replay from the database. */
  onResubscribed(): void;
}

export interface Bus {
  /** Publishes inside the writing transaction: delivered if and only if it commits. */
  publish(tx: TransactionSql | Sql, events: StreamEvent[]): Promise<void>;
  signal(signal: Signal): Promise<void>;
  start(listener: BusListener): Promise<void>;
  /** True while subscribed. */
  readonly listening: boolean;
  stop(): Promise<void>;
}
