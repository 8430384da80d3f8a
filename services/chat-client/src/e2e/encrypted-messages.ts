/**
 * The thin wiring between the crypto and the client: seal to the conversation's current
 * devices and send as an ordinary message (body = the envelope's JSON), re-sealing when the
 * service answers KEYS_CHANGED; open a received message against the trust store's pins.
 */
import type { E2EPlaintext, Envelope, Message, SendResult } from '@chat/protocol';
import type { ChatClient } from '../client.ts';
import { ChatError } from '../errors.ts';
import { randomId } from '../ids.ts';
import type { Device } from './device.ts';
import { E2EError } from './e2e-error.ts';
import type { KeyDirectory } from './key-directory.ts';
import { open, type OpenResult } from './open.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { seal } from './seal.ts';
import type { KeyChange, TrustStore } from './trust-store.ts';

export interface E2EContext {
  client: ChatClient;
  device: Device;
  trust: TrustStore;
  directory: KeyDirectory;
  replay?: ReplayGuard;
  /**
   * Called for each user whose devices differ from the pinned ones (show the warning). Return
   * false to refuse sending to the changed list (the send then fails with KEYS_NOT_ACCEPTED);
   * anything else seals to the directory's current, verified devices, as Signal does.
   */
  onKeyChange?: (userId: string, change: KeyChange) => void | boolean | Promise<void | boolean>;
}

export interface EncryptedSend {
  conversationId: string;
  plaintext: E2EPlaintext;
  replyToId?: string | null;
  /** The uploaded ciphertext blobs of plaintext.attachments (E2E_ATTACHMENT). */
  attachmentIds?: string[];
}

const MAX_RESEALS = 3;

/**
 * Seals to the conversation's devices as the directory lists them now, reporting key changes.
 * Throws E2EError UNVERIFIABLE_BUNDLE when the directory serves a bundle that does not verify.
 * @example const envelope = await sealForConversation(ctx, { conversationId, clientMsgId, plaintext });
 */
export async function sealForConversation(ctx: E2EContext, input: { conversationId: string; clientMsgId: string; plaintext: E2EPlaintext; replyToId?: string | null; edit?: number }): Promise<Envelope> {
  const { devices } = await ctx.directory.conversationDevices(input.conversationId);
  for (const userId of new Set(devices.map((d) => d.userId))) {
    const change = await ctx.trust.compare(userId, devices);
    if (change.invalid.length > 0) throw new E2EError('UNVERIFIABLE_BUNDLE', `The directory serves a bundle of ${userId} that does not verify.`, change);
    if (change.warn && (await ctx.onKeyChange?.(userId, change)) === false) throw new E2EError('KEYS_NOT_ACCEPTED', `${userId}'s devices changed.`, change);
  }
  return seal(ctx.device, { conversationId: input.conversationId, senderId: ctx.device.userId, clientMsgId: input.clientMsgId, replyToId: input.replyToId ?? null, edit: input.edit ?? 0 }, input.plaintext, devices);
}

/**
 * Seals and sends through the client's outbox (socket or HTTP, retried like any message). On
 * KEYS_CHANGED it fetches the keys again, reports the change, and re-seals under the same clientMsgId.
 * @example const { message } = await sendEncrypted(ctx, { conversationId, plaintext: { body: 'hi', quote: null, attachments: [] } });
 */
export async function sendEncrypted(ctx: E2EContext, input: EncryptedSend): Promise<SendResult> {
  const clientMsgId = randomId();
  for (let attempt = 1; ; attempt++) {
    const envelope = await sealForConversation(ctx, { ...input, clientMsgId });
    const { done } = ctx.client.send({ conversationId: input.conversationId, clientMsgId, body: JSON.stringify(envelope), replyToId: input.replyToId ?? null, attachmentIds: input.attachmentIds });
    try {
      return await done;
    } catch (error) {
      if (!isKeysChanged(error)) throw error;
      ctx.client.discard(clientMsgId);
      if (attempt >= MAX_RESEALS) throw new E2EError('KEYS_UNSETTLED', 'The conversation’s devices kept changing while sending.', (error as ChatError).details);
    }
  }
}

/**
 * Opens a received message on this device. The sender's devices are pinned on first use; when the
 * sender device is not pinned, the directory is read again and the change reported through
 * onKeyChange, and the result stays 'unknown-device' until the user accepts the new list.
 * @example const result = await openMessage(ctx, event.message); result.ok ? show(result.plaintext) : showProblem(result.reason);
 */
export async function openMessage(ctx: E2EContext, message: Pick<Message, 'conversationId' | 'senderId' | 'clientMsgId' | 'replyToId' | 'seq' | 'body'>): Promise<OpenResult> {
  if (message.body === null) return { ok: false, reason: 'not-an-envelope' };
  const expected = { conversationId: message.conversationId, senderId: message.senderId, clientMsgId: message.clientMsgId, replyToId: message.replyToId, seq: message.seq };
  let pinned = await ctx.trust.pinned(message.senderId);
  if (pinned === null) {
    await ctx.trust.compare(message.senderId, (await ctx.directory.userDevices(message.senderId)).devices);
    pinned = (await ctx.trust.pinned(message.senderId)) ?? [];
  }
  const result = await open(ctx.device, message.body, expected, pinned, { replay: ctx.replay });
  if (!result.ok && result.reason === 'unknown-device') {
    const change = await ctx.trust.compare(message.senderId, (await ctx.directory.userDevices(message.senderId)).devices);
    if (change.warn) await ctx.onKeyChange?.(message.senderId, change);
  }
  return result;
}

/** The service refused a send because the sealed device list is not the conversation's current one. */
export function isKeysChanged(error: unknown): boolean {
  if (!(error instanceof ChatError)) return false;
  if ((error.code as string) === 'KEYS_CHANGED') return true;
  const details = error.details as { missing?: unknown; unknown?: unknown } | undefined;
  return error.status === 409 && Array.isArray(details?.missing) && Array.isArray(details?.unknown);
}
