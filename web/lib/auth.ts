/** NextAuth v4 configuration: demo credentials, JWT sessions whose token the chat service decrypts. */
import { timingSafeEqual } from 'node:crypto';
import type { NextAuthOptions } from 'next-auth';
import Credentials from 'next-auth/providers/credentials';
import { DEMO_PASSWORD, DEMO_USERS } from './demo-users';

/**
 * Same value as DEV_AUTH_SECRET in services/chat/src/config.ts: without a configured
 * secret, development builds of both sides agree on it so a fresh clone works.
 * Duplicated rather than imported so the storefront does not depend on the service
 * package; test/units.test.ts ("development secret") checks the two stay equal.
 */
export const DEV_AUTH_SECRET = 'dev-only-secret-do-not-use-in-production-0123456789';

/**
 * NEXTAUTH_SECRET (or AUTH_SECRET); the development secret outside production.
 * In production without one NextAuth refuses every request (NO_SECRET), as the service refuses to start.
 */
export function authSecret(): string | undefined {
  const configured = process.env.NEXTAUTH_SECRET || process.env.AUTH_SECRET;
  if (configured) return configured;
  return process.env.NODE_ENV === 'production' ? undefined : DEV_AUTH_SECRET;
}

// Development without NEXTAUTH_URL: build NextAuth's redirects from the request's host, so
// http://127.0.0.1:3000 and http://localhost:3000 both work. Production sets NEXTAUTH_URL.
if (process.env.NODE_ENV !== 'production' && !process.env.NEXTAUTH_URL) process.env.AUTH_TRUST_HOST ??= '1';

function samePassword(given: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(DEMO_PASSWORD);
  return a.length === b.length && timingSafeEqual(a, b);
}

export const authOptions: NextAuthOptions = {
  secret: authSecret(),
  session: { strategy: 'jwt' },
  pages: { signIn: '/login' },
  providers: [
    Credentials({
      name: 'Demo account',
      credentials: {
        username: { label: 'Username', type: 'text' },
        password: { label: 'Password', type: 'password' },
      },
      async authorize(credentials) {
        const user = DEMO_USERS.find((u) => u.id === credentials?.username?.trim().toLowerCase());
        if (!user || !samePassword(credentials?.password ?? '')) return null;
        return { id: user.id, name: user.name };
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user }) {
      if (user) {
        // The chat service takes the user id from `sub` and the system role from `chatRole`.
        token.sub = user.id;
        token.name = user.name;
        const role = DEMO_USERS.find((u) => u.id === user.id)?.chatRole;
        if (role) token.chatRole = role;
        else delete token.chatRole;
      }
      return token;
    },
    async session({ session, token }) {
      session.user = { id: token.sub ?? '', name: token.name ?? null, image: token.picture ?? null, chatRole: token.chatRole ?? null };
      return session;
    },
  },
};
