/**
 * Appends a non-message change to a conversation's seq stream: lock the conversation
 * row (the seq counter), apply the change, store the event, NOTIFY — one transaction.
 */
import { and, dsql, eq, isNull, schema, type Database, type Executor, type Tx } from '@chat/db';
import type { ConversationEvent, ConversationEventType } from '@chat/protocol';
import { AppError } from '../errors.ts';
import type { AccessChange, Bus, Signal } from '../fanout/bus.ts';
import { encodeFrame } from '../frames.ts';

const { conversations, events } = schema;

export interface NewEvent {
  conversationId: string;
  type: Exclude<ConversationEventType, 'message.created'>;
  actorId: string;
  messageId?: string | null;
  /** The event's own fields, stored as they appear in the frame. */
  data: Record<string, unknown>;
}

export interface AppendedEvent {
  seq: number;
  at: string;
  frame: string;
}

/** A stored event as its frame: the columns, then the event's own fields. */
export function eventFrame(row: { type: string; conversationId: string; seq: number; actorId: string; createdAt: Date; data: Record<string, unknown> }): string {
  return encodeFrame({
    type: row.type,
    conversationId: row.conversationId,
    seq: row.seq,
    actorId: row.actorId,
    at: row.createdAt.toISOString(),
    ...row.data,
  } as ConversationEvent);
}

/** The events that end a membership, and whose: the delivery rule in ws/connection.ts acts on them. */
export function accessChange(type: string, data: Record<string, unknown>): AccessChange | null {
  if (type === 'conversation.deleted') return { kind: 'closed' };
  if (type === 'member.removed' && typeof data.userId === 'string') return { kind: 'removed', userId: data.userId };
  return null;
}

/** Takes the conversation's next seq, locking its row until commit. Call before reading state to change. */
export async function nextSeq(tx: Tx, conversationId: string): Promise<{ seq: number; now: Date }> {
  const [row] = await tx
    .update(conversations)
    .set({ lastSeq: dsql`${conversations.lastSeq} + 1` })
    .where(and(eq(conversations.id, conversationId), isNull(conversations.deletedAt)))
    .returning({ seq: conversations.lastSeq, now: dsql`now()`.mapWith(conversations.createdAt) });
  if (!row) throw new AppError('NOT_FOUND', 'Conversation not found.');
  return { seq: row.seq, now: row.now };
}

/** Stores the event at a seq from nextSeq and publishes it with any membership controls. */
export async function recordEvent(
  tx: Tx,
  bus: Bus,
  event: NewEvent,
  at: { seq: number; now: Date },
  signals: (frame: string, seq: number) => Signal[] = () => [],
): Promise<AppendedEvent> {
  const frame = eventFrame({ ...event, seq: at.seq, createdAt: at.now });
  await Promise.all([
    tx.insert(events).values({
      conversationId: event.conversationId,
      seq: at.seq,
      type: event.type,
      actorId: event.actorId,
      messageId: event.messageId ?? null,
      data: event.data,
      createdAt: at.now,
    }),
    bus.publish(tx, [{ conversationId: event.conversationId, seq: at.seq, frame, access: accessChange(event.type, event.data) }], signals(frame, at.seq)),
  ]);
  return { seq: at.seq, at: at.now.toISOString(), frame };
}

/** One event in a transaction of its own, or in the caller's. */
export async function appendEvent(
  db: Executor,
  bus: Bus,
  event: NewEvent,
  signals?: (frame: string, seq: number) => Signal[],
): Promise<AppendedEvent> {
  return db.transaction(async (tx) => recordEvent(tx, bus, event, await nextSeq(tx, event.conversationId), signals));
}

/**
 * The member.added events committed since `since`, oldest first: after a listener outage,
 * the controls this instance may have missed. The type is a literal in the statement (not
 * a parameter) so the planner can use the partial index on membership events; the time is
 * bound as ISO 8601, since Drizzle's client passes timestamp parameters through unserialised.
 */
export async function membersAddedSince(db: Database, since: Date): Promise<{ conversationId: string; userId: string }[]> {
  const { events } = schema;
  return db
    .select({ conversationId: events.conversationId, userId: dsql<string>`${events.data}->'member'->>'userId'` })
    .from(events)
    .where(and(eq(events.type, dsql`'member.added'`), dsql`${events.createdAt} >= ${since.toISOString()}`))
    .orderBy(events.createdAt, events.seq);
}
