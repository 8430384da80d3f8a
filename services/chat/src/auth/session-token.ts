/**
 * Verifies what a caller presents, with jose:
 * - NextAuth v4 session tokens: JWE `dir` + A256GCM, key = HKDF-SHA256(secret, salt "",
 *   info "NextAuth.js Generated Encryption Key", 32 bytes), no `kid`.
 * - Auth.js v5 session tokens: JWE `dir` + A256CBC-HS512, key = HKDF-SHA256(secret,
 *   salt = cookie name, info "Auth.js Generated Encryption Key (<salt>)", 64 bytes),
 *   `kid` = the key's JWK thumbprint.
 * - Chat credentials (chat-credential.ts): a JWS, never accepted from a cookie.
 *
 * A token from a cookie must have been issued for that cookie: a v5 token only under the
 * cookie name it was derived with, a v4 token only under a NextAuth v4 cookie name.
 * A token presented explicitly (bearer header, subprotocol, query, auth.refresh) may be
 * any of them: servers hand over the raw token without its cookie name.
 *
 * Keys are derived once per secret at start-up; decryption is then one AES pass.
 */
import { hkdfSync } from 'node:crypto';
import { base64url, calculateJwkThumbprint, decodeProtectedHeader, jwtDecrypt, type JWTPayload } from 'jose';
import { AppError } from '../errors.ts';
import { createChatCredentialVerifier } from './chat-credential.ts';
import { toIdentity, type Identity } from './identity.ts';

export type { Identity } from './identity.ts';

/** Cookie names Auth.js v5 uses as the HKDF salt. */
export const V5_COOKIE_NAMES = ['authjs.session-token', '__Secure-authjs.session-token'];
/** Cookie names NextAuth v4 stores its session token under (its key does not depend on them). */
export const V4_COOKIE_NAMES = ['next-auth.session-token', '__Secure-next-auth.session-token'];

interface DerivedKey {
  /**
   * A256GCM keys are imported once (a CryptoKey), so a token costs one WebCrypto call, not an
   * import and a decrypt; jose takes A256CBC-HS512 keys only as bytes (it splits them).
   */
  key: Uint8Array | CryptoKey;
  enc: 'A256GCM' | 'A256CBC-HS512';
  /** The cookies a token under this key may arrive in. */
  cookies: readonly string[];
}

export interface SessionTokenVerifier {
  /**
   * The identity a token proves. `cookieName`: the cookie it came from; undefined for a
   * token presented explicitly (bearer header, subprotocol, query, auth.refresh).
   */
  verify(token: string, cookieName?: string): Promise<Identity>;
}

export async function createSessionTokenVerifier(options: {
  secrets: string[];
  clockToleranceSec: number;
  systemRoleClaim: string;
  /** A session ends at its exp, and at most this long after its iat. */
  maxSessionAgeSec: number;
  /** Chat credentials living longer than this (exp - iat) are refused. */
  chatCredentialMaxTtlSec: number;
}): Promise<SessionTokenVerifier> {
  const v4Keys: DerivedKey[] = await Promise.all(
    options.secrets.map(async (secret) => ({
      key: await crypto.subtle.importKey('raw', derive(secret, '', 'NextAuth.js Generated Encryption Key', 32), 'AES-GCM', false, ['decrypt']),
      enc: 'A256GCM' as const,
      cookies: V4_COOKIE_NAMES,
    })),
  );
  const v5ByKid = new Map<string, DerivedKey>();
  const v5Keys: DerivedKey[] = [];
  for (const secret of options.secrets) {
    for (const salt of V5_COOKIE_NAMES) {
      const key = derive(secret, salt, `Auth.js Generated Encryption Key (${salt})`, 64);
      const kid = await calculateJwkThumbprint({ kty: 'oct', k: base64url.encode(key) }, 'sha512');
      const derived: DerivedKey = { key, enc: 'A256CBC-HS512', cookies: [salt] };
      v5ByKid.set(kid, derived);
      v5Keys.push(derived);
    }
  }
  const verifyChatCredential = createChatCredentialVerifier({
    secrets: options.secrets,
    clockToleranceSec: options.clockToleranceSec,
    maxTtlSec: options.chatCredentialMaxTtlSec,
  });
  const sessionLimits = { clockToleranceSec: options.clockToleranceSec, maxAgeSec: options.maxSessionAgeSec, roleClaim: options.systemRoleClaim };
  const credentialLimits = { clockToleranceSec: options.clockToleranceSec, maxAgeSec: options.chatCredentialMaxTtlSec, roleClaim: 'role' };

  function candidates(header: { kid?: string; enc?: string }, cookieName: string | undefined): DerivedKey[] {
    let keys: DerivedKey[] = [];
    if (header.kid !== undefined) {
      const key = v5ByKid.get(header.kid);
      if (key) keys = [key];
    } else if (header.enc === 'A256GCM') {
      keys = v4Keys;
    } else if (header.enc === 'A256CBC-HS512') {
      keys = v5Keys; // Auth.js tokens without a kid (early v5 releases)
    }
    return cookieName === undefined ? keys : keys.filter((k) => k.cookies.includes(cookieName));
  }

  // Verified identities by token, so clients that reconnect or poll with the same token
  // skip the AES pass. Entries never outlive the session; the oldest go first when full.
  const cache = new Map<string, Identity>();

  return {
    async verify(token, cookieName) {
      // A bare token and a cookie's are different keys (a cookie name may be empty): the
      // binding of a token to its cookie never depends on what was verified before.
      const key = cookieName === undefined ? `bare ${token}` : `cookie ${JSON.stringify(cookieName)} ${token}`;
      const cached = cache.get(key);
      if (cached) {
        if (cached.expiresAt + options.clockToleranceSec > Date.now() / 1000) return cached;
        cache.delete(key);
      }
      const identity = await verifyUncached(token, cookieName);
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(key, identity);
      return identity;
    },
  };

  async function verifyUncached(token: string, cookieName: string | undefined): Promise<Identity> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new AppError('UNAUTHENTICATED', 'The session token is malformed.');
    }
    const parts = token.split('.').length;
    if (parts === 3) {
      // A signed JWT: only a chat credential, and only where the caller chose to present it.
      if (cookieName !== undefined) throw new AppError('UNAUTHENTICATED', 'A chat credential is not accepted from a cookie.');
      return toIdentity(await verifyChatCredential(token), credentialLimits);
    }
    // Otherwise only encrypted session tokens: this also rejects unsigned (alg "none") JWTs.
    if (header.alg !== 'dir' || parts !== 5) {
      throw new AppError('UNAUTHENTICATED', 'The session token is not an encrypted session token.');
    }
    for (const candidate of candidates(header, cookieName)) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtDecrypt(token, candidate.key, {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: [candidate.enc],
          clockTolerance: options.clockToleranceSec,
        }));
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ERR_JWT_EXPIRED') throw new AppError('SESSION_EXPIRED');
        if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
          throw new AppError('UNAUTHENTICATED', 'The session token is not valid yet, or its claims are malformed.');
        }
        continue; // wrong key: try the next secret
      }
      return toIdentity(payload, sessionLimits);
    }
    throw new AppError(
      'UNAUTHENTICATED',
      cookieName === undefined ? 'The session token could not be decrypted.' : `The session token could not be decrypted as a ${cookieName} cookie.`,
    );
  }
}

const CACHE_MAX = 10_000;

function derive(secret: string, salt: string, info: string, length: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(hkdfSync('sha256', secret, salt, info, length));
}
