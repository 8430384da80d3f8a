/** Session tokens minted by the storefront's own libraries, never by hand. */
import { encode as encodeV5 } from '@auth/core/jwt';
import { encode as encodeV4 } from 'next-auth/jwt';

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
