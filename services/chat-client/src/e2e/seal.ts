/**
 * seal(): a message for every recipient device. A fresh 32-byte key K and 96-bit nonce encrypt
 * the plaintext JSON with AES-256-GCM (the header as associated data); K is wrapped to each
 * device's encryption key with HPKE mode Auth (this device's encryption key pair as the sender
 * key, `info` = hpkeInfo(header)); the sending device's identity key signs the whole envelope.
 */
import { E2E_ALG, E2E_VERSION, envelopeAad, envelopeSigningInput, hpkeInfo, LIMITS, type DeviceBundle, type E2EPlaintext, type Envelope, type EnvelopeHeader, type WrappedKey } from '@chat/protocol';
import { verifyBundle } from './bundle.ts';
import { fromBase64Url, randomBytes, subtle, toBase64Url, utf8, type Bytes } from './bytes.ts';
import type { Device } from './device.ts';
import { E2EError } from './e2e-error.ts';
import { hpkeSeal, importHpkePublicKey } from './hpke.ts';

export interface SealHeader {
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  replyToId?: string | null;
  /** 0 (default) for a new message, n for its n-th edit. */
  edit?: number;
}

/**
 * Seals `plaintext` to `recipients` (every device of both members, as the directory lists them)
 * and to this device itself. Every recipient bundle must verify, or it throws UNVERIFIABLE_BUNDLE.
 * @example
 * const { devices } = await directory.conversationDevices(conversationId);
 * const envelope = await seal(device, { conversationId, senderId: me, clientMsgId }, { body: 'hi', quote: null, attachments: [] }, devices);
 * client.send({ conversationId, clientMsgId, body: JSON.stringify(envelope) });
 */
export async function seal(device: Device, header: SealHeader, plaintext: E2EPlaintext, recipients: readonly DeviceBundle[]): Promise<Envelope> {
  if (header.senderId !== device.userId) throw new E2EError('WRONG_SENDER', `This device belongs to ${device.userId}, not ${header.senderId}.`);
  const targets = new Map<string, DeviceBundle>();
  for (const bundle of [await device.bundle(), ...recipients]) {
    if (!(await verifyBundle(bundle))) throw new E2EError('UNVERIFIABLE_BUNDLE', `The bundle of device ${String(bundle?.deviceId)} of ${String(bundle?.userId)} does not verify.`, { userId: bundle?.userId, deviceId: bundle?.deviceId });
    targets.set(JSON.stringify([bundle.userId, bundle.deviceId]), bundle);
  }

  const head: EnvelopeHeader = {
    v: E2E_VERSION,
    alg: E2E_ALG,
    conversationId: header.conversationId,
    senderId: header.senderId,
    senderDevice: device.deviceId,
    senderKey: device.encryptionKey.key,
    clientMsgId: header.clientMsgId,
    replyToId: header.replyToId ?? null,
    edit: header.edit ?? 0,
    nonce: toBase64Url(randomBytes(12)),
  };
  const secret = randomBytes(32);
  const contentKey = await subtle().importKey('raw', secret, 'AES-GCM', false, ['encrypt']);
  const ciphertext = await subtle().encrypt({ name: 'AES-GCM', iv: fromBase64Url(head.nonce), additionalData: envelopeAad(head) as Bytes }, contentKey, utf8(JSON.stringify(plaintext)));

  const info = hpkeInfo(head) as Bytes;
  const sender = device.currentKeyPair();
  const keys: WrappedKey[] = await Promise.all(
    [...targets.values()].map(async (b) => ({
      userId: b.userId,
      deviceId: b.deviceId,
      keyId: b.encryptionKey.id,
      ...(await hpkeSeal(secret, await importHpkePublicKey(b.encryptionKey.key), sender, info)),
    })),
  );
  secret.fill(0);

  const unsigned: Omit<Envelope, 'signature'> = { ...head, ciphertext: toBase64Url(ciphertext), keys };
  const envelope: Envelope = { ...unsigned, signature: toBase64Url(await device.sign(envelopeSigningInput(unsigned) as Bytes)) };
  const size = JSON.stringify(envelope).length;
  if (size > LIMITS.maxEnvelopeChars) throw new E2EError('TOO_LARGE', `The sealed message is ${size} characters; at most ${LIMITS.maxEnvelopeChars} fit.`, { size });
  return envelope;
}
