/** Device bundles: identity keys (ECDSA P-256), their signatures, and verifyBundle. */
import { bundleSigningInput, DeviceBundle } from '@chat/protocol';
import { Value } from '@sinclair/typebox/value';
import { fromBase64Url, subtle, type Bytes } from './bytes.ts';
import { importHpkePublicKey } from './hpke.ts';

export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A new identity key pair; the private key cannot be exported (sign only). */
export function generateIdentityKeyPair(): Promise<CryptoKeyPair> {
  return subtle().generateKey(ECDSA_P256, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** An identity key (SPKI DER, base64url) for verifying; throws when it is not a P-256 ECDSA key. */
export function importIdentityKey(spki: string): Promise<CryptoKey> {
  return subtle().importKey('spki', fromBase64Url(spki), ECDSA_P256, true, ['verify']);
}

/** ECDSA P-256 / SHA-256; the signature is IEEE P1363 (r ‖ s, 64 bytes), as WebCrypto makes it. */
export async function sign(privateKey: CryptoKey, data: Bytes): Promise<Bytes> {
  return new Uint8Array(await subtle().sign(SIGN, privateKey, data));
}

/** False for anything that is not a valid signature by `identityKey` (never throws). */
export async function verifySignature(identityKey: string, signature: string, data: Bytes): Promise<boolean> {
  try {
    const sig = fromBase64Url(signature);
    if (sig.length !== 64) return false;
    return await subtle().verify(SIGN, await importIdentityKey(identityKey), sig, data);
  } catch {
    return false;
  }
}

/**
 * True when `bundle` has the DeviceBundle shape, its signature verifies with its own identity
 * key, and its encryption key is a P-256 point. A bundle the server forged or altered fails;
 * a bundle with a *different* identity key passes here and is caught by TrustStore.compare.
 * @example const usable = (await Promise.all(bundles.map(verifyBundle))).every(Boolean);
 */
export async function verifyBundle(bundle: unknown): Promise<boolean> {
  if (!Value.Check(DeviceBundle, bundle)) return false;
  const { signature, ...signed } = bundle;
  if (!(await verifySignature(bundle.identityKey, signature, bundleSigningInput(signed) as Bytes))) return false;
  try {
    await importHpkePublicKey(bundle.encryptionKey.key);
    return true;
  } catch {
    return false;
  }
}
