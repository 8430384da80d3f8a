/**
 * The OpenAPI 3.1 document, generated from the route schemas by @fastify/swagger, served at
 * /openapi.json and browsable at /docs (Swagger UI, served from node_modules). Both are public.
 *
 * The routes declare their own shapes, tags and summaries; this module adds what every route
 * shares: the security schemes (bearer by default; public routes say `security: []`), the
 * error catalog's body on every error response, and the /ws upgrade, whose route (app.ts)
 * has no schema because its answers are an upgrade or a refusal, never a serialized body.
 * docs/http-api.md keeps what a schema cannot say: flows, semantics, examples.
 */
import { ERROR_CODES, ERRORS, ErrorResponse, type ErrorCode } from '@chat/protocol';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { STATUS_CODES } from 'node:http';

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

const TAGS = [
  { name: 'users', description: 'The caller, as its session token describes it.' },
  { name: 'conversations', description: 'Direct and group conversations: create, list, read, rename, mute, delete.' },
  { name: 'messages', description: 'History, sends, edits and deletes, the event stream, and the per-message reads.' },
  { name: 'membership', description: 'Public groups, joining and leaving, members and roles.' },
  { name: 'receipts', description: 'Read and delivered marks.' },
  { name: 'reactions', description: "The caller's reactions to a message." },
  { name: 'typing', description: 'Typing indicators, for clients without a socket.' },
  { name: 'attachments', description: 'Uploads (raw bytes) and downloads.' },
  { name: 'search', description: "Full-text search over the caller's conversations." },
  { name: 'keys', description: 'The end-to-end encryption key directory: signed device bundles, per user and per conversation (docs/e2e.md).' },
  { name: 'push', description: 'Web Push: the caller’s browser subscriptions, push settings and the VAPID key (docs/http-api.md#web-push).' },
  { name: 'websocket', description: 'The real-time protocol: frames, resume and close codes are in docs/protocol.md.' },
  { name: 'operations', description: 'Liveness, readiness and metrics, for the platform: no credentials, no per-address limit.' },
  { name: 'documentation', description: 'This document.' },
];

/** Codes that only answer or close an open socket: never the body of an HTTP response. */
const SOCKET_ONLY = new Set<ErrorCode>(['INVALID_FRAME', 'UNSUPPORTED_FRAME', 'SLOW_CONSUMER', 'HEARTBEAT_TIMEOUT']);
/** Codes only the WebSocket upgrade (GET /ws) answers. */
const UPGRADE_ONLY = new Set<ErrorCode>(['UPGRADE_REQUIRED', 'TOO_MANY_CONNECTIONS', 'SHUTTING_DOWN']);

/** The catalog codes a response of this path with this status can carry. */
export function httpCodesFor(path: string, status: number): ErrorCode[] {
  return ERROR_CODES.filter(
    (code) => ERRORS[code].status === status && !SOCKET_ONLY.has(code) && (path === '/ws' || !UPGRADE_ONLY.has(code)),
  );
}

const ERROR_REF = '#/components/schemas/Error';

/** The body of every error: the protocol's ErrorResponse, with `code` limited to the catalog. */
const ErrorSchema = Type.Object(
  {
    ...ErrorResponse.properties,
    code: Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODES, description: 'A code of the error catalog (docs/protocol.md#error-codes).' }),
    retryable: Type.Boolean({ description: 'Whether the same request can succeed later (RATE_LIMITED and UNAVAILABLE also send Retry-After).' }),
    details: Type.Optional(Type.Unknown({ description: 'Depends on the code: validation problems, retryAfterMs, budget, userIds, allowed types, …' })),
  },
  { description: 'The body of every error response (HTTP) and error frame (WebSocket), from one catalog.' },
);

type Json = Record<string, unknown>;

function isCatalogShape(schema: unknown): boolean {
  const properties = (schema as { properties?: Json } | undefined)?.properties;
  return properties !== undefined && ['code', 'message', 'retryable'].every((key) => key in properties);
}

