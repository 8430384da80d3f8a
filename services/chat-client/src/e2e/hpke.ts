/**
 * HPKE (RFC 9180) mode Auth with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, from
 * @hpke/core (WebCrypto only). Keys are passed as CryptoKeyPairs: the library then reads the
 * public half and never exports the private one, so device keys stay non-extractable.
 */
import { Aes128Gcm, CipherSuite, DhkemP256HkdfSha256, HkdfSha256 } from '@hpke/core';
import { fromBase64Url, subtle, toBase64Url, type Bytes } from './bytes.ts';

const suite = new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

export const ECDH_P256 = { name: 'ECDH', namedCurve: 'P-256' } as const;

/** A new HPKE key pair; the private key cannot be exported (deriveBits only). */
export function generateHpkeKeyPair(): Promise<CryptoKeyPair> {
  return subtle().generateKey(ECDH_P256, false, ['deriveBits']) as Promise<CryptoKeyPair>;
}

/** A raw uncompressed P-256 point (base64url) as an HPKE public key; throws when it is not one. */
export async function importHpkePublicKey(raw: string): Promise<CryptoKey> {
  const bytes = fromBase64Url(raw);
  if (bytes.length !== 65 || bytes[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  return subtle().importKey('raw', bytes, ECDH_P256, true, []);
}

export async function exportHpkePublicKey(key: CryptoKey): Promise<string> {
  return toBase64Url(await subtle().exportKey('raw', key));
}

/** Seals `secret` to one recipient, authenticated with the sender's key pair (mode Auth). */
export async function hpkeSeal(secret: Bytes, recipientPublicKey: CryptoKey, sender: CryptoKeyPair, info: Bytes): Promise<{ enc: string; wrapped: string }> {
  const { enc, ct } = await suite.seal({ recipientPublicKey, senderKey: sender, info }, secret);
  return { enc: toBase64Url(enc), wrapped: toBase64Url(ct) };
}

/** Opens a wrap; throws when it does not open (wrong key, wrong sender, wrong info, changed bytes). */
export async function hpkeOpen(enc: string, wrapped: string, recipient: CryptoKeyPair, senderPublicKey: CryptoKey, info: Bytes): Promise<Bytes> {
  const pt = await suite.open({ recipientKey: recipient, enc: fromBase64Url(enc), senderPublicKey, info }, fromBase64Url(wrapped));
  return new Uint8Array(pt);
}
