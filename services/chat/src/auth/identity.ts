/** From a verified token's claims to the caller's identity, refusing claims the service cannot live with. */
import type { JWTPayload } from 'jose';
import { AppError } from '../errors.ts';

export interface Identity {
  userId: string;
  name: string | null;
  image: string | null;
  /** Claimed system-wide role: owner/admin rights in every conversation. */
  systemRole: 'owner' | 'admin' | null;
  /** When the session ends unless refreshed, seconds since the epoch: exp, capped at iat + the maximum age. */
  expiresAt: number;
}

/**
 * Characters a user id may not hold. The id is written into logs, bus payloads and
 * frames; none of these may end a record or hide text there: control characters (C0,
 * DEL, C1), format characters (bidi overrides, zero-width characters, BOM), line and
 * paragraph separators, lone surrogates (not text: they would be stored as U+FFFD, so
 * two ids could collide) and noncharacters. Spaces and every letter, symbol and emoji
 * are data and stay allowed.
 */
const NOT_IN_USER_ID = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Noncharacter_Code_Point}]/u;
const MAX_USER_ID = 255;

export function isValidUserId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_USER_ID && !NOT_IN_USER_ID.test(id);
}

export function toIdentity(payload: JWTPayload, limits: { roleClaim: string; maxAgeSec: number; clockToleranceSec: number }): Identity {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_USER_ID) {
    throw new AppError('UNAUTHENTICATED', 'The session token has no subject.');
  }
  if (!isValidUserId(sub)) throw new AppError('UNAUTHENTICATED', "The session token's subject contains control or format characters.");
  // Claims are mirrored into text columns, which cannot hold U+0000.
  const text = (value: unknown) => (typeof value === 'string' && value.length <= 2048 && !value.includes('\u0000') ? value : null);
  const role = payload[limits.roleClaim];
  return {
    userId: sub,
    name: text(payload.name),
    image: text(payload.picture) ?? text(payload.image),
    systemRole: role === 'owner' || role === 'admin' ? role : null,
    expiresAt: sessionEnd(payload, limits),
  };
}

/**
 * Every session ends: a token without exp is refused, and one without iat too (its age
 * could not be capped). jose has already checked that exp has not passed.
 */
function sessionEnd(payload: JWTPayload, limits: { maxAgeSec: number; clockToleranceSec: number }): number {
  const { exp, iat } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new AppError('UNAUTHENTICATED', 'The session token has no expiry (exp).');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new AppError('UNAUTHENTICATED', 'The session token has no issue time (iat).');
  const now = Date.now() / 1000;
  if (iat > now + limits.clockToleranceSec) throw new AppError('UNAUTHENTICATED', 'The session token was issued in the future.');
  const end = Math.min(exp, iat + limits.maxAgeSec);
  if (end + limits.clockToleranceSec <= now) throw new AppError('SESSION_EXPIRED', 'The session is older than the longest session the service allows.');
  return end;
}
