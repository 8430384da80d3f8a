/**
 * End-to-end encrypted direct conversations (docs/e2e.md): the key directory's device
 * bundles, the sealed envelope a message body carries, and the canonical byte strings that
 * are signed or authenticated. Clients (services/chat-client/src/e2e) seal and open; the
 * service (services/chat) checks shapes, signatures on bundles, and addressing, and never
 * holds a key that opens anything.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Base64Url, ClientMsgId, Nullable, Timestamp, UserId, Uuid } from './common.ts';
import { LIMITS } from './limits.ts';

export const E2E_VERSION = 1;
/** HPKE mode Auth, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM wraps a per-message AES-256-GCM key; ECDSA P-256 signs. */
export const E2E_ALG = 'hpke-auth-p256-sha256-aes128gcm+aes256gcm+ecdsa-p256';

/** 128 random bits, base64url (22 characters). */
export const DeviceId = Type.String({ minLength: 16, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$', description: 'A device id: 128+ random bits, base64url' });

/** A device's current HPKE (ECDH P-256) public key. `id` only grows when the device rotates it. */
export const EncryptionKey = Type.Object(
  {
    id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
    key: Base64Url(88, 'The raw uncompressed P-256 point (65 bytes), base64url'),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);

/** What a device publishes: signed by its identity key over `bundleSigningInput`. */
export const DeviceBundle = Type.Object(
  {
    v: Type.Literal(E2E_VERSION),
    userId: UserId,
    deviceId: DeviceId,
    identityKey: Base64Url(200, 'The ECDSA P-256 identity public key, SPKI DER (91 bytes), base64url'),
    encryptionKey: EncryptionKey,
    signature: Base64Url(100, 'ECDSA P-256 / SHA-256 over bundleSigningInput, IEEE P1363 (r ‖ s, 64 bytes), base64url'),
  },
  { additionalProperties: false },
);
export type DeviceBundle = Static<typeof DeviceBundle>;

export const DeviceParams = Type.Object({ deviceId: DeviceId });
export const KeyUserParams = Type.Object({ userId: UserId });
/** A user's published devices, oldest first. */
export const UserKeys = Type.Object({ userId: UserId, devices: Type.Array(DeviceBundle) });
export type UserKeys = Static<typeof UserKeys>;
/** Every device of every member of a conversation: what a sender wraps the message key to. */
export const ConversationKeys = Type.Object({ conversationId: Uuid, devices: Type.Array(DeviceBundle) });
export type ConversationKeys = Static<typeof ConversationKeys>;

/** One wrap of the message key, for one device's current encryption key. */
export const WrappedKey = Type.Object(
  {
    userId: UserId,
    deviceId: DeviceId,
    keyId: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
    /** HPKE encapsulated key (65 bytes). */
    enc: Base64Url(100, 'HPKE enc'),
    /** HPKE ciphertext of the 32-byte message key (48 bytes). */
    wrapped: Base64Url(100, 'HPKE ciphertext of the message key'),
  },
  { additionalProperties: false },
);
export type WrappedKey = Static<typeof WrappedKey>;

/**
 * The sealed message: a message body in an encrypted conversation is `JSON.stringify(envelope)`.
 * The header (every field but `ciphertext`, `keys`, `signature`) is in clear for the service
 * to check against the frame; the plaintext (`E2EPlaintext`) is inside `ciphertext`.
 */
export const Envelope = Type.Object(
  {
    v: Type.Literal(E2E_VERSION),
    alg: Type.Literal(E2E_ALG),
    conversationId: Uuid,
    senderId: UserId,
    senderDevice: DeviceId,
    /**
     * The sender device's HPKE public key (raw P-256 point) its wraps are authenticated with
     * (mode Auth). Carried, and signed with the envelope, so a message stays openable after the
     * sender rotates its encryption key and the directory no longer serves the old one.
     */
    senderKey: Base64Url(88, "The sender device's HPKE public key, raw P-256 point (65 bytes), base64url"),
    clientMsgId: ClientMsgId,
    replyToId: Nullable(Uuid),
    /** 0 for the first version; an edit seals a new envelope with the next number. */
    edit: Type.Integer({ minimum: 0, maximum: 1000 }),
    nonce: Base64Url(16, 'AES-GCM nonce, 96 bits'),
    ciphertext: Base64Url(LIMITS.maxEnvelopeChars, 'AES-256-GCM ciphertext of the plaintext JSON, with the tag'),
    keys: Type.Array(WrappedKey, { minItems: 1, maxItems: 2 * LIMITS.maxDevicesPerUser }),
    signature: Base64Url(100, "ECDSA P-256 / SHA-256 by the sender device's identity key over envelopeSigningInput"),
  },
  { additionalProperties: false },
);
export type Envelope = Static<typeof Envelope>;
export type EnvelopeHeader = Omit<Envelope, 'ciphertext' | 'keys' | 'signature'>;

/** What the ciphertext holds (never seen by the service). */
export interface E2EPlaintext {
  body: string;
  /** The replied-to message's sender and first characters, as the sender saw them. */
  quote: { senderId: string; preview: string } | null;
  /** Keys and real names of the encrypted attachments; the service stores only ciphertext blobs. */
  attachments: { id: string; key: string; nonce: string; filename: string; contentType: string; size: number }[];
}

/** The only file name and type an encrypted conversation's attachments are uploaded under: the real ones are in the plaintext. */
export const E2E_ATTACHMENT = { filename: 'encrypted.bin', contentType: 'application/octet-stream' } as const;

/** `POST /v1/conversations/direct` may ask for the encrypted conversation of the pair (a separate conversation from the plain one). */
export const EncryptedFlag = Type.Boolean({ description: 'The end-to-end encrypted direct conversation of the pair (docs/e2e.md)' });

// ---- canonical byte strings (JSON arrays: fixed order, no key-order ambiguity) ----

const te = new TextEncoder();

/** What a device bundle's signature covers: every field but the signature. */
export function bundleSigningInput(b: Omit<DeviceBundle, 'signature'>): Uint8Array {
  return te.encode(JSON.stringify(['chat-e2e bundle v1', b.v, b.userId, b.deviceId, b.identityKey, b.encryptionKey.id, b.encryptionKey.key, b.encryptionKey.createdAt]));
}

/** The AEAD's associated data: the header, so a ciphertext moved to another conversation, message, sender or edit does not open. */
export function envelopeAad(h: EnvelopeHeader): Uint8Array {
  return te.encode(JSON.stringify(['chat-e2e header v1', h.v, h.alg, h.conversationId, h.senderId, h.senderDevice, h.senderKey, h.clientMsgId, h.replyToId, h.edit, h.nonce]));
}

/** HPKE `info` for every wrap of one message's key. */
export function hpkeInfo(h: Pick<EnvelopeHeader, 'conversationId' | 'clientMsgId' | 'edit'>): Uint8Array {
  return te.encode(JSON.stringify(['chat-e2e wrap v1', h.conversationId, h.clientMsgId, h.edit]));
}

/** What the sender device's signature covers: header, ciphertext and every wrap. */
export function envelopeSigningInput(e: Omit<Envelope, 'signature'>): Uint8Array {
  return te.encode(
    JSON.stringify([
      'chat-e2e envelope v1',
      e.v, e.alg, e.conversationId, e.senderId, e.senderDevice, e.senderKey, e.clientMsgId, e.replyToId, e.edit, e.nonce,
      e.ciphertext,
      e.keys.map((k) => [k.userId, k.deviceId, k.keyId, k.enc, k.wrapped]),
    ]),
  );
}

/** A safety number's input: both users' devices, sorted, so both sides compute the same bytes. */
export function safetyNumberInput(devices: Pick<DeviceBundle, 'userId' | 'deviceId' | 'identityKey'>[]): Uint8Array {
  const sorted = devices.map((d) => [d.userId, d.deviceId, d.identityKey]).sort((a, b) => (a.join('\n') < b.join('\n') ? -1 : a.join('\n') > b.join('\n') ? 1 : 0));
  return te.encode(JSON.stringify(['chat-e2e safety v1', sorted]));
}

/** Parses a body as an envelope's JSON, or null (then it is not one). Shape only: the schema is checked by the caller. */
export function parseEnvelopeJson(body: string): unknown {
  if (!body.startsWith('{"v":')) return null;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return null;
  }
}

