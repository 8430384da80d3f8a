/** GET /v1/search: full-text search over the caller's conversations. */
import { ErrorResponse, SearchPage, SearchQuery } from '@chat/protocol';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as reads from '../domain/reads.ts';
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
    async (request) => reads.search(chat, request.identity, request.query),
  );
};
