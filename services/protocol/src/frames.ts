/**
 * WebSocket frames: JSON text frames, discriminated on `type`.
 * Every client frame carries an `id` and gets exactly one `ack` or `error` with that id.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Body, ClientMsgId, Emoji, RequestId, SendBodyText, Seq, Uuid } from './common.ts';
import { LIMITS, PROTOCOL_VERSION } from './limits.ts';
import type { ConversationEvent, Signal } from './events.ts';
import type { Message } from './models.ts';
import type { ErrorCode } from './errors.ts';

const request = <T extends string, P extends Record<string, import('@sinclair/typebox').TSchema>>(type: T, props: P) =>
  Type.Object({ type: Type.Literal(type), id: RequestId, ...props }, { additionalProperties: false });

// ---- client → server -------------------------------------------------------

export const PingFrame = request('ping', {});
export const ResumeFrame = request('resume', {
  /** Conversation id → the last seq this client has applied. */
  conversations: Type.Record(Uuid, Seq, { maxProperties: LIMITS.maxResumeConversations }),
});
export const SendFrame = request('message.send', {
  conversationId: Uuid,
  clientMsgId: ClientMsgId,
  body: SendBodyText,
  replyToId: Type.Optional(Uuid),
  attachmentIds: Type.Optional(Type.Array(Uuid, { maxItems: LIMITS.maxAttachments, uniqueItems: true })),
});
export const EditFrame = request('message.edit', { conversationId: Uuid, messageId: Uuid, body: Body });
export const DeleteFrame = request('message.delete', { conversationId: Uuid, messageId: Uuid });
export const ReactionAddFrame = request('reaction.add', { conversationId: Uuid, messageId: Uuid, emoji: Emoji });
export const ReactionRemoveFrame = request('reaction.remove', { conversationId: Uuid, messageId: Uuid, emoji: Emoji });
/** Marks every message up to and including `upTo` as read (implies delivered). */
export const ReadFrame = request('read.mark', { conversationId: Uuid, upTo: Seq });
/** Acknowledges receipt of every message up to and including `upTo`. Send it debounced, not per message. */
export const DeliveredFrame = request('delivered.mark', { conversationId: Uuid, upTo: Seq });
export const TypingStartFrame = request('typing.start', { conversationId: Uuid });
export const TypingStopFrame = request('typing.stop', { conversationId: Uuid });
export const RefreshFrame = request('auth.refresh', { token: Type.String({ minLength: 1, maxLength: 16_384 }) });

export const ClientFrame = Type.Union([
  PingFrame,
  ResumeFrame,
  SendFrame,
  EditFrame,
  DeleteFrame,
  ReactionAddFrame,
  ReactionRemoveFrame,
  ReadFrame,
  DeliveredFrame,
  TypingStartFrame,
  TypingStopFrame,
  RefreshFrame,
]);
export type ClientFrame = Static<typeof ClientFrame>;
export type ClientFrameType = ClientFrame['type'];
export const CLIENT_FRAME_TYPES = ClientFrame.anyOf.map((s) => s.properties.type.const) as ClientFrameType[];

// ---- server → client -------------------------------------------------------

/** First frame on every connection. */
export interface ReadyFrame {
  type: 'ready';
  protocol: typeof PROTOCOL_VERSION;
  connectionId: string;
  userId: string;
  /** The server pings at this interval; a client that hears nothing for two intervals should reconnect. */
  heartbeatMs: number;
  /** When the session token expires (send auth.refresh before), or null. */
  sessionExpiresAt: string | null;
}

export interface AckFrame<R = unknown> {
  type: 'ack';
  id: string;
  result: R;
}

export interface ErrorFrame {
  type: 'error';
  /** The request this answers, or null when the frame could not be read far enough to know. */
  id: string | null;
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: unknown;
}

export type ServerFrame = ReadyFrame | AckFrame | ErrorFrame | ConversationEvent | Signal;

// ---- ack results -----------------------------------------------------------

export interface SendResult {
  message: Message;
  /** True when this clientMsgId had been sent before and the original is returned. */
  duplicate: boolean;
}

export interface ResumeResult {
  /** Every conversation the user belongs to, with its current last seq. Ids the client did not name are new to it. */
  conversations: { id: string; lastSeq: number }[];
  /** Events replayed before this ack. */
  replayed: number;
}

export interface PingResult {
  time: string;
}

/** Result of edits, deletes, reactions and receipts: the event's seq, or null when nothing changed. */
export interface ChangeResult {
  seq: number | null;
}

export interface RefreshResult {
  sessionExpiresAt: string | null;
}


