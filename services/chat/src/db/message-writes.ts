/**
 * Writes a batch of new messages with one statement, `chat_send_messages_v2` (migration
 * 0004): as a single autocommit statement it locks the counters in id order, checks
 * membership, dedupes by (sender, clientMsgId), checks attachments and reply parents
 * under those locks, allocates the seqs, inserts and NOTIFYs, and commits. One round trip
 * per batch, and an ack never precedes durability: an event is published if and only if
 * its row committed. Retryable conflicts are retried inside the statement, so batches
 * pipelined behind it never overtake it.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@chat/protocol';
import type { Sql } from 'postgres';
import { AppError } from '../errors.ts';
import { encodeFrame } from '../frames.ts';
import type { SqlNotifyTarget } from '../fanout/bus.ts';
import type { Outcome } from '../outcome.ts';
import { REPLY_PREVIEW_CHARS } from './rows.ts';

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

export function messageCreatedFrame(message: Message): string {
  return encodeFrame({ type: 'message.created', conversationId: message.conversationId, seq: message.seq, message });
}

interface OutcomeRow {
  ord: number;
  outcome: 'created' | 'duplicate' | 'repeat' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'BAD_REPLY' | 'BAD_ATTACHMENT';
  /** BAD_ATTACHMENT: the attachment id; repeat: the first copy's ord. */
  detail: string | null;
  message: string | null;
}

/** `notify`: where the statement publishes, in the bus's format (the bus says, see fanout/bus.ts). */
export async function writeMessages(sql: Sql, items: NewMessage[], notify: SqlNotifyTarget): Promise<Outcome<WrittenMessage>[]> {
  return toOutcomes(await callSendFunction(sql, items, notify));
}

function callSendFunction(sql: Sql, items: NewMessage[], notify: SqlNotifyTarget): Promise<OutcomeRow[]> {
  return sql<OutcomeRow[]>`
    select ord, outcome, detail, message from chat_send_messages_v2(
      ${items.map(() => randomUUID())}::uuid[], ${items.map((i) => i.conversationId)}::uuid[],
      ${items.map((i) => i.senderId)}::text[], ${items.map((i) => i.clientMsgId)}::text[],
      ${items.map((i) => i.body)}::text[], ${items.map((i) => i.replyToId)}::uuid[],
      ${items.map((i) => (i.attachmentIds.length ? i.attachmentIds.join(',') : null))}::text[],
      ${items.map((i) => (i.privileged ? 't' : 'f'))}::text[]::boolean[],
      ${REPLY_PREVIEW_CHARS}::int, ${notify.channel}::text,
      ${notify.maxPayloadBytes}::int, ${notify.maxInlineFrameBytes}::int)`;
}

function toOutcomes(rows: OutcomeRow[]): Outcome<WrittenMessage>[] {
  const outcomes: Outcome<WrittenMessage>[] = new Array(rows.length); // one row per item
  for (const row of rows) if (row.outcome !== 'repeat') outcomes[row.ord - 1] = toOutcome(row);
  // Later copies of a send in the same batch get the first copy's outcome (its ord in detail).
  for (const row of rows) {
    if (row.outcome !== 'repeat') continue;
    const original = outcomes[Number(row.detail) - 1]!;
    outcomes[row.ord - 1] = original.ok ? { ok: true, value: { message: original.value.message, duplicate: true } } : original;
  }
  return outcomes;
}

function toOutcome(row: OutcomeRow): Outcome<WrittenMessage> {
  switch (row.outcome) {
    case 'created':
    case 'duplicate':
      return { ok: true, value: { message: JSON.parse(row.message!) as Message, duplicate: row.outcome === 'duplicate' } };
    case 'FORBIDDEN':
      return { ok: false, error: new AppError('FORBIDDEN', 'You are not a member of this conversation.') };
    case 'NOT_FOUND':
      return { ok: false, error: new AppError('NOT_FOUND', 'Conversation not found.') };
    case 'CONFLICT':
      return { ok: false, error: new AppError('CONFLICT', 'This clientMsgId was already used for a message in another conversation.') };
    case 'BAD_REPLY':
      return { ok: false, error: new AppError('VALIDATION_FAILED', 'replyToId is not a message of this conversation.') };
    case 'BAD_ATTACHMENT':
      return {
        ok: false,
        error: new AppError('VALIDATION_FAILED', 'An attachment is unknown, not yours, from another conversation, or already sent.', {
          attachmentId: row.detail,
        }),
      };
    default:
      return { ok: false, error: new Error(`chat_send_messages: unknown outcome ${String(row.outcome)}`) };
  }
}
