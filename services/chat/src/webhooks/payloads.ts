/**
 * The body of each webhook event type (docs/webhooks.md). Every body is
 * `{type, timestamp, data}` with `data.conversationId` and `data.seq`, the conversation's
 * sequence number: events of one conversation reach an endpoint in seq order. The event id
 * (`webhook-id`) is stable across retries and replays: `msg_<messageId>` for message.created,
 * `evt_<conversationId>_<seq>` for every other type.
 */
import type { StreamRow } from '../db/webhooks.ts';

const iso = (at: Date | null) => (at ? at.toISOString() : null);

export function webhookEvent(conversationId: string, row: StreamRow): { id: string; body: string } {
  const timestamp = row.createdAt.toISOString();
  if (row.message) {
    const m = row.message;
    return {
      id: `msg_${row.messageId}`,
      body: JSON.stringify({
        type: 'message.created',
        timestamp,
        data: {
          conversationId,
          seq: row.seq,
          // The message as it is now: an edit shows, a deleted message has a null body. In an
          // encrypted conversation (`encrypted: true`) the body is the sealed envelope's JSON.
          message: { id: row.messageId, seq: row.seq, senderId: row.actorId, senderName: m.senderName, encrypted: m.encrypted, body: m.body, replyToId: m.replyToId, attachments: m.attachments ?? [], createdAt: timestamp, editedAt: iso(m.editedAt), deletedAt: iso(m.deletedAt) },
        },
      }),
    };
  }
  return {
    id: `evt_${conversationId}_${row.seq}`,
    // The event's own fields as the WebSocket frame carries them (docs/protocol.md).
    body: JSON.stringify({ type: row.type, timestamp, data: { ...row.data, conversationId, seq: row.seq, actorId: row.actorId } }),
  };
}
