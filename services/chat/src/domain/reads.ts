/**
 * Reads shared by the transports beyond a conversation's own history: public groups,
 * search, threads, receipts and attachments. Authorization first, then the repositories.
 */
import type { EditHistory, MessageReceipts, RepliesPage, SearchPage } from '@chat/protocol';
import type { Identity } from '../auth/identity.ts';
import * as attachments from '../db/attachments.ts';
import { listPublic as listPublicRows } from '../db/conversations.ts';
import { decodeSearchCursor, searchMessages } from '../db/search.ts';
import * as threads from '../db/threads.ts';
import { AppError } from '../errors.ts';
import type { Chat } from './chat.ts';

export function listPublic(chat: Chat, identity: Identity, query: { limit: number; cursor?: string | undefined }) {
  return listPublicRows(chat.db, identity.userId, query);
}

/** Search covers the caller's own memberships: a system role does not widen it. */
export async function search(
  chat: Chat,
  identity: Identity,
  query: { q: string; conversationId?: string | undefined; limit: number; before?: string | undefined },
): Promise<SearchPage> {
  const before = query.before !== undefined ? decodeSearchCursor(query.before) : null;
  if (query.conversationId !== undefined) {
    const { member } = await chat.access(identity, query.conversationId);
    if (!member) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
  }
  return searchMessages(chat.db, { userId: identity.userId, q: query.q, conversationId: query.conversationId, limit: query.limit, before });
}

export async function replies(chat: Chat, identity: Identity, conversationId: string, messageId: string, page: { after: number; limit: number }): Promise<RepliesPage> {
  await chat.authorize(identity, conversationId);
  return threads.replies(chat.db, conversationId, messageId, page);
}

export async function editHistory(chat: Chat, identity: Identity, conversationId: string, messageId: string): Promise<EditHistory> {
  await chat.authorize(identity, conversationId);
  return threads.editHistory(chat.db, conversationId, messageId);
}

export async function receipts(chat: Chat, identity: Identity, conversationId: string, messageId: string): Promise<MessageReceipts> {
  await chat.authorize(identity, conversationId);
  return threads.receipts(chat.db, conversationId, messageId);
}

export const saveAttachment = (chat: Chat, row: attachments.NewAttachment) => attachments.insertAttachment(chat.db, row);
export const findAttachment = (chat: Chat, id: string) => attachments.findAttachment(chat.db, id);
export const forgetSentAttachment = (chat: Chat, id: string, messageId: string) => attachments.deleteSentAttachment(chat.db, id, messageId);
