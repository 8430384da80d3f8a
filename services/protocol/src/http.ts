/** HTTP request and response bodies under /v1. */
import { Type, type Static } from '@sinclair/typebox';
import { ClientMsgId, Nullable, SendBodyText, Seq, Title, UserId, Uuid } from './common.ts';
import { LIMITS } from './limits.ts';
import { Conversation, Message, User } from './models.ts';
import { EncryptedFlag } from './e2e.ts';

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Unknown()),
});

export const ConversationParams = Type.Object({ id: Uuid });

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxPageSize, default: LIMITS.defaultPageSize }),
});

export const HistoryQuery = Type.Object({
  /** Messages with seq strictly below this (newer → older paging). */
  before: Type.Optional(Seq),
  /** Messages with seq strictly above this (older → newer paging). */
  after: Type.Optional(Seq),
  limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxPageSize, default: LIMITS.defaultPageSize }),
});
export type HistoryQuery = Static<typeof HistoryQuery>;

export const HistoryPage = Type.Object({
  /** Always in ascending seq order. */
  messages: Type.Array(Message),
  /** True when more messages exist beyond this page in the paging direction. */
  hasMore: Type.Boolean(),
});
export type HistoryPage = Static<typeof HistoryPage>;

export const ConversationListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxPageSize, default: LIMITS.defaultPageSize }),
  /** Opaque cursor from a previous page's nextCursor. */
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
});

export const ConversationList = Type.Object({
  conversations: Type.Array(Conversation),
  nextCursor: Nullable(Type.String()),
  /** Unread messages over all non-muted conversations. */
  totalUnread: Type.Integer({ minimum: 0 }),
});
export type ConversationList = Static<typeof ConversationList>;

export const CreateDirectBody = Type.Object({ userId: UserId, encrypted: Type.Optional(EncryptedFlag) }, { additionalProperties: false });

export const CreateGroupBody = Type.Object(
  {
    title: Title,
    memberIds: Type.Array(UserId, { maxItems: LIMITS.maxGroupMembers, uniqueItems: true, default: [] }),
    isPublic: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type CreateGroupBody = Static<typeof CreateGroupBody>;

export const SendBody = Type.Object(
  {
    clientMsgId: ClientMsgId,
    body: SendBodyText,
    replyToId: Type.Optional(Uuid),
    attachmentIds: Type.Optional(Type.Array(Uuid, { maxItems: LIMITS.maxAttachments, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type SendBody = Static<typeof SendBody>;

export const SendResponse = Type.Object({ message: Message, duplicate: Type.Boolean() });

export const Me = User;
export { Conversation, Message, User };
