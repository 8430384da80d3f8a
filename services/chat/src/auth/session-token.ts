/**
 * Decrypts the storefront's session tokens with jose:
 * - NextAuth v4: JWE `dir` + A256GCM, key = HKDF-SHA256(secret, salt "", info
 *   "NextAuth.js Generated Encryption Key", 32 bytes), no `kid`.
 * - Auth.js v5: JWE `dir` + A256CBC-HS512, key = HKDF-SHA256(secret, salt = cookie
 *   name, info "Auth.js Generated Encryption Key (<salt>)", 64 bytes), `kid` = the
 *   key's JWK thumbprint.
 * Keys are derived once per secret at start-up; decryption is then one AES pass.
 */
import { hkdfSync } from 'node:crypto';
import { base64url, calculateJwkThumbprint, decodeProtectedHeader, jwtDecrypt, type JWTPayload } from 'jose';
import { AppError } from '../errors.ts';

export interface Identity {
  userId: string;
  name: string | null;
  image: string | null;
  /** Claimed system-wide role: owner/admin rights in every conversation. */
  systemRole: 'owner' | 'admin' | null;
  /** Seconds since the epoch, or null for tokens without exp. */
  expiresAt: number | null;
}

/** Cookie names Auth.js v5 uses as the HKDF salt. */
export const V5_COOKIE_NAMES = ['authjs.session-token', '__Secure-authjs.session-token'];

interface DerivedKey {
  key: Uint8Array;
  enc: 'A256GCM' | 'A256CBC-HS512';
  salt: string | null;
}

export interface SessionTokenVerifier {
  verify(token: string, salt?: string): Promise<Identity>;
}

export async function createSessionTokenVerifier(options: {
  secrets: string[];
  clockToleranceSec: number;
  systemRoleClaim: string;
}): Promise<SessionTokenVerifier> {
  const v4Keys: DerivedKey[] = options.secrets.map((secret) => ({
    key: derive(secret, '', 'NextAuth.js Generated Encryption Key', 32),
    enc: 'A256GCM',
    salt: null,
  }));
  const v5ByKid = new Map<string, DerivedKey>();
  const v5Keys: DerivedKey[] = [];
  for (const secret of options.secrets) {
    for (const salt of V5_COOKIE_NAMES) {
      const key = derive(secret, salt, `Auth.js Generated Encryption Key (${salt})`, 64);
      const kid = await calculateJwkThumbprint({ kty: 'oct', k: base64url.encode(key) }, 'sha512');
      const derived: DerivedKey = { key, enc: 'A256CBC-HS512', salt };
      v5ByKid.set(kid, derived);
      v5Keys.push(derived);
    }
  }

  function candidates(header: { kid?: string; enc?: string }, salt?: string): DerivedKey[] {
    if (header.kid !== undefined) {
      const key = v5ByKid.get(header.kid);
      return key ? [key] : [];
    }
    if (header.enc === 'A256GCM') return v4Keys;
    if (header.enc === 'A256CBC-HS512') return v5Keys.filter((k) => salt === undefined || k.salt === salt);
    return [];
  }

  // Decrypted identities by token, so clients that reconnect or poll with the same token
  // skip the AES pass. Entries never outlive the token's exp; the oldest go first when full.
  const cache = new Map<string, Identity>();

  return {
    async verify(token, salt) {
      const key = `${salt ?? ''} ${token}`;
      const cached = cache.get(key);
      if (cached) {
        if (cached.expiresAt === null || cached.expiresAt + options.clockToleranceSec > Date.now() / 1000) return cached;
        cache.delete(key);
      }
      const identity = await decrypt(token, salt);
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(key, identity);
      return identity;
    },
  };

  async function decrypt(token: string, salt: string | undefined): Promise<Identity> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new AppError('UNAUTHENTICATED', 'The session token is malformed.');
    }
    // Only encrypted session tokens: this rejects unsigned (alg "none") and signed JWTs alike.
    if (header.alg !== 'dir' || token.split('.').length !== 5) {
      throw new AppError('UNAUTHENTICATED', 'The session token is not an encrypted session token.');
    }
    for (const candidate of candidates(header, salt)) {
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
          throw new AppError('UNAUTHENTICATED', 'The session token is not valid yet.');
        }
        continue; // wrong key: try the next secret
      }
      return toIdentity(payload, options.systemRoleClaim);
    }
    throw new AppError('UNAUTHENTICATED', 'The session token could not be decrypted.');
  }
}

const CACHE_MAX = 10_000;

function derive(secret: string, salt: string, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, salt, info, length));
}

function toIdentity(payload: JWTPayload, roleClaim: string): Identity {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || sub.includes('\u0000')) {
    throw new AppError('UNAUTHENTICATED', 'The session token has no subject.');
  }
  // Claims are mirrored into text columns, which cannot hold U+0000.
  const text = (value: unknown) => (typeof value === 'string' && value.length <= 2048 && !value.includes('\u0000') ? value : null);
  const role = payload[roleClaim];
  return {
    userId: sub,
    name: text(payload.name),
    image: text(payload.picture) ?? text(payload.image),
    systemRole: role === 'owner' || role === 'admin' ? role : null,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : null,
  };
}
