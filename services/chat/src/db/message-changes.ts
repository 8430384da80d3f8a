/** Edits, deletes and reactions: each a stream event, checked against the state under lock. */
import type { Role } from '@chat/protocol';
import type { Sql, TransactionSql } from 'postgres';
import { allowed } from '../domain/policy.ts';
import { AppError } from '../errors.ts';
import type { Bus } from '../fanout/bus.ts';
import { nextSeq, recordEvent } from './events.ts';

interface TargetRow {
  id: string;
  sender_id: string;
  body: string | null;
  created_at: Date;
  deleted_at: Date | null;
}

async function lockTarget(tx: TransactionSql, conversationId: string, messageId: string): Promise<TargetRow> {
  const [row] = await tx<TargetRow[]>`
    select id, sender_id, body, created_at, deleted_at from messages
    where id = ${messageId} and conversation_id = ${conversationId} for update`;
  if (!row) throw new AppError('NOT_FOUND', 'Message not found.');
  return row;
}

export async function editMessage(
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; body: string; editWindowSec: number },
): Promise<{ seq: number | null }> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const target = await lockTarget(tx, input.conversationId, input.messageId);
    if (target.sender_id !== input.actorId) throw new AppError('FORBIDDEN', 'Only the author can edit a message.');
    if (target.deleted_at) throw new AppError('CONFLICT', 'The message was deleted.');
    if (at.now.getTime() - target.created_at.getTime() > input.editWindowSec * 1000) throw new AppError('EDIT_WINDOW_CLOSED');
    if (target.body === input.body) throw new AppError('CONFLICT', 'The text is unchanged.');
    await Promise.all([
      tx`insert into message_edits (message_id, previous_body, edited_at) values (${input.messageId}, ${target.body}, ${at.now})`,
      tx`update messages set body = ${input.body}, edited_at = ${at.now} where id = ${input.messageId}`,
    ]);
    const event = await recordEvent(
      tx,
      bus,
      {
        conversationId: input.conversationId,
        type: 'message.edited',
        actorId: input.actorId,
        messageId: input.messageId,
        data: { messageId: input.messageId, body: input.body, editedAt: at.now.toISOString() },
      },
      at,
    );
    return { seq: event.seq };
  });
}

/**
 * Deletes as a tombstone: the row keeps its seq, every stored copy of the text (body,
 * edit history, edit events) is erased, reactions go.
 */
export async function deleteMessage(
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; role: Role; kind: 'direct' | 'group' },
): Promise<{ seq: number | null }> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const target = await lockTarget(tx, input.conversationId, input.messageId);
    const moderator = input.kind === 'group' && allowed(input.role, 'moderate');
    if (target.sender_id !== input.actorId && !moderator) {
      throw new AppError('FORBIDDEN', 'Only the author, or an admin of a group, can delete a message.');
    }
    if (target.deleted_at) throw new AppError('CONFLICT', 'The message was already deleted.');
    await Promise.all([
      tx`update messages set body = null, attachments = null, deleted_at = ${at.now} where id = ${input.messageId}`,
      tx`update message_edits set previous_body = null where message_id = ${input.messageId}`,
      tx`update events set data = data || '{"body": null}'::jsonb where message_id = ${input.messageId} and type = 'message.edited'`,
      tx`delete from reactions where message_id = ${input.messageId}`,
    ]);
    const event = await recordEvent(
      tx,
      bus,
      {
        conversationId: input.conversationId,
        type: 'message.deleted',
        actorId: input.actorId,
        messageId: input.messageId,
        data: { messageId: input.messageId, deletedAt: at.now.toISOString() },
      },
      at,
    );
    return { seq: event.seq };
  });
}

/** Adds or removes one user's emoji on a message; no event when nothing changed. */
export async function setReaction(
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; emoji: string; add: boolean },
): Promise<{ seq: number | null }> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const target = await lockTarget(tx, input.conversationId, input.messageId);
    if (target.deleted_at) throw new AppError('CONFLICT', 'The message was deleted.');
    const changed = input.add
      ? await tx`insert into reactions (message_id, user_id, emoji) values (${input.messageId}, ${input.actorId}, ${input.emoji})
                 on conflict do nothing returning 1`
      : await tx`delete from reactions where message_id = ${input.messageId} and user_id = ${input.actorId} and emoji = ${input.emoji}
                 returning 1`;
    if (changed.length === 0) {
      // Nothing to announce: give the seq back by rolling back.
      throw new Unchanged();
    }
    const event = await recordEvent(
      tx,
      bus,
      {
        conversationId: input.conversationId,
        type: input.add ? 'reaction.added' : 'reaction.removed',
        actorId: input.actorId,
        messageId: input.messageId,
        data: { messageId: input.messageId, userId: input.actorId, emoji: input.emoji },
      },
      at,
    );
    return { seq: event.seq };
  }).catch((error: unknown) => {
    if (error instanceof Unchanged) return { seq: null };
    throw error;
  });
}

/** Thrown to roll a transaction back when a request turned out to change nothing. */
export class Unchanged extends Error {}

/** Marks read (implies delivered) or delivered up to a seq; monotonic, no event when nothing moved. */
export async function markReceipt(
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; userId: string; upTo: number; kind: 'read' | 'delivered' },
): Promise<{ seq: number | null }> {
  return sql
    .begin(async (tx) => {
      const at = await nextSeq(tx, input.conversationId);
      const upTo = Math.min(input.upTo, at.seq - 1);
      const moved =
        input.kind === 'read'
          ? await tx`update members set last_read_seq = ${upTo}, last_delivered_seq = greatest(last_delivered_seq, ${upTo})
                     where conversation_id = ${input.conversationId} and user_id = ${input.userId} and last_read_seq < ${upTo}
                     returning 1`
          : await tx`update members set last_delivered_seq = ${upTo}
                     where conversation_id = ${input.conversationId} and user_id = ${input.userId} and last_delivered_seq < ${upTo}
                     returning 1`;
      if (moved.length === 0) throw new Unchanged();
      const event = await recordEvent(
        tx,
        bus,
        { conversationId: input.conversationId, type: input.kind, actorId: input.userId, data: { userId: input.userId, upTo } },
        at,
      );
      return { seq: event.seq };
    })
    .catch((error: unknown) => {
      if (error instanceof Unchanged) return { seq: null };
      throw error;
    });
}
