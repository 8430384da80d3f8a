/** Reads about one message: its replies, its edit history and its per-member receipts. */
import type { EditHistory, MessageReceipts, RepliesPage } from '@chat/protocol';
import type { Sql } from 'postgres';
import { AppError } from '../errors.ts';
import { MESSAGE_COLUMNS, REACTIONS_COLUMN, toMessage, type MessageRow } from './rows.ts';

const notFound = () => new AppError('NOT_FOUND', 'Message not found.');

/**
 * Replies to a message of the conversation, ascending seq, after a seq (tombstones of
 * deleted replies included, as in history). NOT_FOUND when the parent is not a message
 * of this conversation.
 */
export async function replies(
  sql: Sql,
  conversationId: string,
  parentId: string,
  options: { after: number; limit: number },
): Promise<RepliesPage> {
  const [parent, rows] = await Promise.all([
    sql`select 1 from messages where id = ${parentId} and conversation_id = ${conversationId}`,
    // Walks messages_reply_idx (reply_to_id, seq).
    sql<MessageRow[]>`
      select ${sql.unsafe(MESSAGE_COLUMNS)}, ${sql.unsafe(REACTIONS_COLUMN)}
      from messages m left join messages p on p.id = m.reply_to_id
      where m.reply_to_id = ${parentId} and m.conversation_id = ${conversationId} and m.seq > ${options.after}
      order by m.seq asc limit ${options.limit + 1}`,
  ]);
  if (parent.length === 0) throw notFound();
  return { messages: rows.slice(0, options.limit).map(toMessage), hasMore: rows.length > options.limit };
}

/** The message's earlier bodies, oldest edit first (bodies are null once it was deleted). */
export async function editHistory(sql: Sql, conversationId: string, messageId: string): Promise<EditHistory> {
  const rows = await sql<{ previous_body: string | null; edited_at: Date | null }[]>`
    select e.previous_body, e.edited_at
    from messages m left join message_edits e on e.message_id = m.id
    where m.id = ${messageId} and m.conversation_id = ${conversationId}
    order by e.id asc`;
  if (rows.length === 0) throw notFound();
  return {
    edits: rows.flatMap((row) => (row.edited_at ? [{ previousBody: row.previous_body, editedAt: row.edited_at.toISOString() }] : [])),
  };
}

/**
 * Delivery state of one message for every current member but its sender, from the
 * members' delivered and read marks (read implies delivered).
 */
export async function receipts(sql: Sql, conversationId: string, messageId: string): Promise<MessageReceipts> {
  const rows = await sql<{ id: string; seq: number; user_id: string | null; delivered: boolean | null; read: boolean | null }[]>`
    select m.id, m.seq, mm.user_id,
           (mm.last_delivered_seq >= m.seq or mm.last_read_seq >= m.seq) as delivered,
           mm.last_read_seq >= m.seq as read
    from messages m
    left join members mm on mm.conversation_id = m.conversation_id and mm.user_id <> m.sender_id
    where m.id = ${messageId} and m.conversation_id = ${conversationId}
    order by mm.joined_at, mm.user_id`;
  const first = rows[0];
  if (!first) throw notFound();
  return {
    messageId: first.id,
    seq: first.seq,
    members: rows.flatMap((row) => (row.user_id ? [{ userId: row.user_id, delivered: row.delivered === true, read: row.read === true }] : [])),
  };
}
