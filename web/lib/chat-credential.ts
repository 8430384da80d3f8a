/**
 * Short-lived chat credentials: what the chat panel presents to the chat service instead
 * of the shopper's session token, which stays in its httpOnly cookie. Page scripts can
 * read a credential, so one lifted by an XSS opens the chat, for minutes, and nothing else
 * of the storefront.
 *
 * A JWT signed with HS256 under a key derived from the session secret for this purpose
 * only: HKDF-SHA256(secret, salt "chat-credential", info "chat credential v1", 32 bytes).
 * NextAuth derives its session key with other salt and info, so a credential is never a
 * session cookie (NextAuth cannot decrypt it) and a session token never a credential.
 * Signed, not encrypted: the page holding it already knows every claim in it.
 *
 * The chat service verifies it (services/chat/src/auth/chat-credential.ts, the same
 * constants; web/test/units.test.ts checks the two agree).
 */
import { hkdfSync } from 'node:crypto';
import { SignJWT } from 'jose';

export const CHAT_CREDENTIAL_ISSUER = 'storefront';
export const CHAT_CREDENTIAL_AUDIENCE = 'chat';
const HKDF_SALT = 'chat-credential';
const HKDF_INFO = 'chat credential v1';

/** CHAT_CREDENTIAL_TTL_SEC: how long a credential lives, seconds (30–3600, default 600). */
export function chatCredentialTtlSec(env: Record<string, string | undefined> = process.env): number {
  const raw = env.CHAT_CREDENTIAL_TTL_SEC;
  if (raw === undefined || raw === '') return 600;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 30 || value > 3600) throw new Error(`CHAT_CREDENTIAL_TTL_SEC must be an integer in [30, 3600], got ${JSON.stringify(raw)}`);
  return value;
}

export interface ChatCredentialUser {
  id: string;
  name?: string | null;
  picture?: string | null;
  /** System-wide chat role ('owner' | 'admin'): that role in every conversation. */
  role?: string | null;
}

export interface ChatCredential {
  token: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export async function mintChatCredential(user: ChatCredentialUser, options: { secret: string; ttlSec: number; now?: number }): Promise<ChatCredential> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const expiresAt = iat + options.ttlSec;
  const claims = {
    ...(user.name ? { name: user.name } : {}),
    ...(user.picture ? { picture: user.picture } : {}),
    ...(user.role === 'owner' || user.role === 'admin' ? { role: user.role } : {}),
  };
  const key = new Uint8Array(hkdfSync('sha256', options.secret, HKDF_SALT, HKDF_INFO, 32));
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer(CHAT_CREDENTIAL_ISSUER)
    .setAudience(CHAT_CREDENTIAL_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(expiresAt)
    .sign(key);
  return { token, expiresAt };
}
