/**
 * open(): checks an envelope and decrypts it on this device. It never throws for hostile
 * input; every failure is a typed reason the panel shows ("can't verify", "can't decrypt on
 * this device", "tampered", "replayed"), never a message displayed as valid.
 */
import { Envelope, envelopeAad, envelopeSigningInput, hpkeInfo, parseEnvelopeJson, type DeviceBundle, type E2EPlaintext } from '@chat/protocol';
import { Value } from '@sinclair/typebox/value';
import { verifySignature } from './bundle.ts';
import { fromBase64Url, fromUtf8, subtle, type Bytes } from './bytes.ts';
import type { Device } from './device.ts';
import { hpkeOpen, importHpkePublicKey } from './hpke.ts';
import type { ReplayGuard } from './replay-guard.ts';

export type OpenFailure =
  /** Not JSON, or not the Envelope schema (a plain message, garbage). */
  | 'not-an-envelope'
  /** The header names another conversation, sender, message (clientMsgId) or reply target than the service's message. */
  | 'misaddressed'
  /** The sender device is not among the sender's pinned devices (new or removed device: show the key-change warning). */
  | 'unknown-device'
  /** The signature does not verify with the pinned identity key. */
  | 'bad-signature'
  /** No wrap for this device, or only for keys it no longer holds (added after the message, or the key was retired). */
  | 'no-key-for-this-device'
  /** The wrap or the ciphertext does not open: bytes changed after signing cannot happen, so this is a sender fault or forgery. */
  | 'tampered'
  /** This envelope was seen before at another seq. */
  | 'replay';

export type OpenResult =
  | { ok: true; plaintext: E2EPlaintext; edit: number; senderDevice: string }
  | { ok: false; reason: OpenFailure };

export interface OpenExpected {
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  /** The service's reply link, when it has one to compare. */
  replyToId?: string | null;
  /** The message's seq: with a ReplayGuard, an envelope seen at another seq is a replay. */
  seq?: number;
}

/** The sender's devices as this device pinned them (TrustStore.pinned), or their bundles. */
export type PinnedSenderDevices = readonly Pick<DeviceBundle, 'deviceId' | 'identityKey'>[];

/**
 * Checks, in order: the JSON parses and has the Envelope schema; the header's conversation,
 * sender and clientMsgId (and replyToId when given) equal the service's; the sender device is
 * pinned; its signature verifies; a wrap exists for this device under a key it still holds;
 * the HPKE Auth wrap opens with the envelope's sender key; AES-GCM opens with the header as AAD;
 * then, with a ReplayGuard and a seq, that it was not seen at another seq.
 * @example
 * const result = await open(device, message.body, { conversationId, senderId: message.senderId, clientMsgId: message.clientMsgId, seq: message.seq }, await trust.pinned(message.senderId) ?? [], { replay });
 * if (result.ok) render(result.plaintext); else renderProblem(result.reason);
 */
export async function open(device: Device, input: string | unknown, expected: OpenExpected, pinned: PinnedSenderDevices, options: { replay?: ReplayGuard } = {}): Promise<OpenResult> {
  const candidate = typeof input === 'string' ? parseEnvelopeJson(input) : input;
  if (!Value.Check(Envelope, candidate)) return fail('not-an-envelope');
  const e: Envelope = candidate;

  if (e.conversationId !== expected.conversationId || e.senderId !== expected.senderId || e.clientMsgId !== expected.clientMsgId) return fail('misaddressed');
  if (expected.replyToId !== undefined && e.replyToId !== expected.replyToId) return fail('misaddressed');

  const signer = pinned.find((d) => d.deviceId === e.senderDevice);
  if (!signer) return fail('unknown-device');
  const { signature, ...signed } = e;
  if (!(await verifySignature(signer.identityKey, signature, envelopeSigningInput(signed) as Bytes))) return fail('bad-signature');

  const wrap = e.keys.find((k) => k.userId === device.userId && k.deviceId === device.deviceId && device.keyPair(k.keyId) !== null);
  if (!wrap) return fail('no-key-for-this-device');

  let secret: Bytes;
  try {
    secret = await hpkeOpen(wrap.enc, wrap.wrapped, device.keyPair(wrap.keyId)!, await importHpkePublicKey(e.senderKey), hpkeInfo(e) as Bytes);
    if (secret.length !== 32) return fail('tampered');
  } catch {
    return fail('tampered');
  }

  let plaintext: E2EPlaintext;
  try {
    const key = await subtle().importKey('raw', secret, 'AES-GCM', false, ['decrypt']);
    secret.fill(0);
    const { ciphertext: _c, keys: _k, signature: _s, ...header } = e;
    const bytes = await subtle().decrypt({ name: 'AES-GCM', iv: fromBase64Url(e.nonce), additionalData: envelopeAad(header) as Bytes }, key, fromBase64Url(e.ciphertext));
    const parsed: unknown = JSON.parse(fromUtf8(bytes));
    if (!isPlaintext(parsed)) return fail('tampered');
    plaintext = parsed;
  } catch {
    return fail('tampered');
  }

  // Last, on an authentic envelope only, so forgeries cannot fill the guard.
  if (options.replay && expected.seq !== undefined) {
    const seen = await options.replay.check({ conversationId: e.conversationId, senderId: e.senderId, senderDevice: e.senderDevice, clientMsgId: e.clientMsgId, edit: e.edit }, expected.seq);
    if (seen === 'replay') return fail('replay');
  }
  return { ok: true, plaintext, edit: e.edit, senderDevice: e.senderDevice };
}

function fail(reason: OpenFailure): OpenResult {
  return { ok: false, reason };
}

function isPlaintext(value: unknown): value is E2EPlaintext {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  const quote = p.quote as Record<string, unknown> | null;
  return (
    typeof p.body === 'string' &&
    (quote === null || (typeof quote === 'object' && typeof quote?.senderId === 'string' && typeof quote.preview === 'string')) &&
    Array.isArray(p.attachments) &&
    p.attachments.every((a: Record<string, unknown>) => typeof a === 'object' && a !== null && ['id', 'key', 'nonce', 'filename', 'contentType'].every((f) => typeof a[f] === 'string') && typeof a.size === 'number')
  );
}
