/**
 * Hands the session token (the encrypted NextAuth JWT from the httpOnly session cookie)
 * to the same-origin chat panel, which presents it to the chat service as a bearer token.
 * The cookie itself stays httpOnly; this response is never cached.
 */
import { getToken } from 'next-auth/jwt';
import { NextResponse, type NextRequest } from 'next/server';
import { authSecret } from '@/lib/auth';

export const dynamic = 'force-dynamic';

const NO_STORE = { 'cache-control': 'no-store' };

export async function GET(req: NextRequest): Promise<NextResponse> {
  // Only the storefront's own pages may ask (browsers send Sec-Fetch-Site; other clients do not).
  const site = req.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') {
    return NextResponse.json({ code: 'FORBIDDEN', message: 'Same-origin requests only.' }, { status: 403, headers: NO_STORE });
  }
  const secret = authSecret();
  // Decoding first rejects a tampered or expired cookie; the raw form is what the service decrypts.
  const session = await getToken({ req, secret });
  const token = session?.sub ? await getToken({ req, secret, raw: true }) : null;
  if (!token) {
    return NextResponse.json({ code: 'UNAUTHENTICATED', message: 'Sign in to chat.' }, { status: 401, headers: NO_STORE });
  }
  return NextResponse.json({ token }, { headers: NO_STORE });
}
