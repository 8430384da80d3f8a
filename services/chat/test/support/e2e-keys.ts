/**
 * Real device keys (WebCrypto ECDSA/ECDH P-256) and well-formed envelopes for the service's
 * end-to-end tests. Bundles carry real signatures; envelopes carry random bytes where the
 * ciphertext, HPKE encapsulations and wraps go (the service never opens them) and a real
 * signature by the sender's identity key. Sealing and opening are the SDK's
 * (services/chat-client/src/e2e).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { bundleSigningInput, E2E_ALG, E2E_VERSION, envelopeSigningInput, type DeviceBundle, type Envelope } from '@chat/protocol';

const b64 = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('base64url');
const random = (n: number) => randomBytes(n).toString('base64url');

export interface TestDevice {
  userId: string;
  deviceId: string;
  identity: CryptoKeyPair;
  keyId: number;
  /** The current encryption public key, raw point, base64url. */
  encryptionKey: string;
  bundle: DeviceBundle;
}

async function sign(privateKey: CryptoKey, data: Uint8Array): Promise<string> {
  return b64(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data as Uint8Array<ArrayBuffer>));
}

export async function encryptionPublicKey(): Promise<string> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  return b64(await crypto.subtle.exportKey('raw', pair.publicKey));
}

async function identityPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

/** A signed bundle; `signer` signs instead of the device's own identity key (a forgery). */
export async function signBundle(fields: Omit<DeviceBundle, 'signature'>, signer: CryptoKey): Promise<DeviceBundle> {
  return { ...fields, signature: await sign(signer, bundleSigningInput(fields)) };
}

/** A new device with its first encryption key (id 1). */
export async function newDevice(userId: string, deviceId = random(16)): Promise<TestDevice> {
  const identity = await identityPair();
  const encryptionKey = await encryptionPublicKey();
  const identityKey = b64(await crypto.subtle.exportKey('spki', identity.publicKey));
  const fields = { v: E2E_VERSION, userId, deviceId, identityKey, encryptionKey: { id: 1, key: encryptionKey, createdAt: new Date().toISOString() } } as const;
  return { userId, deviceId, identity, keyId: 1, encryptionKey, bundle: await signBundle(fields, identity.privateKey) };
}

/** The same device with a new encryption key `id` (default: the next one). */
export async function rotated(device: TestDevice, id = device.keyId + 1): Promise<TestDevice> {
  const encryptionKey = await encryptionPublicKey();
  const { signature: _, ...fields } = device.bundle;
  const bundle = await signBundle({ ...fields, encryptionKey: { id, key: encryptionKey, createdAt: new Date().toISOString() } }, device.identity.privateKey);
  return { ...device, keyId: id, encryptionKey, bundle };
}

export interface Recipient {
  userId: string;
  deviceId: string;
  keyId: number;
}

export const recipientOf = (d: TestDevice): Recipient => ({ userId: d.userId, deviceId: d.deviceId, keyId: d.keyId });

/** A well-formed, signed envelope from `sender` wrapped to `recipients`; `header` overrides fields (for the abuse cases). */
export async function envelope(
  sender: TestDevice,
  input: { conversationId: string; recipients: Recipient[]; clientMsgId?: string; replyToId?: string | null; edit?: number; ciphertextBytes?: number; header?: Partial<Envelope> },
): Promise<Envelope> {
  const unsigned: Omit<Envelope, 'signature'> = {
    v: E2E_VERSION,
    alg: E2E_ALG,
    conversationId: input.conversationId,
    senderId: sender.userId,
    senderDevice: sender.deviceId,
    senderKey: sender.encryptionKey,
    clientMsgId: input.clientMsgId ?? randomUUID(),
    replyToId: input.replyToId ?? null,
    edit: input.edit ?? 0,
    nonce: random(12),
    ciphertext: random(input.ciphertextBytes ?? 64),
    keys: input.recipients.map((r) => ({ ...r, enc: random(65), wrapped: random(48) })),
    ...input.header,
  };
  return { ...unsigned, signature: await sign(sender.identity.privateKey, envelopeSigningInput(unsigned)) };
}
