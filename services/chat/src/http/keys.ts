/**
 * /v1 key directory for end-to-end encrypted direct conversations (docs/e2e.md): each
 * device publishes its signed public bundle; senders read the bundles of a conversation's
 * members. Every route declares its schema and its cost (limits.ts).
 */
import { ConversationKeys, ConversationParams, DeviceBundle, DeviceParams, ErrorResponse, KeyUserParams, UserKeys } from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Chat } from '../domain/chat.ts';
import { conversationKeys, publishDevice, removeDevice, userKeys } from '../domain/keys.ts';
import { COST } from '../limits.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse };

export const keyRoutes: FastifyPluginAsyncTypebox<{ chat: Chat }> = async (app, { chat }) => {
  app.put(
    '/keys/devices/:deviceId',
    {
      config: { cost: COST.write },
      schema: {
        summary: "Publish or rotate one of the caller's device bundles",
        description:
          'The bundle must be signed by its identity key (ECDSA P-256, over bundleSigningInput), for the caller and this device. A device keeps its identity key; a rotation raises encryptionKey.id. The same bundle again changes nothing (200). At most 10 devices per user. A new device, a rotation or a removal is a keys.changed event in each of the user’s encrypted conversations.',
        tags: ['keys'],
        params: DeviceParams,
        body: DeviceBundle,
        response: { 200: DeviceBundle, 201: DeviceBundle, ...errors },
      },
    },
    async (request, reply) => {
      const { bundle, created } = await publishDevice(chat, request.identity, request.params.deviceId, request.body);
      return reply.status(created ? 201 : 200).send(bundle);
    },
  );

  app.delete(
    '/keys/devices/:deviceId',
    { config: { cost: COST.write }, schema: { summary: "Remove one of the caller's devices", tags: ['keys'], params: DeviceParams, response: { 204: Type.Null(), ...errors } } },
    async (request, reply) => {
      await removeDevice(chat, request.identity, request.params.deviceId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/keys/users/:userId',
    {
      config: { cost: COST.read },
      schema: {
        summary: "A user's device bundles",
        description: 'The caller’s own, or those of a user who shares a conversation with the caller; anyone else is 403, whether or not they exist.',
        tags: ['keys'],
        params: KeyUserParams,
        response: { 200: UserKeys, ...errors },
      },
    },
    async (request) => userKeys(chat, request.identity, request.params.userId),
  );

  app.get(
    '/conversations/:id/keys',
    {
      config: { cost: COST.read },
      schema: { summary: "Every member's device bundles (members only)", tags: ['keys'], params: ConversationParams, response: { 200: ConversationKeys, ...errors } },
    },
    async (request) => conversationKeys(chat, request.identity, request.params.id),
  );
};
