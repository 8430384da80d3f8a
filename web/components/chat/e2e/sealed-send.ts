/**
 * Sending in an encrypted conversation: seal to the conversation's current devices and send
 * through the outbox under a clientMsgId chosen here (so the outbox item can show what was
 * typed); on KEYS_CHANGED the keys are read again (the change is reported to the warning) and
 * the message re-sealed under the same clientMsgId. Edits re-seal with edit + 1.
 */
import { E2E_ATTACHMENT, encryptAttachment, isKeysChanged, sealForConversation, type E2EPlaintext, type SendResult } from '@chat/client';
import type { PanelE2E } from './panel-e2e';
import type { SealedAttachment } from './message-states';

const MAX_RESEALS = 3;

export async function sendSealed(
  e2e: PanelE2E,
  input: { conversationId: string; plaintext: E2EPlaintext; replyToId: string | null },
  onQueued: () => void,
): Promise<SendResult> {
  const session = await e2e.session();
  const clientMsgId = crypto.randomUUID();
  e2e.decryptor.pending.set(clientMsgId, input.plaintext.body);
  const attachmentIds = input.plaintext.attachments.map((a) => a.id);
  for (let attempt = 1; ; attempt++) {
    const envelope = await sealForConversation(session, { ...input, clientMsgId });
    const { done } = session.client.send({ conversationId: input.conversationId, clientMsgId, body: JSON.stringify(envelope), replyToId: input.replyToId, ...(attachmentIds.length ? { attachmentIds } : {}) });
    onQueued();
    try {
      return await done;
    } catch (error) {
      if (!isKeysChanged(error) || attempt >= MAX_RESEALS) throw error;
      session.client.discard(clientMsgId);
    }
  }
}

/** Re-seals an edited text with the message's quote and attachments, as edit + 1. */
export async function editSealed(e2e: PanelE2E, conversationId: string, message: { id: string; clientMsgId: string; replyToId: string | null }, body: string): Promise<void> {
  const opened = e2e.decryptor.opened(message.id);
  if (!opened) throw new Error('This message cannot be edited on this device.');
  const session = await e2e.session();
  for (let attempt = 1; ; attempt++) {
    const envelope = await sealForConversation(session, { conversationId, clientMsgId: message.clientMsgId, replyToId: message.replyToId, edit: opened.edit + 1, plaintext: { ...opened.plaintext, body } });
    try {
      await session.client.edit(conversationId, message.id, JSON.stringify(envelope));
      return;
    } catch (error) {
      if (!isKeysChanged(error) || attempt >= MAX_RESEALS) throw error;
    }
  }
}

/** Encrypts a file on this device and uploads only its ciphertext, under the one name and type the service accepts. */
export async function uploadSealed(e2e: PanelE2E, conversationId: string, file: File): Promise<SealedAttachment> {
  const session = await e2e.session();
  const { ciphertext, key, nonce } = await encryptAttachment(await file.arrayBuffer());
  const ref = await session.client.http.upload(conversationId, new Blob([ciphertext as BlobPart], { type: E2E_ATTACHMENT.contentType }), E2E_ATTACHMENT.filename);
  return { id: ref.id, filename: file.name, contentType: file.type || 'application/octet-stream', size: file.size, key, nonce };
}
