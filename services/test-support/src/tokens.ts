/**
 * Session tokens minted by the storefront's own libraries, and by hand only what those
 * libraries cannot produce (tokens without exp/iat) or what the storefront mints itself
 * (chat credentials).
 */
import { encode as encodeV5 } from '@auth/core/jwt';
import { encode as encodeV4 } from 'next-auth/jwt';
import { EncryptJWT, SignJWT } from 'jose';
import { hkdfSync } from 'node:crypto';

export const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const OLD_SECRET = 'old-secret-fedcba9876543210fedcba9876543210';

export interface Claims {
  sub: string;
  name?: string;
  picture?: string;
  [claim: string]: unknown;
}

/** NextAuth v4 (JWE dir + A256GCM). maxAge in seconds; negative mints an expired token. */
export function mintV4(claims: Claims, options: { secret?: string; maxAge?: number } = {}): Promise<string> {
  return encodeV4({ token: claims, secret: options.secret ?? SECRET, maxAge: options.maxAge ?? 3600 });
}

/** Auth.js v5 (JWE dir + A256CBC-HS512, salt = cookie name). */
export function mintV5(claims: Claims, options: { secret?: string; maxAge?: number; salt?: string } = {}): Promise<string> {
  return encodeV5({
    token: claims,
    secret: options.secret ?? SECRET,
    maxAge: options.maxAge ?? 3600,
    salt: options.salt ?? 'authjs.session-token',
  });
}

/**
 * A token in NextAuth v4's exact format (JWE dir + A256GCM, the same HKDF key) but with the
 * claims given verbatim: the libraries always set exp and iat, so tokens lacking them (which
 * only a misbehaving issuer holding the secret could produce) are built here with jose.
 */
export async function mintV4Raw(payload: Record<string, unknown>, secret = SECRET): Promise<string> {
  const key = new Uint8Array(hkdfSync('sha256', secret, '', 'NextAuth.js Generated Encryption Key', 32));
  return new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(key);
}

/**
 * A chat credential as the storefront's /api/chat-token mints it (web/lib/chat-credential.ts),
 * spelled out here from the documented format rather than imported, so a drift on either side
 * shows: JWS HS256, key = HKDF-SHA256(secret, salt "chat-credential", info "chat credential v1",
 * 32 bytes), iss "storefront", aud "chat". Every field can be overridden to mint bad ones.
 */
export async function mintChat(
  claims: Claims,
  options: { secret?: string; ttl?: number; issuedAgo?: number; audience?: string | null; issuer?: string | null; key?: Uint8Array; alg?: 'HS256' | 'HS512' } = {},
): Promise<string> {
  const key = options.key ?? chatCredentialKey(options.secret ?? SECRET);
  const iat = Math.floor(Date.now() / 1000) - (options.issuedAgo ?? 0);
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttl ?? 600));
  if (options.audience !== null) jwt.setAudience(options.audience ?? 'chat');
  if (options.issuer !== null) jwt.setIssuer(options.issuer ?? 'storefront');
  return jwt.sign(key);
}

export function chatCredentialKey(secret = SECRET): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'chat-credential', 'chat credential v1', 32));
}
