/**
 * Writes a batch of new messages in one transaction: dedupe by (sender, clientMsgId),
 * allocate per-conversation seqs under row locks taken in id order (no deadlocks
 * between batches), insert, and NOTIFY — all before COMMIT, so an ack never precedes
 * durability and an event is published if and only if its row committed.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@chat/protocol';
import type { Sql, TransactionSql } from 'postgres';
import { AppError } from '../errors.ts';
import type { AttachmentRow } from './attachments.ts';
import type { Outcome } from '../domain/group-commit.ts';
import type { Bus, StreamEvent } from '../fanout/bus.ts';
import { MESSAGE_COLUMNS, REPLY_PREVIEW_CHARS, toMessage, type MessageRow } from './rows.ts';

export interface NewMessage {
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  replyToId: string | null;
  attachmentIds: string[];
  /** A system owner/admin may write where they are not a member. */
  privileged: boolean;
}

export interface WrittenMessage {
  message: Message;
  duplicate: boolean;
}

const RETRYABLE_PG_CODES = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 4;

export function messageCreatedFrame(message: Message): string {
  return JSON.stringify({ type: 'message.created', conversationId: message.conversationId, seq: message.seq, message });
}

export async function writeMessages(sql: Sql, bus: Bus, items: NewMessage[]): Promise<Outcome<WrittenMessage>[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sql.begin((tx) => writeInTransaction(tx, bus, items));
    } catch (error) {
      // A concurrent batch elsewhere committed the same clientMsgId, or lock contention:
      // the retry sees the committed row and returns it as a duplicate.
      const code = (error as { code?: string }).code;
      if (attempt < MAX_ATTEMPTS && code && RETRYABLE_PG_CODES.has(code)) continue;
      throw error;
    }
  }
}

