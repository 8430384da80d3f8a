/**
 * Found by the parser fuzzer (fuzz-session-tokens.ts): the verifier's cache key was
 * `${cookieName ?? ''} ${token}`, so a token presented bare (cookieName undefined) and the
 * same token under cookie name '' shared one entry. authenticate() passes `cookieName ?? ''`
 * for a cookie credential precisely so that an unnamed cookie matches no key and is refused;
 * once the token had been verified bare, the cache accepted it there anyway. Not reachable
 * through findCredential (it always names the cookie), but the binding of a token to its
 * cookie must not depend on what was verified before.
 */
import { expect, it } from 'vitest';
import { createSessionTokenVerifier } from '../../src/auth/session-token.ts';
import { loadConfig } from '../../src/config.ts';
import { mintV4, mintV5, SECRET } from '@chat/test-support/tokens';

async function verifier() {
  const config = loadConfig({ AUTH_SECRET: SECRET });
  return createSessionTokenVerifier({
    secrets: config.authSecrets,
    clockToleranceSec: config.clockToleranceSec,
    systemRoleClaim: config.systemRoleClaim,
    maxSessionAgeSec: config.maxSessionAgeSec,
    chatCredentialMaxTtlSec: config.chatCredentialMaxTtlSec,
  });
}

it.each([
  ['NextAuth v4', () => mintV4({ sub: 'alice' })],
  ['Auth.js v5', () => mintV5({ sub: 'alice' })],
])('a %s token verified bare is still refused under an unnamed cookie (the cache keeps bare and cookie apart)', async (_kind, mint) => {
  const token = await mint();
  const cold = await verifier();
  await expect(cold.verify(token, '')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

  const warm = await verifier();
  await expect(warm.verify(token)).resolves.toMatchObject({ userId: 'alice' });
  await expect(warm.verify(token, '')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
});