/** An error response: the catalog's body, its code narrowed to those this status carries. */
function errorResponse(path: string, status: string, declared: string | undefined): Json {
  const codes = status === 'default' ? [] : httpCodesFor(path, Number(status));
  const listed = codes.map((code) => `\`${code}\` (${ERRORS[code].message})`).join(', ');
  const description =
    declared && declared !== 'Default Response'
      ? declared
      : status === 'default'
        ? 'Any other failure, such as 500 `INTERNAL`, with the same body.'
        : listed || 'An error from the catalog.';
  const schema = codes.length > 0 ? { allOf: [{ $ref: ERROR_REF }, { properties: { code: { enum: codes } } }] } : { $ref: ERROR_REF };
  // Viewers build examples from the first code of the whole catalog: show this status's own.
  const code = codes[0] ?? 'INTERNAL';
  const example = { code, message: ERRORS[code].message, retryable: ERRORS[code].retryable };
  return { description, content: { 'application/json': { schema, example } } };
}

/** GET /ws, for the document only (see the header comment). */
const WS_SCHEMA = {
  tags: ['websocket'],
  summary: 'Open the WebSocket',
  description:
    'An RFC 6455 upgrade to the `chat.v1` subprotocol (docs/protocol.md). Besides the schemes below, a browser may pass its ' +
    'token as a `bearer.<token>` Sec-WebSocket-Protocol entry. A cookie-authenticated upgrade must come from an allowed Origin. ' +
    'Limited per address and per user by their own limits, not the per-address HTTP limit.',
  headers: Type.Object({
    upgrade: Type.Literal('websocket'),
    'sec-websocket-protocol': Type.Optional(Type.String({ description: '`chat.v1`, optionally with `bearer.<token>`.' })),
  }),
  response: {
    101: { type: 'null', description: 'Switching Protocols: the socket now speaks chat.v1 frames.' },
    401: ErrorResponse,
    403: ErrorResponse,
    426: { ...ErrorResponse, description: 'A plain GET without the upgrade headers: `UPGRADE_REQUIRED`.' },
    429: ErrorResponse,
    503: ErrorResponse,
  },
} satisfies FastifySchema & Json;

type Operation = { responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }> };

/**
 * Every error response gets the catalog's body, every operation a `default` one, and a
 * success response the route did not describe its reason phrase.
 */
function completeDocument(document: Json): Json {
  const components = (document.components ?? {}) as Json;
  document.components = { ...components, schemas: { ...(components.schemas as Json | undefined), Error: ErrorSchema } };
  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(item)) {
      const responses = operation.responses;
      if (!responses) continue;
      for (const [status, response] of Object.entries(responses)) {
        if ((status === 'default' || Number(status) >= 400) && isCatalogShape(response.content?.['application/json']?.schema)) {
          responses[status] = errorResponse(path, status, response.description);
        } else if (response.description === 'Default Response') {
          response.description = STATUS_CODES[status] ?? status;
        }
      }
      responses.default ??= errorResponse(path, 'default', undefined);
    }
  }
  return document;
}

/**
 * Swagger UI's page loads its own scripts, styles and the document from this origin, and
 * nothing else: the API's `default-src 'none'` (app.ts) is relaxed for /docs only. The one
 * hash is the inline <style> of Swagger's SVG logo, drawn before the plugin swaps in its own.
 */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; " +
  "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Registers the generator (before the routes it describes), /openapi.json and /docs. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Chat service',
        version: '1',
        description:
          'Generated from the route schemas. Flows, semantics, idempotency, limits and examples: docs/http-api.md; ' +
          'the WebSocket protocol and the error catalog: docs/protocol.md.',
      },
      tags: TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A chat credential or a storefront session token.' },
          tokenQuery: { type: 'apiKey', in: 'query', name: 'token', description: 'The same token, for browsers on another origin (<img src>, EventSource).' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'authjs.session-token', description: 'The storefront session cookie (also the __Secure- and next-auth names, chunked).' },
        },
      },
      security: [{ bearerAuth: [] }, { tokenQuery: [] }, { sessionCookie: [] }],
    },
    transform: ({ schema, url, route }) => ({ schema: url === '/ws' && route.method === 'GET' && !schema ? WS_SCHEMA : schema, url }),
    transformObject: (document) => completeDocument(('openapiObject' in document ? document.openapiObject : document.swaggerObject) as Json),
  });

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        tags: ['documentation'],
        summary: 'This OpenAPI document',
        security: [],
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'An OpenAPI 3.1 document.' }), 429: ErrorResponse },
      },
    },
    async () => app.swagger(),
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    theme: { title: 'Chat service API' },
    uiConfig: { deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0 },
  });
}
