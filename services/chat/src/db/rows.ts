/**
 * Message rows → API shapes. The select shape lives next to its mapper so they stay in
 * step; row types come from db/src/schema.ts.
 */
import { alias, dsql, eq, PgDialect, schema, type SQL } from '@chat/db';
import type { Message, ReactionSummary } from '@chat/protocol';

export const REPLY_PREVIEW_CHARS = 140;

/** Every message read names the message `m` and its parent `p` (left join on m.reply_to_id). */
export const m = alias(schema.messages, 'm');
export const p = alias(schema.messages, 'p');
export const replyParent = eq(p.id, m.replyToId);

/** Select shape of a message `m` with its parent `p`: `.from(m).leftJoin(p, replyParent)`. */
export const messageColumns = {
  id: m.id,
  conversationId: m.conversationId,
  seq: m.seq,
  senderId: m.senderId,
  clientMsgId: m.clientMsgId,
  body: m.body,
  replyToId: m.replyToId,
  attachments: m.attachments,
  createdAt: m.createdAt,
  editedAt: m.editedAt,
  deletedAt: m.deletedAt,
  replySenderId: p.senderId,
  replyPreview: dsql<string | null>`left(${p.body}, ${dsql.raw(String(REPLY_PREVIEW_CHARS))})`,
};

/**
 * The same columns as an SQL list aliased by their keys, for statements that are not
 * builder selects: a to_json() of them is keyed like MessageRow (the conversation
 * list's last message), and test/message-json.test.ts reads rows with it.
 */
export const messageColumnList = dsql.join(
  Object.entries(messageColumns).map(([key, column]) => dsql`${column} as ${dsql.identifier(key)}`),
  dsql`, `,
);
/** messageColumnList as text (no parameters): for postgres.js `unsafe` and EXPLAIN scripts. */
export const MESSAGE_COLUMNS = sqlText(messageColumnList);

/** Per-emoji reaction summary of message `m`, for history pages. */
export const reactionsColumn = dsql<ReactionSummary[] | null>`(
  select coalesce(json_agg(json_build_object('emoji', r.emoji, 'count', r.count, 'userIds', r.user_ids) order by r.first), '[]') from (
    select emoji, count(*)::int as count, (array_agg(user_id order by created_at))[1:20] as user_ids, min(created_at) as first
    from reactions where message_id = ${m.id} group by emoji) r)`;
/** reactionsColumn as text, for scripts that EXPLAIN the history query. */
export const REACTIONS_COLUMN = `${sqlText(reactionsColumn)} as reactions`;

/** A message row as the schema infers it, with what reads join to it. */
export type MessageRow = Omit<typeof schema.messages.$inferSelect, 'searchVector'> & {
  replySenderId?: string | null;
  replyPreview?: string | null;
  reactions?: ReactionSummary[] | null;
};

export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    conversationId: row.conversationId,
    seq: row.seq,
    senderId: row.senderId,
    clientMsgId: row.clientMsgId,
    body: row.body,
    replyToId: row.replyToId,
    attachments: row.attachments ?? [],
    createdAt: row.createdAt.toISOString(),
    editedAt: row.editedAt ? row.editedAt.toISOString() : null,
    deletedAt: row.deletedAt ? row.deletedAt.toISOString() : null,
  };
  if (row.reactions !== undefined) message.reactions = row.reactions ?? [];
  if (row.replyToId) {
    message.replyTo = row.replySenderId ? { id: row.replyToId, senderId: row.replySenderId, preview: row.replyPreview ?? null } : null;
  }
  return message;
}

/** A MessageRow read back from JSON (to_json): the same keys, timestamps as strings. */
export type MessageJson = Omit<MessageRow, 'createdAt' | 'editedAt' | 'deletedAt'> & { createdAt: string; editedAt: string | null; deletedAt: string | null };

export function fromJson(row: MessageJson): MessageRow {
  return {
    ...row,
    createdAt: new Date(row.createdAt),
    editedAt: row.editedAt === null ? null : new Date(row.editedAt),
    deletedAt: row.deletedAt === null ? null : new Date(row.deletedAt),
  };
}

function sqlText(fragment: SQL): string {
  const query = new PgDialect().sqlToQuery(fragment);
  if (query.params.length > 0) throw new Error('expected an SQL fragment without parameters');
  return query.sql;
}
