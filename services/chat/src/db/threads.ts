/** Reads about one message: its replies, its edit history and its per-member receipts. */
import { and, asc, dsql, eq, gt, ne, schema, type Database } from '@chat/db';
import type { EditHistory, MessageReceipts, RepliesPage } from '@chat/protocol';
import { AppError } from '../errors.ts';
import { prepared } from './prepared.ts';
import { m, messageColumns, p, reactionsColumn, replyParent, toMessage } from './rows.ts';

const { members, messageEdits, messages } = schema;

const notFound = () => new AppError('NOT_FOUND', 'Message not found.');

/**
 * Replies to a message of the conversation, ascending seq, after a seq (tombstones of
 * deleted replies included, as in history). NOT_FOUND when the parent is not a message
 * of this conversation.
 */
export async function replies(
  db: Database,
  conversationId: string,
  parentId: string,
  options: { after: number; limit: number },
): Promise<RepliesPage> {
  const { parentQuery, repliesQuery } = prepared(db, 'replies', () => ({
    parentQuery: db
      .select({ one: dsql`1` })
      .from(messages)
      .where(and(eq(messages.id, dsql.placeholder('parentId')), eq(messages.conversationId, dsql.placeholder('conversationId'))))
      .prepare('reply_parent'),
    // Walks messages_reply_idx (reply_to_id, seq).
    repliesQuery: db
      .select({ ...messageColumns, reactions: reactionsColumn })
      .from(m)
      .leftJoin(p, replyParent)
      .where(
        and(
          eq(m.replyToId, dsql.placeholder('parentId')),
          eq(m.conversationId, dsql.placeholder('conversationId')),
          gt(m.seq, dsql.placeholder('after')),
        ),
      )
      .orderBy(asc(m.seq))
      .limit(dsql.placeholder('take'))
      .prepare('replies'),
  }));
  const values = { conversationId, parentId, after: options.after, take: options.limit + 1 };
  const [parent, rows] = await Promise.all([parentQuery.execute(values), repliesQuery.execute(values)]);
  if (parent.length === 0) throw notFound();
  return { messages: rows.slice(0, options.limit).map(toMessage), hasMore: rows.length > options.limit };
}

/** The message's earlier bodies, oldest edit first (bodies are null once it was deleted). */
export async function editHistory(db: Database, conversationId: string, messageId: string): Promise<EditHistory> {
  const rows = await prepared(db, 'editHistory', () =>
    db
      .select({ previousBody: messageEdits.previousBody, editedAt: messageEdits.editedAt })
      .from(messages)
      .leftJoin(messageEdits, eq(messageEdits.messageId, messages.id))
      .where(and(eq(messages.id, dsql.placeholder('messageId')), eq(messages.conversationId, dsql.placeholder('conversationId'))))
      .orderBy(asc(messageEdits.id))
      .prepare('edit_history'),
  ).execute({ conversationId, messageId });
  if (rows.length === 0) throw notFound();
  return {
    edits: rows.flatMap((row) => (row.editedAt ? [{ previousBody: row.previousBody, editedAt: row.editedAt.toISOString() }] : [])),
  };
}

/**
 * Delivery state of one message for every current member but its sender, from the
 * members' delivered and read marks (read implies delivered).
 */
export async function receipts(db: Database, conversationId: string, messageId: string): Promise<MessageReceipts> {
  const rows = await prepared(db, 'receipts', () =>
    db
      .select({
        id: messages.id,
        seq: messages.seq,
        userId: members.userId,
        delivered: dsql<boolean | null>`(${members.lastDeliveredSeq} >= ${messages.seq} or ${members.lastReadSeq} >= ${messages.seq})`,
        read: dsql<boolean | null>`${members.lastReadSeq} >= ${messages.seq}`,
      })
      .from(messages)
      .leftJoin(members, and(eq(members.conversationId, messages.conversationId), ne(members.userId, messages.senderId)))
      .where(and(eq(messages.id, dsql.placeholder('messageId')), eq(messages.conversationId, dsql.placeholder('conversationId'))))
      .orderBy(asc(members.joinedAt), asc(members.userId))
      .prepare('receipts'),
  ).execute({ conversationId, messageId });
  const first = rows[0];
  if (!first) throw notFound();
  return {
    messageId: first.id,
    seq: first.seq,
    members: rows.flatMap((row) => (row.userId ? [{ userId: row.userId, delivered: row.delivered === true, read: row.read === true }] : [])),
  };
}
