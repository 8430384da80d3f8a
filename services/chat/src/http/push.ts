/**
 * /v1/push: the caller's Web Push subscriptions (one per browser), global on/off, the preview
 * setting, and the VAPID public key the browser subscribes with. Per conversation, push
 * follows the conversation's mute (PUT /v1/conversations/:id/mute).
 */
import type { Database } from '@chat/db';
import {
  ErrorResponse,
  PushSettings,
  PushSettingsBody,
  PushSubscriptionBody,
  PushSubscriptionList,
  PushSubscriptionParams,
  PushSubscriptionView,
  VapidKeyResponse,
} from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { PushConfig } from '../config.ts';
import * as push from '../db/push.ts';
import { AppError } from '../errors.ts';
import { COST } from '../limits.ts';
import { checkEndpoint, checkKeys } from '../push/subscription-input.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };

export interface PushRouteOptions {
  db: Database;
  config: PushConfig | null;
  /** Makes sure the caller's user row exists (subscriptions and settings refer to it). */
  ensureUser: (identity: import('../auth/session-token.ts').Identity) => Promise<void>;
}

function view(row: push.SubscriptionRow) {
  return { id: row.id, endpoint: row.endpoint, label: row.label, createdAt: row.createdAt.toISOString(), lastSentAt: row.lastSentAt?.toISOString() ?? null };
}

export const pushRoutes: FastifyPluginAsyncTypebox<PushRouteOptions> = async (app, { db, config, ensureUser }) => {
  const configured = (): PushConfig => {
    // A permanent state of this deployment, not a passing one: the resource does not exist here.
    if (!config) throw new AppError('NOT_FOUND', 'Web Push is not configured on this server (VAPID keys).');
    return config;
  };

  app.get('/push/vapid-key', { config: { cost: COST.none }, schema: { summary: 'The VAPID public key (applicationServerKey)', tags: ['push'], response: { 200: VapidKeyResponse, ...errors } } }, async () => ({
    publicKey: configured().vapidPublicKey,
  }));

  app.post(
    '/push/subscriptions',
    {
      config: { cost: COST.write },
      schema: {
        summary: "Register this browser's push subscription",
        description: 'The body is `PushSubscription.toJSON()` (and an optional label). Registering an endpoint again updates it (200); a user keeps at most 10 devices, the oldest dropped.',
        tags: ['push'],
        body: PushSubscriptionBody,
        response: { 200: PushSubscriptionView, 201: PushSubscriptionView, ...errors },
      },
    },
    async (request, reply) => {
      const settings = configured();
      const endpoint = checkEndpoint(settings, request.body.endpoint);
      const keys = checkKeys(request.body.keys);
      await ensureUser(request.identity);
      const { row, created } = await push.upsertSubscription(db, { userId: request.identity.userId, endpoint, ...keys, label: request.body.label ?? null });
      return reply.status(created ? 201 : 200).send(view(row));
    },
  );

  app.get('/push/subscriptions', { config: { cost: COST.read }, schema: { summary: "The caller's push subscriptions", tags: ['push'], response: { 200: PushSubscriptionList, ...errors } } }, async (request) => ({
    subscriptions: (await push.listSubscriptions(db, request.identity.userId)).map(view),
  }));

  app.delete(
    '/push/subscriptions/:subscriptionId',
    { config: { cost: COST.write }, schema: { summary: 'Remove one of the caller’s push subscriptions', tags: ['push'], params: PushSubscriptionParams, response: { 204: Type.Null(), ...errors } } },
    async (request, reply) => {
      if (!(await push.deleteSubscription(db, request.identity.userId, request.params.subscriptionId))) throw new AppError('NOT_FOUND', 'Subscription not found.');
      return reply.status(204).send(null);
    },
  );

  app.get('/push/settings', { config: { cost: COST.read }, schema: { summary: "The caller's push settings", tags: ['push'], response: { 200: PushSettings, ...errors } } }, async (request) =>
    push.getSettings(db, request.identity.userId),
  );

  app.patch(
    '/push/settings',
    { config: { cost: COST.write }, schema: { summary: 'Turn push on or off, or change the preview', tags: ['push'], body: PushSettingsBody, response: { 200: PushSettings, ...errors } } },
    async (request) => {
      await ensureUser(request.identity);
      return push.updateSettings(db, request.identity.userId, request.body);
    },
  );
};
