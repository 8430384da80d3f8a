/** /v1 HTTP API for membership, moderation, receipts and per-message actions (the same operations as the WS frames). */
import {
  AddMembersBody,
  ChangeResponse,
  ConversationListQuery,
  ConversationParams,
  EditBody,
  ErrorResponse,
  MemberParams,
  MessageParams,
  MuteBody,
  MuteResponse,
  PublicConversationList,
  ReactionParams,
  ReceiptBody,
  RoleBody,
  SeqsResponse,
  TypingBody,
  UpdateConversationBody,
} from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as actions from '../domain/actions.ts';
import type { Chat } from '../domain/chat.ts';
import * as reads from '../domain/reads.ts';
import { COST } from '../limits.ts';
import { typingSignal } from '../domain/typing.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };
const change = { 200: ChangeResponse, ...errors };

export interface AdminRouteOptions {
  chat: Chat;
}

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRouteOptions> = async (app, { chat }) => {
  app.get('/conversations/public', { config: { cost: COST.read }, schema: { summary: 'List public groups', tags: ['membership'], querystring: ConversationListQuery, response: { 200: PublicConversationList, ...errors } } }, async (request) =>
    reads.listPublic(chat, request.identity, request.query),
  );

  app.post('/conversations/:id/join', { config: { cost: COST.write }, schema: { summary: 'Join a public group', tags: ['membership'], params: ConversationParams, response: { 200: SeqsResponse, ...errors } } }, async (request) =>
    actions.joinPublic(chat, request.identity, request.params.id),
  );

  app.post('/conversations/:id/members', { config: { cost: COST.write }, schema: { summary: 'Add members', tags: ['membership'], params: ConversationParams, body: AddMembersBody, response: { 200: SeqsResponse, ...errors } } }, async (request) =>
    actions.addMembers(chat, request.identity, { conversationId: request.params.id, userIds: request.body.userIds }),
  );

  app.delete('/conversations/:id/members/:userId', { config: { cost: COST.write }, schema: { summary: 'Remove a member', tags: ['membership'], params: MemberParams, response: change } }, async (request) =>
    actions.removeMember(chat, request.identity, { conversationId: request.params.id, userId: request.params.userId }),
  );

  app.post('/conversations/:id/leave', { config: { cost: COST.write }, schema: { summary: 'Leave a group', tags: ['membership'], params: ConversationParams, response: change } }, async (request) =>
    actions.removeMember(chat, request.identity, { conversationId: request.params.id, userId: request.identity.userId }),
  );

  app.put('/conversations/:id/members/:userId/role', { config: { cost: COST.write }, schema: { summary: "Change a member's role", tags: ['membership'], params: MemberParams, body: RoleBody, response: change } }, async (request) =>
    actions.changeRole(chat, request.identity, { conversationId: request.params.id, userId: request.params.userId, role: request.body.role }),
  );

  app.patch('/conversations/:id', { config: { cost: COST.write }, schema: { summary: 'Rename a group or change whether it is public', tags: ['conversations'], params: ConversationParams, body: UpdateConversationBody, response: change } }, async (request) =>
    actions.updateConversation(chat, request.identity, { conversationId: request.params.id, ...request.body }),
  );

  app.delete('/conversations/:id', { config: { cost: COST.write }, schema: { summary: 'Delete a group', tags: ['conversations'], params: ConversationParams, response: change } }, async (request) =>
    actions.deleteConversation(chat, request.identity, request.params.id),
  );

  app.put('/conversations/:id/mute', { config: { cost: COST.write }, schema: { summary: 'Mute or unmute a conversation', tags: ['conversations'], params: ConversationParams, body: MuteBody, response: { 200: MuteResponse, ...errors } } }, async (request) =>
    actions.setMuted(chat, request.identity, { conversationId: request.params.id, muted: request.body.muted }),
  );

  for (const kind of ['read', 'delivered'] as const) {
    app.post(`/conversations/:id/${kind}`, { config: { cost: COST.write }, schema: { summary: `Move your ${kind} mark`, tags: ['receipts'], params: ConversationParams, body: ReceiptBody, response: change } }, async (request) =>
      actions.markReceipt(chat, request.identity, { conversationId: request.params.id, upTo: request.body.upTo, kind }),
    );
  }

  app.patch('/conversations/:id/messages/:messageId', { config: { cost: COST.write }, schema: { summary: 'Edit a message', tags: ['messages'], params: MessageParams, body: EditBody, response: change } }, async (request) =>
    actions.editMessage(chat, request.identity, { conversationId: request.params.id, messageId: request.params.messageId, body: request.body.body }),
  );

  app.delete('/conversations/:id/messages/:messageId', { config: { cost: COST.write }, schema: { summary: 'Delete a message', tags: ['messages'], params: MessageParams, response: change } }, async (request) =>
    actions.deleteMessage(chat, request.identity, { conversationId: request.params.id, messageId: request.params.messageId }),
  );

  for (const [method, add] of [['put', true], ['delete', false]] as const) {
    app[method]('/conversations/:id/messages/:messageId/reactions/:emoji', { config: { cost: COST.send }, schema: { summary: add ? 'Add your reaction' : 'Remove your reaction', tags: ['reactions'], params: ReactionParams, response: change } }, async (request) => {
      return actions.react(chat, request.identity, { conversationId: request.params.id, messageId: request.params.messageId, emoji: request.params.emoji, add });
    });
  }

  app.post(
    '/conversations/:id/typing',
    { config: { cost: COST.typing }, schema: { summary: 'Send a typing indicator', tags: ['typing'], description: 'For clients without a socket.', params: ConversationParams, body: TypingBody, response: { 200: Type.Object({ forwarded: Type.Boolean() }), ...errors } } },
    async (request) => {
      await chat.access(request.identity, request.params.id);
      await chat.signal([typingSignal(request.params.id, request.identity.userId, request.body.state)]);
      return { forwarded: true };
    },
  );
};