async function writeInTransaction(tx: TransactionSql, bus: Bus, items: NewMessage[]): Promise<Outcome<WrittenMessage>[]> {
  const outcomes: (Outcome<WrittenMessage> | undefined)[] = new Array(items.length);
  const key = (item: NewMessage) => `${item.senderId}\u0000${item.clientMsgId}`;
  const conversationIds = [...new Set(items.map((i) => i.conversationId))];
  const replyIds = [...new Set(items.flatMap((i) => (i.replyToId ? [i.replyToId] : [])))];
  const attachmentIds = [...new Set(items.flatMap((i) => i.attachmentIds))];

  // 1-3 in one pipelined round trip, executed in order by the server:
  //  - retries of messages already stored;
  //  - parents of replies (must be in the same conversation);
  //  - the conversations' rows (the seq counters) locked in id order, so batches never deadlock;
  //  - membership and attachments, read under that lock: a removal either committed before
  //    (and is seen here) or waits for this transaction.
  const [existing, parentRows, locked, memberRows, attachmentRows] = await Promise.all([
    tx<MessageRow[]>`
      select ${tx.unsafe(MESSAGE_COLUMNS)}
      from unnest(${items.map((i) => i.senderId)}::text[], ${items.map((i) => i.clientMsgId)}::text[]) k(sender_id, client_msg_id)
      join messages m on m.sender_id = k.sender_id and m.client_msg_id = k.client_msg_id
      left join messages p on p.id = m.reply_to_id`,
    replyIds.length
      ? tx<ParentRow[]>`
          select id, conversation_id, sender_id, left(body, ${REPLY_PREVIEW_CHARS}) as preview
          from messages where id = any(${replyIds}::uuid[])`
      : Promise.resolve([] as ParentRow[]),
    tx<{ id: string; last_seq: number; now: Date }[]>`
      select id, last_seq, now() as now from conversations
      where id = any(${conversationIds}::uuid[]) and deleted_at is null order by id for update`,
    tx<{ conversation_id: string; user_id: string }[]>`
      select m.conversation_id, m.user_id from members m
      join unnest(${items.map((i) => i.conversationId)}::uuid[], ${items.map((i) => i.senderId)}::text[]) k(c, u)
        on m.conversation_id = k.c and m.user_id = k.u`,
    attachmentIds.length
      ? tx<AttachmentRow[]>`
          select id, conversation_id, uploader_id, message_id, filename, content_type, size
          from attachments where id = any(${attachmentIds}::uuid[]) for update`
      : Promise.resolve([] as AttachmentRow[]),
  ]);
  const stored = new Map(existing.map((row) => [`${row.sender_id}\u0000${row.client_msg_id}`, toMessage(row)]));
  const parents = new Map(parentRows.map((row) => [row.id, row]));
  const live = new Set(locked.map((r) => r.id));
  const isMember = new Set(memberRows.map((r) => `${r.conversation_id} ${r.user_id}`));
  const attachments = new Map(attachmentRows.map((r) => [r.id, r]));
  const claimed = new Set<string>();

  const accepted: { index: number; item: NewMessage }[] = [];
  const firstIndex = new Map<string, number>();
  items.forEach((item, index) => {
    const k = key(item);
    const original = stored.get(k);
    if (original) {
      outcomes[index] = { ok: true, value: { message: original, duplicate: true } };
      return;
    }
    if (firstIndex.has(k)) return; // the same send twice in one batch: settled below
    firstIndex.set(k, index);
    const parent = item.replyToId ? parents.get(item.replyToId) : undefined;
    const error =
      rejectReason(item, live, isMember, attachments, claimed) ??
      (item.replyToId && parent?.conversation_id !== item.conversationId
        ? new AppError('VALIDATION_FAILED', 'replyToId is not a message of this conversation.')
        : null);
    if (error) outcomes[index] = { ok: false, error };
    else accepted.push({ index, item });
  });

  if (accepted.length > 0) {
    // 4. Allocate seqs from the locked counters (the rows cannot move until we commit).
    const counts = new Map<string, number>();
    for (const { item } of accepted) counts.set(item.conversationId, (counts.get(item.conversationId) ?? 0) + 1);
    const next = new Map<string, number>();
    let now = new Date();
    for (const row of locked) {
      next.set(row.id, row.last_seq + 1);
      now = row.now; // now() is the transaction's start: the same in every statement
    }
    const countedIds = [...counts.keys()];

    // 5. Advance the counters, insert, attach and publish in one round trip.
    const createdAt = now.toISOString();
    const messages: Message[] = [];
    const events: StreamEvent[] = [];
    for (const { index, item } of accepted) {
      const seq = next.get(item.conversationId)!;
      next.set(item.conversationId, seq + 1);
      const parent = item.replyToId ? parents.get(item.replyToId) : undefined;
      const message: Message = {
        id: randomUUID(),
        conversationId: item.conversationId,
        seq,
        senderId: item.senderId,
        clientMsgId: item.clientMsgId,
        body: item.body,
        replyToId: item.replyToId,
        attachments: item.attachmentIds.map((id) => {
          const a = attachments.get(id)!;
          return { id, filename: a.filename, contentType: a.content_type, size: a.size };
        }),
        createdAt,
        editedAt: null,
        deletedAt: null,
      };
      if (item.replyToId && parent) message.replyTo = { id: item.replyToId, senderId: parent.sender_id, preview: parent.preview };
      messages.push(message);
      events.push({ conversationId: message.conversationId, seq, frame: messageCreatedFrame(message) });
      outcomes[index] = { ok: true, value: { message, duplicate: false } };
    }
    if (messages.length > 0) {
      const withAttachments = messages.filter((m) => m.attachments.length > 0);
      await Promise.all([
        tx`
          update conversations c set last_seq = v.last_seq, last_activity_at = ${now}
          from unnest(${countedIds}::uuid[], ${countedIds.map((id) => next.get(id)! - 1)}::bigint[]) v(id, last_seq)
          where c.id = v.id`,
        tx`
          insert into messages (id, conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, attachments, created_at)
          select * from unnest(
            ${messages.map((m) => m.id)}::uuid[], ${messages.map((m) => m.conversationId)}::uuid[],
            ${messages.map((m) => m.seq)}::bigint[], ${messages.map((m) => m.senderId)}::text[],
            ${messages.map((m) => m.clientMsgId)}::text[], ${messages.map((m) => m.body!)}::text[],
            ${messages.map((m) => m.replyToId)}::uuid[],
            ${messages.map((m) => (m.attachments.length ? JSON.stringify(m.attachments) : null))}::text[]::jsonb[],
            ${messages.map(() => createdAt)}::timestamptz[])`,
        withAttachments.length
          ? tx`update attachments a set message_id = v.message_id
               from unnest(${withAttachments.flatMap((m) => m.attachments.map((x) => x.id))}::uuid[],
                           ${withAttachments.flatMap((m) => m.attachments.map(() => m.id))}::uuid[]) v(id, message_id)
               where a.id = v.id`
          : Promise.resolve(),
        bus.publish(tx, events),
      ]);
    }
  }

  // Later copies of a send in the same batch get the first copy's outcome.
  items.forEach((item, index) => {
    if (outcomes[index]) return;
    const first = outcomes[firstIndex.get(key(item))!]!;
    outcomes[index] = first.ok ? { ok: true, value: { message: first.value.message, duplicate: true } } : first;
  });
  return outcomes as Outcome<WrittenMessage>[];
}

interface ParentRow {
  id: string;
  conversation_id: string;
  sender_id: string;
  preview: string | null;
}

function rejectReason(
  item: NewMessage,
  live: Set<string>,
  isMember: Set<string>,
  attachments: Map<string, AttachmentRow>,
  claimed: Set<string>,
): AppError | null {
  if (!isMember.has(`${item.conversationId} ${item.senderId}`) && !(item.privileged && live.has(item.conversationId))) {
    return new AppError('FORBIDDEN', 'You are not a member of this conversation.');
  }
  if (!live.has(item.conversationId)) return new AppError('NOT_FOUND', 'Conversation not found.');
  for (const id of item.attachmentIds) {
    const a = attachments.get(id);
    if (!a || a.uploader_id !== item.senderId || a.conversation_id !== item.conversationId || a.message_id !== null || claimed.has(id)) {
      return new AppError('VALIDATION_FAILED', 'An attachment is unknown, not yours, from another conversation, or already sent.', { attachmentId: id });
    }
  }
  for (const id of item.attachmentIds) claimed.add(id);
  return null;
}
