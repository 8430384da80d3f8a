/**
 * What the service checks of a sealed message (docs/e2e.md, "What the service checks"):
 * the body of a message in an encrypted conversation is an Envelope's JSON whose clear
 * header matches the frame, and whose wraps cover exactly the current devices of both
 * members. It reads no ciphertext and verifies no message signature (the recipients do).
 */
import { Envelope, LIMITS, parseEnvelopeJson } from '@chat/protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { DeviceRow } from '../db/device-keys.ts';
import { AppError } from '../errors.ts';

const envelopeCheck = TypeCompiler.Compile(Envelope);

/** The body as an envelope, or VALIDATION_FAILED (plain text included) / PAYLOAD_TOO_LARGE. */
export function parseEnvelope(body: string): Envelope {
  if (body.length > LIMITS.maxEnvelopeChars) throw new AppError('PAYLOAD_TOO_LARGE', `A sealed message is at most ${LIMITS.maxEnvelopeChars} characters.`);
  const parsed = parseEnvelopeJson(body);
  if (parsed === null || !envelopeCheck.Check(parsed)) {
    throw new AppError('VALIDATION_FAILED', 'This conversation is end-to-end encrypted: a message body must be a sealed envelope (docs/e2e.md).', { encrypted: true });
  }
  return parsed;
}

/** The header fields that must equal what the frame (or the stored message) says. */
export function expectHeader(envelope: Envelope, expected: Partial<Pick<Envelope, 'conversationId' | 'senderId' | 'clientMsgId' | 'replyToId' | 'edit'>>): void {
  for (const [field, value] of Object.entries(expected) as [keyof Envelope, unknown][]) {
    if (envelope[field] !== value) throw new AppError('VALIDATION_FAILED', `The envelope's ${field} does not match the message's.`, { field });
  }
}

const keyName = (userId: string, deviceId: string, keyId: number) => JSON.stringify([userId, deviceId, keyId]);

/**
 * `keys` must name each current device of each member once, with its current encryption
 * key id, and nothing else; the sender's device must be one of the sender's. Otherwise
 * KEYS_CHANGED, with what is missing and what is unknown, so the client refetches the keys,
 * warns, and seals again. A member without any device is listed in `noDevices`.
 */
export function expectRecipients(envelope: Envelope, directory: { members: string[]; devices: DeviceRow[] }): void {
  const current = new Map(directory.devices.map((d) => [keyName(d.userId, d.deviceId, d.encryptionKeyId), d]));
  const named = new Set<string>();
  const unknown: { userId: string; deviceId: string; keyId: number }[] = [];
  for (const k of envelope.keys) {
    const name = keyName(k.userId, k.deviceId, k.keyId);
    if (named.has(name)) throw new AppError('VALIDATION_FAILED', 'The envelope wraps the key twice for one device.', { userId: k.userId, deviceId: k.deviceId });
    named.add(name);
    if (!current.has(name)) unknown.push({ userId: k.userId, deviceId: k.deviceId, keyId: k.keyId });
  }
  const missing = directory.devices.filter((d) => !named.has(keyName(d.userId, d.deviceId, d.encryptionKeyId))).map((d) => ({ userId: d.userId, deviceId: d.deviceId, keyId: d.encryptionKeyId }));
  const noDevices = directory.members.filter((userId) => !directory.devices.some((d) => d.userId === userId));
  // The sender's device, with the encryption key it is currently published with (its wraps are authenticated with it).
  const senderDeviceKnown = directory.devices.some((d) => d.userId === envelope.senderId && d.deviceId === envelope.senderDevice && d.bundle.encryptionKey.key === envelope.senderKey);
  if (missing.length > 0 || unknown.length > 0 || noDevices.length > 0 || !senderDeviceKnown) {
    const message =
      noDevices.length > 0
        ? 'A member has no device in the key directory yet: nothing can be sealed to them.'
        : !senderDeviceKnown
          ? 'The sending device (with this senderKey) is not in the key directory; publish it again.'
          : "The conversation's devices changed; fetch its keys again and re-seal.";
    throw new AppError('KEYS_CHANGED', message, { missing, unknown, noDevices, ...(senderDeviceKnown ? {} : { senderDevice: envelope.senderDevice }) });
  }
}
