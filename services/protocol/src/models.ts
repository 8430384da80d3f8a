/** The resources the service returns, over HTTP and inside WebSocket events. */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Seq, Timestamp, UserId, Uuid } from './common.ts';

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);
export type Role = Static<typeof Role>;

export const ConversationKind = Type.Union([Type.Literal('direct'), Type.Literal('group')]);

export const User = Type.Object({ id: UserId, name: Nullable(Type.String()), image: Nullable(Type.String()) });
export type User = Static<typeof User>;

export const ReplyPreview = Type.Object({
  id: Uuid,
  senderId: UserId,
  /** The first characters of the parent's body; null when the parent was deleted. */
  preview: Nullable(Type.String()),
});
export type ReplyPreview = Static<typeof ReplyPreview>;

export const AttachmentRef = Type.Object({
  id: Uuid,
  filename: Type.String(),
  contentType: Type.String(),
  size: Type.Integer({ minimum: 0 }),
});
export type AttachmentRef = Static<typeof AttachmentRef>;

export const ReactionSummary = Type.Object({
  emoji: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  /** Who reacted, oldest first (at most 20). */
  userIds: Type.Array(UserId),
});
export type ReactionSummary = Static<typeof ReactionSummary>;

export const Message = Type.Object({
  id: Uuid,
  conversationId: Uuid,
  seq: Seq,
  senderId: UserId,
  clientMsgId: Type.String(),
  /** Null once the message is deleted (a tombstone keeps its place in history). */
  body: Nullable(Type.String()),
  replyToId: Nullable(Uuid),
  replyTo: Type.Optional(Nullable(ReplyPreview)),
  attachments: Type.Array(AttachmentRef),
  /** Present in history pages; live and replayed messages start without and change through reaction events. */
  reactions: Type.Optional(Type.Array(ReactionSummary)),
  createdAt: Timestamp,
  editedAt: Nullable(Timestamp),
  deletedAt: Nullable(Timestamp),
});
export type Message = Static<typeof Message>;

export const Member = Type.Object({
  userId: UserId,
  name: Nullable(Type.String()),
  image: Nullable(Type.String()),
  role: Role,
  lastReadSeq: Seq,
  lastDeliveredSeq: Seq,
  online: Type.Boolean(),
  lastSeenAt: Nullable(Timestamp),
});
export type Member = Static<typeof Member>;

export const Conversation = Type.Object({
  id: Uuid,
  kind: ConversationKind,
  title: Nullable(Type.String()),
  isPublic: Type.Boolean(),
  creatorId: UserId,
  lastSeq: Seq,
  lastActivityAt: Timestamp,
  createdAt: Timestamp,
  /**
   * End-to-end encrypted (docs/e2e.md): direct only, fixed at creation. Message bodies are
   * sealed envelopes (JSON), `replyTo.preview` is meaningless (the quote is in the ciphertext).
   */
  encrypted: Type.Boolean(),
  /** The caller's own membership. */
  role: Role,
  muted: Type.Boolean(),
  lastReadSeq: Seq,
  unreadCount: Type.Integer({ minimum: 0 }),
  lastMessage: Nullable(Message),
  members: Type.Array(Member),
});
export type Conversation = Static<typeof Conversation>;
