/** GET /v1/search: full-text search over the caller's conversations. */
import { ErrorResponse, SearchPage, SearchQuery } from '@chat/protocol';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { decodeSearchCursor, searchMessages } from '../db/search.ts';
import { AppError } from '../errors.ts';
import { COST } from '../limits.ts';
import type { ApiOptions } from './conversations.ts';

export type ReadApiOptions = Pick<ApiOptions, 'chat'>;

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };

export const searchRoutes: FastifyPluginAsyncTypebox<ReadApiOptions> = async (app, { chat }) => {
  app.get(
    '/search',
    {
      config: { cost: COST.search },
      schema: {
        summary: 'Search messages',
        tags: ['search'],
        description: 'Messages of your conversations matching q (web-search syntax), newest first, with highlighted plain-text snippets.',
        querystring: SearchQuery,
        response: { 200: SearchPage, ...errors },
      },
    },
    async (request) => {
      const { q, conversationId, limit } = request.query;
      const before = request.query.before !== undefined ? decodeSearchCursor(request.query.before) : null;
      if (conversationId !== undefined) {
        // Search covers the caller's own memberships: a system role does not widen it.
        const { member } = await chat.access(request.identity, conversationId);
        if (!member) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
      }
      return searchMessages(chat.db, { userId: request.identity.userId, q, conversationId, limit, before });
    },
  );
};
