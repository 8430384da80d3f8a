/**
 * Appends a non-message change to a conversation's seq stream: lock the conversation
 * row (the seq counter), apply the change, store the event, NOTIFY — one transaction.
 */
import { and, dsql, eq, schema, type Database } from '@chat/db';
import type { ConversationEventType } from '@chat/protocol';
import type { Sql, TransactionSql } from 'postgres';
import { AppError } from '../errors.ts';
import type { AccessChange, Bus, Signal } from '../fanout/bus.ts';

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

export function eventFrame(row: { type: string; conversation_id: string; seq: number; actor_id: string; created_at: Date; data: Record<string, unknown> }): string {
  return JSON.stringify({
    type: row.type,
    conversationId: row.conversation_id,
    seq: row.seq,
    actorId: row.actor_id,
    at: row.created_at.toISOString(),
    ...row.data,
  });
}

/** The events that end a membership, and whose: the delivery rule in ws/connection.ts acts on them. */
export function accessChange(type: string, data: Record<string, unknown>): AccessChange | null {
  if (type === 'conversation.deleted') return { kind: 'closed' };
  if (type === 'member.removed' && typeof data.userId === 'string') return { kind: 'removed', userId: data.userId };
  return null;
}

/** Takes the conversation's next seq, locking its row until commit. Call before reading state to change. */
export async function nextSeq(tx: TransactionSql, conversationId: string): Promise<{ seq: number; now: Date }> {
  const [row] = await tx<{ last_seq: number; now: Date }[]>`
    update conversations set last_seq = last_seq + 1
    where id = ${conversationId} and deleted_at is null
    returning last_seq, now() as now`;
  if (!row) throw new AppError('NOT_FOUND', 'Conversation not found.');
  return { seq: row.last_seq, now: row.now };
}

/** Stores the event at a seq from nextSeq and publishes it with any membership controls. */
export async function recordEvent(
  tx: TransactionSql,
  bus: Bus,
  event: NewEvent,
  at: { seq: number; now: Date },
  signals: (frame: string, seq: number) => Signal[] = () => [],
): Promise<AppendedEvent> {
  const row = {
    type: event.type,
    conversation_id: event.conversationId,
    seq: at.seq,
    actor_id: event.actorId,
    created_at: at.now,
    data: event.data,
  };
  const frame = eventFrame(row);
  await Promise.all([
    tx`insert into events (conversation_id, seq, type, actor_id, message_id, data, created_at)
       values (${event.conversationId}, ${at.seq}, ${event.type}, ${event.actorId}, ${event.messageId ?? null},
               ${tx.json(event.data as never)}, ${at.now})`,
    bus.publish(tx, [{ conversationId: event.conversationId, seq: at.seq, frame, access: accessChange(event.type, event.data) }], signals(frame, at.seq)),
  ]);
  return { seq: at.seq, at: at.now.toISOString(), frame };
}

export async function appendEvent(
  sql: Sql | TransactionSql,
  bus: Bus,
  event: NewEvent,
  signals?: (frame: string, seq: number) => Signal[],
): Promise<AppendedEvent> {
  const run = async (tx: TransactionSql) => recordEvent(tx, bus, event, await nextSeq(tx, event.conversationId), signals);
  return 'savepoint' in sql ? run(sql as TransactionSql) : (sql as Sql).begin(run);
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
