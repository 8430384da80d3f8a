/** Edits, deletes, reactions and receipts: each a stream event, checked against the state under lock. */
import { and, dsql, eq, lt, schema, type Database, type Tx } from '@chat/db';
import { AppError } from '../errors.ts';
import type { Bus } from '../fanout/bus.ts';
import { nextSeq, recordEvent } from './events.ts';

const { conversations, events, members, messageEdits, messages, reactions } = schema;

async function lockTarget(tx: Tx, conversationId: string, messageId: string) {
  const [row] = await tx
    .select({
      id: messages.id,
      senderId: messages.senderId,
      clientMsgId: messages.clientMsgId,
      replyToId: messages.replyToId,
      body: messages.body,
      createdAt: messages.createdAt,
      deletedAt: messages.deletedAt,
    })
    .from(messages)
    .where(and(eq(messages.id, messageId), eq(messages.conversationId, conversationId)))
    .for('update');
  if (!row) throw new AppError('NOT_FOUND', 'Message not found.');
  return row;
}

/** Thrown to roll a transaction back when a request turned out to change nothing. */
export class Unchanged extends Error {}

/** Runs a change; one that turns out to change nothing rolls back (giving its seq back) and answers `seq: null`. */
function unlessUnchanged(run: Promise<{ seq: number | null }>): Promise<{ seq: number | null }> {
  return run.catch((error: unknown) => {
    if (error instanceof Unchanged) return { seq: null };
    throw error;
  });
}

/** The caller's own rule for an edit, run under the message's lock (encrypted conversations: domain/actions.ts). */
export type EditCheck = (target: { clientMsgId: string; replyToId: string | null; body: string | null }) => void;

export async function editMessage(
  db: Database,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; body: string; editWindowSec: number; check?: EditCheck | undefined },
): Promise<{ seq: number | null }> {
  return db.transaction(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const target = await lockTarget(tx, input.conversationId, input.messageId);
    if (target.senderId !== input.actorId) throw new AppError('FORBIDDEN', 'Only the author can edit a message.');
    if (target.deletedAt) throw new AppError('CONFLICT', 'The message was deleted.');
    if (at.now.getTime() - target.createdAt.getTime() > input.editWindowSec * 1000) throw new AppError('EDIT_WINDOW_CLOSED');
    if (target.body === input.body) throw new AppError('CONFLICT', 'The text is unchanged.');
    input.check?.(target);
    await Promise.all([
      tx.insert(messageEdits).values({ messageId: input.messageId, previousBody: target.body, editedAt: at.now }),
      tx.update(messages).set({ body: input.body, editedAt: at.now }).where(eq(messages.id, input.messageId)),
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
 * edit history, edit events) is erased, reactions go. `mayDelete` is the caller's rule
 * for someone else's message (the domain's policy), decided here under the lock.
 */
export async function deleteMessage(
  db: Database,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; mayDeleteOthers: boolean },
): Promise<{ seq: number | null }> {
  return db.transaction(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const target = await lockTarget(tx, input.conversationId, input.messageId);
    if (target.senderId !== input.actorId && !input.mayDeleteOthers) {
      throw new AppError('FORBIDDEN', 'Only the author, or an admin of a group, can delete a message.');
    }
    if (target.deletedAt) throw new AppError('CONFLICT', 'The message was already deleted.');
    await Promise.all([
      tx.update(messages).set({ body: null, attachments: null, deletedAt: at.now }).where(eq(messages.id, input.messageId)),
      tx.update(messageEdits).set({ previousBody: null }).where(eq(messageEdits.messageId, input.messageId)),
      tx
        .update(events)
        .set({ data: dsql`${events.data} || '{"body": null}'::jsonb` })
        .where(and(eq(events.messageId, input.messageId), eq(events.type, 'message.edited'))),
      tx.delete(reactions).where(eq(reactions.messageId, input.messageId)),
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
  db: Database,
  bus: Bus,
  input: { conversationId: string; messageId: string; actorId: string; emoji: string; add: boolean },
): Promise<{ seq: number | null }> {
  return unlessUnchanged(
    db.transaction(async (tx) => {
      const at = await nextSeq(tx, input.conversationId);
      const target = await lockTarget(tx, input.conversationId, input.messageId);
      if (target.deletedAt) throw new AppError('CONFLICT', 'The message was deleted.');
      const key = { messageId: input.messageId, userId: input.actorId, emoji: input.emoji };
      const changed = input.add
        ? await tx.insert(reactions).values(key).onConflictDoNothing().returning({ messageId: reactions.messageId })
        : await tx
            .delete(reactions)
            .where(and(eq(reactions.messageId, key.messageId), eq(reactions.userId, key.userId), eq(reactions.emoji, key.emoji)))
            .returning({ messageId: reactions.messageId });
      if (changed.length === 0) throw new Unchanged();
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
    }),
  );
}

/** Marks read (implies delivered) or delivered up to a seq; monotonic, no event when nothing moved. */
export async function markReceipt(
  db: Database,
  bus: Bus,
  input: { conversationId: string; userId: string; upTo: number; kind: 'read' | 'delivered' },
): Promise<{ seq: number | null }> {
  // Marks only move forward and last_seq only grows, so a mark at or below the current one
  // (read here without a lock) stays a no-op: answer it without locking the conversation.
  const [current] = await db
    .select({ read: members.lastReadSeq, delivered: members.lastDeliveredSeq, lastSeq: conversations.lastSeq })
    .from(members)
    .innerJoin(conversations, eq(conversations.id, members.conversationId))
    .where(and(eq(members.conversationId, input.conversationId), eq(members.userId, input.userId)));
  if (current && Math.min(input.upTo, current.lastSeq) <= current[input.kind]) return { seq: null };
  return unlessUnchanged(
    db.transaction(async (tx) => {
      const at = await nextSeq(tx, input.conversationId);
      const upTo = Math.min(input.upTo, at.seq - 1);
      const mine = and(eq(members.conversationId, input.conversationId), eq(members.userId, input.userId));
      const moved =
        input.kind === 'read'
          ? await tx
              .update(members)
              .set({ lastReadSeq: upTo, lastDeliveredSeq: dsql`greatest(${members.lastDeliveredSeq}, ${upTo})` })
              .where(and(mine, lt(members.lastReadSeq, upTo)))
              .returning({ userId: members.userId })
          : await tx
              .update(members)
              .set({ lastDeliveredSeq: upTo })
              .where(and(mine, lt(members.lastDeliveredSeq, upTo)))
              .returning({ userId: members.userId });
      if (moved.length === 0) throw new Unchanged();
      const event = await recordEvent(
        tx,
        bus,
        { conversationId: input.conversationId, type: input.kind, actorId: input.userId, data: { userId: input.userId, upTo } },
        at,
      );
      return { seq: event.seq };
    }),
  );
}
