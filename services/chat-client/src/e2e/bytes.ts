/** Byte helpers shared by the e2e modules: base64url (no padding), UTF-8, random bytes. */

export type Bytes = Uint8Array<ArrayBuffer>;

/** The platform's WebCrypto (browsers, Node 20's globalThis.crypto). */
export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available: a secure context (https or localhost) or Node 20+ is required.');
  return s;
}

export function randomBytes(length: number): Bytes {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

export function toBase64Url(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (let i = 0; i < view.length; i += 0x8000) binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Throws on anything but base64url (padding tolerated): callers treat that as hostile input. */
export function fromBase64Url(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new Error('not base64url');
  const base64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function utf8(text: string): Bytes {
  return new TextEncoder().encode(text);
}

export function fromUtf8(bytes: Uint8Array | ArrayBuffer): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** A copy backed by its own ArrayBuffer (what WebCrypto's BufferSource wants). */
export function own(bytes: Uint8Array): Bytes {
  return new Uint8Array(bytes);
}
