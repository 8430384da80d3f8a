/** Row → API shapes. Column lists live next to their mappers so they stay in step. */
import type { Message } from '@chat/protocol';

export const REPLY_PREVIEW_CHARS = 140;

/** Selects a message `m` with its parent `p` (left join on m.reply_to_id). */
export const MESSAGE_COLUMNS = `
  m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.reply_to_id,
  m.created_at, m.edited_at, m.deleted_at,
  p.sender_id as reply_sender_id, left(p.body, ${REPLY_PREVIEW_CHARS}) as reply_preview`;

export interface MessageRow {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  client_msg_id: string;
  body: string | null;
  reply_to_id: string | null;
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
    createdAt: row.created_at.toISOString(),
    editedAt: row.edited_at ? row.edited_at.toISOString() : null,
    deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
  };
  if (row.reply_to_id) {
    message.replyTo = row.reply_sender_id
      ? { id: row.reply_to_id, senderId: row.reply_sender_id, preview: row.reply_preview ?? null }
      : null;
  }
  return message;
}
