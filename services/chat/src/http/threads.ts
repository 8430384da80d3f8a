/** Per-message reads under /v1: thread replies, edit history, delivery receipts. */
import { EditHistory, ErrorResponse, MessageParams, MessageReceipts, RepliesPage, RepliesQuery } from '@chat/protocol';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as reads from '../domain/reads.ts';
import { COST } from '../limits.ts';
import type { ReadApiOptions } from './search.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };

export const threadRoutes: FastifyPluginAsyncTypebox<ReadApiOptions> = async (app, { chat }) => {
  app.get(
    '/conversations/:id/messages/:messageId/replies',
    {
      config: { cost: COST.read },
      schema: {
        summary: 'List the replies to a message',
        tags: ['messages'],
        description: 'Replies to a message, ascending seq, paged with after.',
        params: MessageParams,
        querystring: RepliesQuery,
        response: { 200: RepliesPage, ...errors },
      },
    },
    async (request) => {
      return reads.replies(chat, request.identity, request.params.id, request.params.messageId, { after: request.query.after ?? 0, limit: request.query.limit });
    },
  );

  app.get(
    '/conversations/:id/messages/:messageId/edits',
    {
      config: { cost: COST.read },
      schema: {
        summary: "A message's edit history",
        tags: ['messages'],
        description: "A message's earlier bodies, oldest first.",
        params: MessageParams,
        response: { 200: EditHistory, ...errors },
      },
    },
    async (request) => {
      return reads.editHistory(chat, request.identity, request.params.id, request.params.messageId);
    },
  );

  app.get(
    '/conversations/:id/messages/:messageId/receipts',
    {
      config: { cost: COST.read },
      schema: {
        summary: 'Who has received and read a message',
        tags: ['messages'],
        description: 'Whether each member other than the sender has received and read the message.',
        params: MessageParams,
        response: { 200: MessageReceipts, ...errors },
      },
    },
    async (request) => {
      return reads.receipts(chat, request.identity, request.params.id, request.params.messageId);
    },
  );
};
