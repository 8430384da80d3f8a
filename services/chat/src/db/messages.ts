/** Reads of the message history and of the seq stream. */
import type { Message } from '@chat/protocol';
import type { Sql } from 'postgres';
import type { AccessChange } from '../fanout/bus.ts';
import { accessChange, eventFrame } from './events.ts';
import { messageCreatedFrame } from './message-writes.ts';
import { MESSAGE_COLUMNS, REACTIONS_COLUMN, toMessage, type MessageRow } from './rows.ts';

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
}

/** One page in ascending seq order; `hasMore` is about the paging direction. */
export async function historyPage(sql: Sql, conversationId: string, options: HistoryOptions): Promise<{ messages: Message[]; hasMore: boolean }> {
  const take = options.limit + 1;
  const rows =
    options.after !== undefined
      ? await sql<MessageRow[]>`
          select ${sql.unsafe(MESSAGE_COLUMNS)}, ${sql.unsafe(REACTIONS_COLUMN)} from messages m left join messages p on p.id = m.reply_to_id
          where m.conversation_id = ${conversationId} and m.seq > ${options.after}
            ${options.before !== undefined ? sql`and m.seq < ${options.before}` : sql``}
          order by m.seq asc limit ${take}`
      : await sql<MessageRow[]>`
          select ${sql.unsafe(MESSAGE_COLUMNS)}, ${sql.unsafe(REACTIONS_COLUMN)} from messages m left join messages p on p.id = m.reply_to_id
          where m.conversation_id = ${conversationId}
            ${options.before !== undefined ? sql`and m.seq < ${options.before}` : sql``}
          order by m.seq desc limit ${take}`;
  const hasMore = rows.length > options.limit;
  const page = rows.slice(0, options.limit).map(toMessage);
  if (options.after === undefined) page.reverse();
  return { messages: page, hasMore };
}

/**
 * Committed stream events after a seq, as the frames live subscribers received:
 * messages (current state: a later edit or delete shows through, and its own event
 * follows) merged with every other event, by seq.
 */
export async function loadStream(sql: Sql, conversationId: string, afterSeq: number, limit: number): Promise<LoadedEvent[]> {
  const [messages, others] = await Promise.all([
    sql<MessageRow[]>`
      select ${sql.unsafe(MESSAGE_COLUMNS)} from messages m left join messages p on p.id = m.reply_to_id
      where m.conversation_id = ${conversationId} and m.seq > ${afterSeq}
      order by m.seq asc limit ${limit}`,
    sql<{ type: string; conversation_id: string; seq: number; actor_id: string; created_at: Date; data: Record<string, unknown> }[]>`
      select type, conversation_id, seq, actor_id, created_at, data from events
      where conversation_id = ${conversationId} and seq > ${afterSeq}
      order by seq asc limit ${limit}`,
  ]);
  const merged = [
    ...messages.map((row) => ({ seq: row.seq, frame: messageCreatedFrame(toMessage(row)), access: null })),
    ...others.map((row) => ({ seq: row.seq, frame: eventFrame(row), access: accessChange(row.type, row.data) })),
  ];
  return merged.sort((x, y) => x.seq - y.seq).slice(0, limit);
}
