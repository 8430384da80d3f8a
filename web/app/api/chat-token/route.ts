/**
 * Hands the same-origin chat panel a short-lived chat credential for the signed-in user
 * (lib/chat-credential.ts), which it presents to the chat service as a bearer token and
 * renews before it expires. Never the session token itself: that stays in its httpOnly
 * cookie, out of reach of page scripts. This response is never cached.
 */
import { getToken } from 'next-auth/jwt';
import { NextResponse, type NextRequest } from 'next/server';
import { authSecret } from '@/lib/auth';
import { chatCredentialTtlSec, mintChatCredential } from '@/lib/chat-credential';

export const dynamic = 'force-dynamic';

const NO_STORE = { 'cache-control': 'no-store' };

export async function GET(req: NextRequest): Promise<NextResponse> {
  // Only the storefront's own pages may ask (browsers send Sec-Fetch-Site; other clients do not).
  const site = req.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') {
    return NextResponse.json({ code: 'FORBIDDEN', message: 'Same-origin requests only.' }, { status: 403, headers: NO_STORE });
  }
  const secret = authSecret();
  // Decrypting the session cookie rejects a tampered, expired or foreign one.
  const session = secret ? await getToken({ req, secret }) : null;
  if (!secret || !session?.sub) {
    return NextResponse.json({ code: 'UNAUTHENTICATED', message: 'Sign in to chat.' }, { status: 401, headers: NO_STORE });
  }
  const ttlSec = chatCredentialTtlSec();
  const credential = await mintChatCredential(
    { id: session.sub, name: session.name, picture: session.picture, role: session.chatRole },
    { secret, ttlSec },
  );
  // expiresIn as well as expiresAt: the page's clock may differ from the server's.
  return NextResponse.json(
    { token: credential.token, expiresAt: new Date(credential.expiresAt * 1000).toISOString(), expiresIn: ttlSec },
    { headers: NO_STORE },
  );
}
