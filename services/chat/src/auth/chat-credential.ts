/**
 * Chat credentials: what the storefront hands its pages instead of the session token
 * (web/lib/chat-credential.ts mints them; scripts/src/mint-token.ts --chat too).
 *
 * A JWT signed with HS256 under a key derived from the shared session secret for this
 * purpose only: HKDF-SHA256(secret, salt "chat-credential", info "chat credential v1",
 * 32 bytes). No session key is derived with that salt and info, so a credential never
 * decrypts as a session token (the storefront refuses it as a cookie) and a session
 * token never verifies as a credential. Signed, not encrypted: the page that holds it
 * already knows every claim in it (its own user id, name, picture and role).
 *
 * Claims: iss "storefront", aud "chat", sub, name, picture, role ('owner' | 'admin',
 * optional), iat, exp (minutes after iat). Accepted as a bearer token, a `bearer.`
 * subprotocol or the `token` query parameter, and in `auth.refresh`; never from a cookie.
 */
import { hkdfSync } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { AppError } from '../errors.ts';

export const CHAT_CREDENTIAL = {
  alg: 'HS256',
  issuer: 'storefront',
  audience: 'chat',
  hkdfSalt: 'chat-credential',
  hkdfInfo: 'chat credential v1',
} as const;

export function chatCredentialKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, CHAT_CREDENTIAL.hkdfSalt, CHAT_CREDENTIAL.hkdfInfo, 32));
}

export interface ChatCredentialClaims {
  sub: string;
  name?: string | null;
  picture?: string | null;
  role?: 'owner' | 'admin' | null;
}

/**
 * Mints a credential as the storefront does (for scripts and tests).
 * @example await signChatCredential({ sub: 'alice', name: 'Alice' }, { secret, ttlSec: 600 })
 */
export function signChatCredential(claims: ChatCredentialClaims, options: { secret: string; ttlSec: number }): Promise<string> {
  const { sub, name, picture, role } = claims;
  const body: JWTPayload = { sub, ...(name ? { name } : {}), ...(picture ? { picture } : {}), ...(role ? { role } : {}) };
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(body)
    .setProtectedHeader({ alg: CHAT_CREDENTIAL.alg, typ: 'JWT' })
    .setIssuer(CHAT_CREDENTIAL.issuer)
    .setAudience(CHAT_CREDENTIAL.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSec)
    .sign(chatCredentialKey(options.secret));
}

/** Verifies a credential's signature (under any configured secret), issuer, audience and times; returns its claims. */
export function createChatCredentialVerifier(options: { secrets: string[]; clockToleranceSec: number; maxTtlSec: number }) {
  const keys = options.secrets.map(chatCredentialKey);

  return async function verifyChatCredential(token: string): Promise<JWTPayload> {
    for (const key of keys) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [CHAT_CREDENTIAL.alg],
          issuer: CHAT_CREDENTIAL.issuer,
          audience: CHAT_CREDENTIAL.audience,
          requiredClaims: ['exp', 'iat'],
          clockTolerance: options.clockToleranceSec,
        }));
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue; // another secret's key, perhaps
        if (code === 'ERR_JWT_EXPIRED') throw new AppError('SESSION_EXPIRED', 'The chat credential expired; fetch a new one.');
        throw new AppError('UNAUTHENTICATED', 'The chat credential is not valid.');
      }
      // Short-lived by design: a long-lived credential would be the session token's risk again.
      if ((payload.exp as number) - (payload.iat as number) > options.maxTtlSec) {
        throw new AppError('UNAUTHENTICATED', 'The chat credential lives longer than the service allows.');
      }
      return payload;
    }
    throw new AppError('UNAUTHENTICATED', 'The chat credential is not signed with a configured secret.');
  };
}
