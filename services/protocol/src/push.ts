/** HTTP bodies of /v1/push: Web Push subscriptions (a browser's PushSubscription) and settings. */
import { Type } from '@sinclair/typebox';
import { Base64Url, NO_NUL, Nullable, Timestamp, Uuid } from './common.ts';

/** Longest endpoint URL accepted (push services' URLs are a few hundred characters). */
export const MAX_PUSH_ENDPOINT_CHARS = 2048;


/** `PushSubscription.toJSON()` as the browser gives it, plus an optional device label. */
export const PushSubscriptionBody = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: MAX_PUSH_ENDPOINT_CHARS, pattern: NO_NUL, description: "The push service's URL for this browser (https)." }),
    expirationTime: Type.Optional(Nullable(Type.Number({ minimum: 0 }))),
    keys: Type.Object(
      {
        p256dh: Base64Url(100, "The browser's P-256 public key, uncompressed (65 bytes)."),
        auth: Base64Url(32, 'The authentication secret (16 bytes).'),
      },
      { additionalProperties: false },
    ),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: NO_NUL, description: 'A name for the device, shown in the list.' })),
  },
  { additionalProperties: false },
);

export const PushSubscriptionView = Type.Object({
  id: Uuid,
  endpoint: Type.String(),
  label: Nullable(Type.String()),
  createdAt: Timestamp,
  lastSentAt: Nullable(Timestamp),
});
export const PushSubscriptionList = Type.Object({ subscriptions: Type.Array(PushSubscriptionView) });
export const PushSubscriptionParams = Type.Object({ subscriptionId: Uuid });

/** `sender`: a notification names the sender only; `message`: the sender and the text. */
export const PushPreview = Type.Union([Type.Literal('sender'), Type.Literal('message')]);
export const PushSettings = Type.Object({ enabled: Type.Boolean(), preview: PushPreview });
export const PushSettingsBody = Type.Object({ enabled: Type.Optional(Type.Boolean()), preview: Type.Optional(PushPreview) }, { additionalProperties: false, minProperties: 1 });
export const VapidKeyResponse = Type.Object({ publicKey: Type.String({ description: 'The VAPID public key, base64url: the applicationServerKey for PushManager.subscribe().' }) });

/** What a notification carries (decrypted by the service worker). */
export interface PushPayload {
  type: 'message';
  conversationId: string;
  /** Highest message seq this notification covers. */
  seq: number;
  title: string;
  body: string;
  /** Unread messages from others, up to 100. */
  count: number;
  /** Where a click goes: `/messages/<conversationId>`. */
  url: string;
  /** One notification per conversation: a later one replaces it. */
  tag: string;
}
