/** Conversation changes other than sends, shared by HTTP routes and WebSocket handlers. */
import type { ChangeResult, Role } from '@chat/protocol';
import type { Identity } from '../auth/session-token.ts';
import * as conversations from '../db/conversations.ts';
import * as members from '../db/membership-changes.ts';
import * as changes from '../db/message-changes.ts';
import { AppError } from '../errors.ts';
import { encodeFrame } from '../frames.ts';
import type { Chat } from './chat.ts';
import { expectHeader, parseEnvelope } from './envelope.ts';
import { allowed, ROLE_RANK, require } from './policy.ts';

interface MessageTarget {
  conversationId: string;
  messageId: string;
}

/**
 * In an encrypted conversation the new body is a new envelope of the same message (same
 * clientMsgId and replyToId) with a higher `edit` than the stored one, checked under the
 * message's lock.
 */
export async function editMessage(chat: Chat, identity: Identity, input: MessageTarget & { body: string }): Promise<ChangeResult> {
  const { encrypted } = await chat.access(identity, input.conversationId);
  let check: changes.EditCheck | undefined;
  if (encrypted) {
    const envelope = await chat.checkSealed(identity, input.conversationId, input.body);
    check = (target) => {
      expectHeader(envelope, { clientMsgId: target.clientMsgId, replyToId: target.replyToId });
      const previous = target.body === null ? null : parseEnvelope(target.body);
      if (previous && envelope.edit <= previous.edit) throw new AppError('CONFLICT', 'An edit needs a higher edit number than the stored envelope.', { currentEdit: previous.edit });
    };
  } else {
    chat.checkBody(input.body);
  }
  return changes.editMessage(chat.db, chat.bus, { ...input, actorId: identity.userId, editWindowSec: chat.limits.editWindowSec, check });
}

export async function deleteMessage(chat: Chat, identity: Identity, input: MessageTarget): Promise<ChangeResult> {
  const { role, kind } = await chat.access(identity, input.conversationId);
  const mayDeleteOthers = kind === 'group' && allowed(role, 'moderate');
  return changes.deleteMessage(chat.db, chat.bus, { ...input, actorId: identity.userId, mayDeleteOthers });
}

export async function react(chat: Chat, identity: Identity, input: MessageTarget & { emoji: string; add: boolean }): Promise<ChangeResult> {
  require((await chat.access(identity, input.conversationId)).role, 'react');
  return changes.setReaction(chat.db, chat.bus, { ...input, actorId: identity.userId });
}

export async function markReceipt(chat: Chat, identity: Identity, input: { conversationId: string; upTo: number; kind: 'read' | 'delivered' }): Promise<ChangeResult> {
  const { member } = await chat.access(identity, input.conversationId);
  if (!member) throw new AppError('FORBIDDEN', 'Only members have read and delivery state.');
  return changes.markReceipt(chat.db, chat.bus, { ...input, userId: identity.userId });
}

async function groupAccess(chat: Chat, identity: Identity, conversationId: string) {
  const access = await chat.access(identity, conversationId);
  if (access.kind !== 'group') throw new AppError('CONFLICT', 'Direct conversations always have exactly their two members.');
  return access;
}

export async function addMembers(chat: Chat, identity: Identity, input: { conversationId: string; userIds: string[] }): Promise<{ seqs: number[] }> {
  require((await groupAccess(chat, identity, input.conversationId)).role, 'manageMembers');
  return { seqs: await members.addMembers(chat.db, chat.bus, { ...input, actorId: identity.userId }) };
}

/** Removing yourself is leaving; removing others needs admin and a higher role than theirs (owners remove anyone). */
export async function removeMember(chat: Chat, identity: Identity, input: { conversationId: string; userId: string }): Promise<{ seq: number }> {
  const { role } = await groupAccess(chat, identity, input.conversationId);
  const leaving = input.userId === identity.userId;
  if (!leaving) require(role, 'manageMembers');
  const canRemove = (target: Role) => leaving || role === 'owner' || ROLE_RANK[role] > ROLE_RANK[target];
  const seq = await members.removeMember(chat.db, chat.bus, {
    ...input,
    actorId: identity.userId,
    reason: leaving ? 'left' : 'removed',
    canRemove,
  });
  return { seq };
}

export async function changeRole(chat: Chat, identity: Identity, input: { conversationId: string; userId: string; role: Role }): Promise<ChangeResult> {
  require((await groupAccess(chat, identity, input.conversationId)).role, 'changeRoles');
  return members.changeRole(chat.db, chat.bus, { ...input, actorId: identity.userId });
}

export async function updateConversation(
  chat: Chat,
  identity: Identity,
  input: { conversationId: string; title?: string | undefined; isPublic?: boolean | undefined },
): Promise<{ seq: number }> {
  require((await groupAccess(chat, identity, input.conversationId)).role, 'update');
  return { seq: await members.updateConversation(chat.db, chat.bus, { ...input, actorId: identity.userId }) };
}

export async function deleteConversation(chat: Chat, identity: Identity, conversationId: string): Promise<{ seq: number }> {
  require((await groupAccess(chat, identity, conversationId)).role, 'deleteConversation');
  return { seq: await members.deleteConversation(chat.db, chat.bus, { conversationId, actorId: identity.userId }) };
}

/** Any signed-in user may join a public group. */
export async function joinPublic(chat: Chat, identity: Identity, conversationId: string): Promise<{ seqs: number[] }> {
  await chat.ensureUser(identity);
  const found = await conversations.access(chat.db, conversationId, identity.userId);
  if (!found || !found.isPublic) throw new AppError('FORBIDDEN', 'This conversation is not public.');
  if (found.role) return { seqs: [] };
  return { seqs: await members.addMembers(chat.db, chat.bus, { conversationId, actorId: identity.userId, userIds: [identity.userId] }) };
}

/** Muting is private: it changes the user's own badge only, synced to their other tabs. */
export async function setMuted(chat: Chat, identity: Identity, input: { conversationId: string; muted: boolean }): Promise<{ muted: boolean }> {
  if (!(await members.setMuted(chat.db, { conversationId: input.conversationId, userId: identity.userId, muted: input.muted }))) {
    throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
  }
  const frame = encodeFrame({ type: 'membership.settings', conversationId: input.conversationId, muted: input.muted });
  await chat.bus.signal([{ target: `u:${identity.userId}`, exclude: null, frame }]);
  return { muted: input.muted };
}
