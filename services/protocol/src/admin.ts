/** HTTP bodies for membership, moderation and per-message actions. */
import { Type } from '@sinclair/typebox';
import { Body, Emoji, Nullable, Seq, Timestamp, Title, UserId, Uuid } from './common.ts';
import { LIMITS } from './limits.ts';
import { Role } from './models.ts';

export const MessageParams = Type.Object({ id: Uuid, messageId: Uuid });
export const MemberParams = Type.Object({ id: Uuid, userId: UserId });
export const ReactionParams = Type.Object({ id: Uuid, messageId: Uuid, emoji: Emoji });

export const AddMembersBody = Type.Object(
  { userIds: Type.Array(UserId, { minItems: 1, maxItems: LIMITS.maxGroupMembers, uniqueItems: true }) },
  { additionalProperties: false },
);
export const RoleBody = Type.Object({ role: Role }, { additionalProperties: false });
export const UpdateConversationBody = Type.Object(
  { title: Type.Optional(Title), isPublic: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
export const MuteBody = Type.Object({ muted: Type.Boolean() }, { additionalProperties: false });
export const ReceiptBody = Type.Object({ upTo: Seq }, { additionalProperties: false });
export const EditBody = Type.Object({ body: Body }, { additionalProperties: false });
export const TypingBody = Type.Object({ state: Type.Union([Type.Literal('start'), Type.Literal('stop')]) }, { additionalProperties: false });

/** The seq of the event a change produced; null when nothing changed. */
export const ChangeResponse = Type.Object({ seq: Nullable(Seq) });
export const SeqsResponse = Type.Object({ seqs: Type.Array(Seq) });
export const MuteResponse = Type.Object({ muted: Type.Boolean() });

export const PublicConversation = Type.Object({
  id: Uuid,
  title: Nullable(Type.String()),
  memberCount: Type.Integer({ minimum: 0 }),
  lastActivityAt: Timestamp,
  joined: Type.Boolean(),
});
export const PublicConversationList = Type.Object({ conversations: Type.Array(PublicConversation), nextCursor: Nullable(Type.String()) });
