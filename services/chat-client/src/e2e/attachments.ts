/**
 * Attachments of an encrypted conversation: each file is encrypted on the device with its own
 * AES-256-GCM key and nonce, uploaded as E2E_ATTACHMENT (encrypted.bin, application/octet-stream),
 * and its key, nonce, real name and type travel inside the message's sealed plaintext.
 */
import { fromBase64Url, randomBytes, subtle, toBase64Url, type Bytes } from './bytes.ts';

/**
 * @example
 * const { ciphertext, key, nonce } = await encryptAttachment(new Uint8Array(await file.arrayBuffer()));
 * const ref = await client.http.upload(conversationId, new Blob([ciphertext]), E2E_ATTACHMENT.filename);
 * plaintext.attachments.push({ id: ref.id, key, nonce, filename: file.name, contentType: file.type, size: file.size });
 */
export async function encryptAttachment(bytes: Uint8Array | ArrayBuffer): Promise<{ ciphertext: Bytes; key: string; nonce: string }> {
  const secret = randomBytes(32);
  const nonce = randomBytes(12);
  const key = await subtle().importKey('raw', secret, 'AES-GCM', false, ['encrypt']);
  const data = bytes instanceof Uint8Array ? new Uint8Array(bytes) : new Uint8Array(bytes.slice(0));
  const ciphertext = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: nonce }, key, data));
  return { ciphertext, key: toBase64Url(secret), nonce: toBase64Url(nonce) };
}

/**
 * The file's bytes, or null when they do not open with this key and nonce (changed or swapped ciphertext).
 * @example const bytes = await decryptAttachment(new Uint8Array(await (await fetch(url)).arrayBuffer()), a.key, a.nonce);
 */
export async function decryptAttachment(ciphertext: Uint8Array | ArrayBuffer, key: string, nonce: string): Promise<Bytes | null> {
  try {
    const secret = fromBase64Url(key);
    const iv = fromBase64Url(nonce);
    if (secret.length !== 32 || iv.length !== 12) return null;
    const aes = await subtle().importKey('raw', secret, 'AES-GCM', false, ['decrypt']);
    const data = ciphertext instanceof Uint8Array ? new Uint8Array(ciphertext) : new Uint8Array(ciphertext.slice(0));
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv }, aes, data));
  } catch {
    return null;
  }
}
