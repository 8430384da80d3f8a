/**
 * The key directory's rules (docs/e2e.md, "Keys and the key directory"): who may publish,
 * rotate, remove and read device bundles. The service verifies each bundle's signature, so
 * it stores only bundles their own identity key signed; it holds no key that opens anything.
 * A change of a user's device set is a `keys.changed` event in each of their encrypted
 * conversations, in the same transaction, so both members learn it live or on resume.
 */
import { bundleSigningInput, LIMITS, type DeviceBundle } from '@chat/protocol';
import type { Tx } from '@chat/db';
import type { Identity } from '../auth/session-token.ts';
import * as directory from '../db/device-keys.ts';
import { nextSeq, recordEvent } from '../db/events.ts';
import { AppError } from '../errors.ts';
import type { Chat } from './chat.ts';

type Change = 'added' | 'rotated' | 'removed';

const fromB64 = (s: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(s.replace(/=+$/, ''), 'base64url'));

/** True when `signature` (P1363) over `data` verifies with the SPKI `identityKey`; false for keys that do not import. */
export async function verifySignature(identityKey: string, signature: string, data: Uint8Array<ArrayBuffer>): Promise<boolean> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('spki', fromB64(identityKey), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  } catch {
    return false;
  }
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, fromB64(signature), data);
}

async function isP256Point(raw: string): Promise<boolean> {
  try {
    await crypto.subtle.importKey('raw', fromB64(raw), { name: 'ECDH', namedCurve: 'P-256' }, true, []);
    return true;
  } catch {
    return false;
  }
}

/** Everything a bundle says about its keys (the signature is randomised, so two signings of one bundle differ). */
const sameKeys = (a: DeviceBundle, b: DeviceBundle) =>
  a.identityKey === b.identityKey && a.encryptionKey.id === b.encryptionKey.id && a.encryptionKey.key === b.encryptionKey.key && a.encryptionKey.createdAt === b.encryptionKey.createdAt;

/**
 * Publishes or rotates the caller's device bundle. `created` is false for a rotation and
 * for the same bundle again (then nothing changes and no event is sent).
 */
export async function publishDevice(chat: Chat, identity: Identity, deviceId: string, bundle: DeviceBundle): Promise<{ bundle: DeviceBundle; created: boolean }> {
  if (bundle.userId !== identity.userId) throw new AppError('FORBIDDEN', 'A bundle can only be published by its own user.');
  if (bundle.deviceId !== deviceId) throw new AppError('VALIDATION_FAILED', 'The bundle is for another device than the URL names.');
  const { signature, ...signed } = bundle;
  if (!(await verifySignature(bundle.identityKey, signature, bundleSigningInput(signed) as Uint8Array<ArrayBuffer>))) {
    throw new AppError('VALIDATION_FAILED', 'The bundle signature does not verify with its identity key.');
  }
  if (!(await isP256Point(bundle.encryptionKey.key))) throw new AppError('VALIDATION_FAILED', 'The encryption key is not a P-256 public key.');
  await chat.ensureUser(identity);
  return chat.db.transaction(async (tx) => {
    const devices = await directory.lockUserDevices(tx, identity.userId);
    const current = devices.find((d) => d.deviceId === deviceId);
    let change: Change;
    if (current) {
      if (current.identityKey !== bundle.identityKey) throw new AppError('CONFLICT', "A device's identity key never changes; publish a new device instead.");
      if (sameKeys(current.bundle, bundle)) return { bundle: current.bundle, created: false };
      if (bundle.encryptionKey.id <= current.encryptionKeyId) {
        throw new AppError('CONFLICT', 'A rotated encryption key needs a higher id than the current one.', { currentKeyId: current.encryptionKeyId });
      }
      await directory.updateDevice(tx, bundle);
      change = 'rotated';
    } else {
      if (devices.length >= LIMITS.maxDevicesPerUser) {
        throw new AppError('CONFLICT', `A user has at most ${LIMITS.maxDevicesPerUser} devices; remove one first.`, { maxDevices: LIMITS.maxDevicesPerUser });
      }
      await directory.insertDevice(tx, bundle);
      change = 'added';
    }
    await announce(chat, tx, identity.userId, deviceId, change);
    return { bundle, created: change === 'added' };
  });
}

/** Removes one of the caller's devices; NOT_FOUND for a device that is not theirs. */
export async function removeDevice(chat: Chat, identity: Identity, deviceId: string): Promise<void> {
  await chat.db.transaction(async (tx) => {
    await directory.lockUserDevices(tx, identity.userId);
    if (!(await directory.deleteDevice(tx, identity.userId, deviceId))) throw new AppError('NOT_FOUND', 'Device not found.');
    await announce(chat, tx, identity.userId, deviceId, 'removed');
  });
}

/** A keys.changed event in each of the user's encrypted conversations, locked in id order (as sends lock them). */
async function announce(chat: Chat, tx: Tx, userId: string, deviceId: string, change: Change): Promise<void> {
  const ids = (await directory.encryptedConversationIds(tx, userId)).sort();
  for (const conversationId of ids) {
    await recordEvent(tx, chat.bus, { conversationId, type: 'keys.changed', actorId: userId, data: { userId, deviceId, change } }, await nextSeq(tx, conversationId));
  }
}

/** A user's bundles: the caller's own, or a user's who shares a conversation with the caller. Anyone else is FORBIDDEN, whether or not they exist. */
export async function userKeys(chat: Chat, identity: Identity, userId: string): Promise<{ userId: string; devices: DeviceBundle[] }> {
  if (userId !== identity.userId && !(await directory.shareConversation(chat.db, identity.userId, userId))) {
    throw new AppError('FORBIDDEN', 'Keys are visible only to people who share a conversation.');
  }
  return { userId, devices: await directory.userBundles(chat.db, userId) };
}

/** Every member's bundles (members only): what a sender wraps a message key to. */
export async function conversationKeys(chat: Chat, identity: Identity, conversationId: string): Promise<{ conversationId: string; devices: DeviceBundle[] }> {
  const { member } = await chat.access(identity, conversationId);
  if (!member) throw new AppError('FORBIDDEN', 'Only members read a conversation’s keys.');
  const { devices } = await directory.conversationDevices(chat.db, conversationId);
  return { conversationId, devices: devices.map((d) => d.bundle) };
}
