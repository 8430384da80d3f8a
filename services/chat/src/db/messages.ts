/** Reads of the message history and of the seq stream. */
import { and, asc, desc, dsql, eq, gt, lt, schema, type Database } from '@chat/db';
import type { Message } from '@chat/protocol';
import type { AccessChange } from '../fanout/bus.ts';
import { accessChange, eventFrame } from './events.ts';
import { messageCreatedFrame } from './message-writes.ts';
import { prepared } from './prepared.ts';
import { m, messageColumns, p, reactionsColumn, replyParent, toMessage } from './rows.ts';

const { events } = schema;

/** A committed stream event as read back from the database. */
export interface LoadedEvent {
  seq: number;
  frame: string;
  access: AccessChange | null;
}

export interface HistoryOptions {
  before?: number;
  after?: number;
  limit: number;
  /** An encrypted conversation: the computed reply previews are envelope prefixes, so they are left out (docs/e2e.md). */
  hideReplyPreviews?: boolean;
}

/** Drops the reply preview of an encrypted conversation's message (its quote is inside the ciphertext). */
function withoutPreview<T extends { replyPreview?: string | null }>(row: T): T {
  return { ...row, replyPreview: null };
}

/** One page in ascending seq order; `hasMore` is about the paging direction. */
export async function historyPage(db: Database, conversationId: string, options: HistoryOptions): Promise<{ messages: Message[]; hasMore: boolean }> {
  const forward = options.after !== undefined;
  const bounded = options.before !== undefined;
  // One statement per paging shape: forward (after, and maybe before) or backward.
  const statement = prepared(db, `history:${forward}:${bounded}`, () =>
    db
      .select({ ...messageColumns, reactions: reactionsColumn })
      .from(m)
      .leftJoin(p, replyParent)
      .where(
        and(
          eq(m.conversationId, dsql.placeholder('conversationId')),
          forward ? gt(m.seq, dsql.placeholder('after')) : undefined,
          bounded ? lt(m.seq, dsql.placeholder('before')) : undefined,
        ),
      )
      .orderBy(forward ? asc(m.seq) : desc(m.seq))
      .limit(dsql.placeholder('take'))
      .prepare('history_page'),
  );
  const rows = await statement.execute({ conversationId, after: options.after, before: options.before, take: options.limit + 1 });
  const hasMore = rows.length > options.limit;
  const page = rows.slice(0, options.limit).map((row) => toMessage(options.hideReplyPreviews ? withoutPreview(row) : row));
  if (!forward) page.reverse();
  return { messages: page, hasMore };
}

/**
 * Committed stream events after a seq, as the frames live subscribers received:
 * messages (current state: a later edit or delete shows through, and its own event
 * follows) merged with every other event, by seq.
 */
export async function loadStream(db: Database, conversationId: string, afterSeq: number, limit: number, hideReplyPreviews = false): Promise<LoadedEvent[]> {
  const { messagesAfter, eventsAfter } = prepared(db, 'stream', () => ({
    messagesAfter: db
      .select(messageColumns)
      .from(m)
      .leftJoin(p, replyParent)
      .where(and(eq(m.conversationId, dsql.placeholder('conversationId')), gt(m.seq, dsql.placeholder('afterSeq'))))
      .orderBy(asc(m.seq))
      .limit(dsql.placeholder('limit'))
      .prepare('stream_messages'),
    // Keyed as eventFrame() takes an event row.
    eventsAfter: db
      .select({
        type: events.type,
        conversationId: events.conversationId,
        seq: events.seq,
        actorId: events.actorId,
        createdAt: events.createdAt,
        data: events.data,
      })
      .from(events)
      .where(and(eq(events.conversationId, dsql.placeholder('conversationId')), gt(events.seq, dsql.placeholder('afterSeq'))))
      .orderBy(asc(events.seq))
      .limit(dsql.placeholder('limit'))
      .prepare('stream_events'),
  }));
  const values = { conversationId, afterSeq, limit };
  const [messages, others] = await Promise.all([messagesAfter.execute(values), eventsAfter.execute(values)]);
  const merged = [
    ...messages.map((row) => ({ seq: row.seq, frame: messageCreatedFrame(toMessage(hideReplyPreviews ? withoutPreview(row) : row)), access: null })),
    ...others.map((row) => ({ seq: row.seq, frame: eventFrame(row), access: accessChange(row.type, row.data) })),
  ];
  return merged.sort((x, y) => x.seq - y.seq).slice(0, limit);
}
