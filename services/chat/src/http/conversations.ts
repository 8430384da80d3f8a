/** /v1 HTTP API: conversations, history and sends. Every route declares its schema and its cost (limits.ts). */
import {
  Conversation,
  ConversationList,
  ConversationListQuery,
  ConversationParams,
  CreateDirectBody,
  CreateGroupBody,
  ErrorResponse,
  HistoryPage,
  HistoryQuery,
  Seq,
  SendBody,
  SendResponse,
  User,
} from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Chat } from '../domain/chat.ts';
import { COST } from '../limits.ts';

export interface ApiOptions {
  chat: Chat;
}

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };

export const conversationRoutes: FastifyPluginAsyncTypebox<ApiOptions> = async (app, { chat }) => {
  app.get('/me', { config: { cost: COST.read }, schema: { summary: 'The caller', tags: ['users'], response: { 200: User, ...errors } } }, async (request) => ({
    id: request.identity.userId,
    name: request.identity.name,
    image: request.identity.image,
  }));

  app.get(
    '/conversations',
    { config: { cost: COST.read }, schema: { summary: "List the caller's conversations", tags: ['conversations'], querystring: ConversationListQuery, response: { 200: ConversationList, ...errors } } },
    async (request) => chat.list(request.identity, request.query),
  );

  app.post(
    '/conversations/direct',
    { config: { cost: COST.write }, schema: { summary: 'Get or create a direct conversation', description: 'With `encrypted: true`, the pair’s end-to-end encrypted conversation (docs/e2e.md): a separate conversation from their plain one.', tags: ['conversations'], body: CreateDirectBody, response: { 200: Conversation, 201: Conversation, ...errors } } },
    async (request, reply) => {
      const { conversation, created } = await chat.createDirect(request.identity, request.body.userId, request.body.encrypted ?? false);
      return reply.status(created ? 201 : 200).send(conversation);
    },
  );

  app.post(
    '/conversations',
    { config: { cost: COST.createGroup }, schema: { summary: 'Create a group', tags: ['conversations'], body: CreateGroupBody, response: { 201: Conversation, ...errors } } },
    async (request, reply) => reply.status(201).send(await chat.createGroup(request.identity, request.body)),
  );

  app.get(
    '/conversations/:id',
    { config: { cost: COST.read }, schema: { summary: 'Get a conversation', tags: ['conversations'], params: ConversationParams, response: { 200: Conversation, ...errors } } },
    async (request) => chat.get(request.identity, request.params.id),
  );

  app.get(
    '/conversations/:id/messages',
    { config: { cost: COST.read }, schema: { summary: 'Page through the message history', tags: ['messages'], params: ConversationParams, querystring: HistoryQuery, response: { 200: HistoryPage, ...errors } } },
    async (request) => chat.history(request.identity, request.params.id, request.query),
  );

  app.post(
    '/conversations/:id/messages',
    { config: { cost: COST.send }, schema: { summary: 'Send a message (idempotent by clientMsgId)', tags: ['messages'], params: ConversationParams, body: SendBody, response: { 200: SendResponse, 201: SendResponse, ...errors } } },
    async (request, reply) => {
      const result = await chat.send(request.identity, { ...request.body, conversationId: request.params.id });
      return reply.status(result.duplicate ? 200 : 201).send(result);
    },
  );

  app.get(
    '/conversations/:id/events',
    {
      config: { cost: COST.read },
      schema: {
        summary: 'Read the event stream after a seq',
        tags: ['messages'],
        description: 'The seq stream after a seq, as WebSocket frames: for clients that poll instead of holding a socket.',
        params: ConversationParams,
        querystring: Type.Object({ after: Seq, limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }),
        response: { 200: Type.Object({ events: Type.Array(Type.Unknown()), lastSeq: Seq }), ...errors },
      },
    },
    async (request) => {
      await chat.authorize(request.identity, request.params.id);
      const events = await chat.loadStream(request.params.id, request.query.after, request.query.limit);
      const lastSeq = events.length ? events[events.length - 1]!.seq : request.query.after;
      return { events: events.map((e) => JSON.parse(e.frame) as unknown), lastSeq };
    },
  );
};
