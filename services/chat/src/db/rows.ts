/** Row → API shapes. Column lists live next to their mappers so they stay in step. */
import type { AttachmentRef, Message, ReactionSummary } from '@chat/protocol';

export const REPLY_PREVIEW_CHARS = 140;

/** Selects a message `m` with its parent `p` (left join on m.reply_to_id). */
export const MESSAGE_COLUMNS = `
  m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.reply_to_id,
  m.attachments, m.created_at, m.edited_at, m.deleted_at,
  p.sender_id as reply_sender_id, left(p.body, ${REPLY_PREVIEW_CHARS}) as reply_preview`;

export interface MessageRow {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  client_msg_id: string;
  body: string | null;
  reply_to_id: string | null;
  attachments: AttachmentRef[] | null;
  reactions?: ReactionSummary[] | null;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  reply_sender_id?: string | null;
  reply_preview?: string | null;
}

export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    conversationId: row.conversation_id,
    seq: row.seq,
    senderId: row.sender_id,
    clientMsgId: row.client_msg_id,
    body: row.body,
    replyToId: row.reply_to_id,
    attachments: row.attachments ?? [],
    createdAt: row.created_at.toISOString(),
    editedAt: row.edited_at ? row.edited_at.toISOString() : null,
    deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
  };
  if (row.reactions !== undefined) message.reactions = row.reactions ?? [];
  if (row.reply_to_id) {
    message.replyTo = row.reply_sender_id
      ? { id: row.reply_to_id, senderId: row.reply_sender_id, preview: row.reply_preview ?? null }
      : null;
  }
  return message;
}

/** Per-emoji reaction summary of message `m`, for history pages. */
export const REACTIONS_COLUMN = `
  (select coalesce(json_agg(json_build_object('emoji', r.emoji, 'count', r.count, 'userIds', r.user_ids) order by r.first), '[]') from (
     select emoji, count(*)::int as count, (array_agg(user_id order by created_at))[1:20] as user_ids, min(created_at) as first
     from reactions where message_id = m.id group by emoji) r) as reactions`;
