/**
 * Webhook delivery state (migration 0010): one cursor per (endpoint, conversation), the events
 * above it, the dead letters. Every cursor write is conditional on the seq it expects, so a
 * drain that lost a race (two runs of one pair after a pool was wrongly judged dead) stops
 * instead of moving the cursor twice.
 */
import { and, dsql, eq, isNull, schema, type Database } from '@chat/db';

const { webhookCursors, webhookDeadLetters } = schema;

export interface PairKey {
  endpointId: string;
  conversationId: string;
}

/** One stream row above a cursor: a message (type message.created) or an `events` row. */
export interface StreamRow {
  type: string;
  seq: number;
  createdAt: Date;
  actorId: string;
  messageId: string | null;
  /** The event's own fields (`events.data`); null for a message. */
  data: Record<string, unknown> | null;
  /** A message's columns as they are now; null for an event. */
  message: { senderName: string | null; encrypted: boolean; body: string | null; replyToId: string | null; attachments: unknown; editedAt: Date | null; deletedAt: Date | null } | null;
}

export async function readCursor(db: Database, pair: PairKey): Promise<{ deliveredSeq: number; failures: number } | null> {
  const [row] = await db
    .select({ deliveredSeq: webhookCursors.deliveredSeq, failures: webhookCursors.failures })
    .from(webhookCursors)
    .where(and(eq(webhookCursors.endpointId, pair.endpointId), eq(webhookCursors.conversationId, pair.conversationId)));
  return row ?? null;
}

type RawRow = {
  type: string;
  seq: number;
  created_at: Date;
  actor_id: string;
  message_id: string | null;
  data: Record<string, unknown> | null;
  sender_name: string | null;
  encrypted: boolean | null;
  body: string | null;
  reply_to_id: string | null;
  attachments: unknown;
  edited_at: Date | null;
  deleted_at: Date | null;
};

/**
 * The next `limit` rows of the types wanted above `after`, in seq order, read in one statement
 * (one snapshot). A seq is taken under the conversation row's lock, held to commit, so a
 * committed seq means every lower one has committed too: nothing below a row read here can
 * appear later.
 */
export async function pendingRows(db: Database, conversationId: string, after: number, types: readonly string[], limit: number): Promise<StreamRow[]> {
  const wanted = JSON.stringify(types);
  const rows = await db.execute<RawRow>(dsql`
    select * from (
      select 'message.created' as type, m.seq, m.created_at, m.sender_id as actor_id, m.id as message_id, null::jsonb as data,
             u.name as sender_name, c.encrypted, m.body, m.reply_to_id, m.attachments, m.edited_at, m.deleted_at
      from messages m left join users u on u.id = m.sender_id join conversations c on c.id = m.conversation_id
      where m.conversation_id = ${conversationId} and m.seq > ${after}
        and ${wanted}::jsonb ? 'message.created'
      union all
      select e.type, e.seq, e.created_at, e.actor_id, e.message_id, e.data,
             null, null, null, null, null, null, null
      from events e
      where e.conversation_id = ${conversationId} and e.seq > ${after}
        and e.type in (select jsonb_array_elements_text(${wanted}::jsonb))
    ) s order by seq limit ${limit}`);
  return rows.map((r) => ({
    type: r.type,
    seq: Number(r.seq),
    createdAt: new Date(r.created_at),
    actorId: r.actor_id,
    messageId: r.message_id,
    data: r.data,
    message:
      r.type === 'message.created' && r.data === null
        ? { senderName: r.sender_name, encrypted: r.encrypted === true, body: r.body, replyToId: r.reply_to_id, attachments: r.attachments, editedAt: r.edited_at && new Date(r.edited_at), deletedAt: r.deleted_at && new Date(r.deleted_at) }
        : null,
  }));
}

const at = (pair: PairKey, seq: number) =>
  and(eq(webhookCursors.endpointId, pair.endpointId), eq(webhookCursors.conversationId, pair.conversationId), eq(webhookCursors.deliveredSeq, seq));

/** Moves the cursor from `from` to `to` and clears the failure state; false when it was not at `from`. */
export async function advanceCursor(db: Pick<Database, 'update'>, pair: PairKey, from: number, to: number): Promise<boolean> {
  const moved = await db
    .update(webhookCursors)
    .set({ deliveredSeq: to, failures: 0, failingSince: null })
    .where(at(pair, from))
    .returning({ seq: webhookCursors.deliveredSeq });
  return moved.length > 0;
}

/** Counts one more failure of the event after `from` (which happened at `since`); the new count, or null after a lost race. */
export async function recordFailure(db: Database, pair: PairKey, from: number, since: Date): Promise<number | null> {
  const [row] = await db
    .update(webhookCursors)
    .set({ failures: dsql`${webhookCursors.failures} + 1`, failingSince: since })
    .where(at(pair, from))
    .returning({ failures: webhookCursors.failures });
  return row?.failures ?? null;
}

export interface DeadLetter {
  eventId: string;
  eventType: string;
  seq: number;
  payload: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string;
}

/** Writes the dead letter and moves the cursor past it, together; false after a lost race. */
export async function deadLetter(db: Database, pair: PairKey, from: number, letter: DeadLetter): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await advanceCursor(tx, pair, from, letter.seq))) return false;
    await tx.insert(webhookDeadLetters).values({ ...letter, endpointId: pair.endpointId, conversationId: pair.conversationId, lastError: letter.lastError.slice(0, 1000) });
    return true;
  });
}

/** Per endpoint: conversations whose next event keeps failing, and when the oldest of those events happened. */
export async function failingBacklog(db: Database): Promise<{ endpointId: string; conversations: number; oldest: Date }[]> {
  return db
    .select({ endpointId: webhookCursors.endpointId, conversations: dsql<number>`count(*)::int`, oldest: dsql`min(${webhookCursors.failingSince})`.mapWith(webhookCursors.failingSince) })
    .from(webhookCursors)
    .where(dsql`${webhookCursors.failingSince} is not null`)
    .groupBy(webhookCursors.endpointId);
}

/** An endpoint's dead letters not replayed yet, oldest first (per conversation, that is seq order). */
export async function deadLettersToReplay(db: Database, endpointId: string, since: Date | null, limit: number) {
  return db
    .select({ id: webhookDeadLetters.id, eventId: webhookDeadLetters.eventId, conversationId: webhookDeadLetters.conversationId, payload: webhookDeadLetters.payload })
    .from(webhookDeadLetters)
    .where(
      and(
        eq(webhookDeadLetters.endpointId, endpointId),
        isNull(webhookDeadLetters.replayedAt),
        since ? dsql`${webhookDeadLetters.failedAt} >= ${since.toISOString()}` : undefined,
      ),
    )
    .orderBy(webhookDeadLetters.id)
    .limit(limit);
}

export async function markReplayed(db: Database, id: number): Promise<void> {
  await db.update(webhookDeadLetters).set({ replayedAt: dsql`now()` }).where(eq(webhookDeadLetters.id, id));
}
