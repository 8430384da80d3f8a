/**
 * Authentication at the door (invariant 6), over HTTP (GET /v1/me) and over the
 * WebSocket upgrade (/ws): which session tokens are accepted, which are refused and
 * with what typed error, and how a socket's session ends when its token expires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5, OLD_SECRET, SECRET } from '@chat/test-support/tokens';
import { refusedUpgrade } from '@chat/test-support/upgrade';
import { TestClient } from '@chat/test-support/ws-client';

const WRONG_SECRET = 'wrong-secret-00000000000000000000000000000000';

let db: TestDatabase;
/** Default configuration: SECRET only, no allowed origins, 15 s clock tolerance. */
let main: Instance;
/** Configured with the new and the old secret (rotation). */
let rotating: Instance;
/** allowedOrigins: ['https://shop.example']. */
let shop: Instance;
/** clockToleranceSec: 0, so short-lived tokens expire on time. */
let strict: Instance;

/** Sockets each instance's WebSocket server has ever opened (never decremented). */
const opened = new Map<Instance, number>();
const clients: TestClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  [main, rotating, shop, strict] = await Promise.all([
    startInstance(db.url),
    startInstance(db.url, { authSecrets: [SECRET, OLD_SECRET] }),
    startInstance(db.url, { allowedOrigins: ['https://shop.example'] }),
    startInstance(db.url, { clockToleranceSec: 0 }),
  ]);
  for (const instance of [main, rotating, shop, strict]) {
    opened.set(instance, 0);
    instance.chat.app.websocketServer.on('connection', () => opened.set(instance, opened.get(instance)! + 1));
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([main, rotating, shop, strict].map((i) => i?.close()));
  await db?.drop();
});

// ---- helpers -------------------------------------------------------------------

async function connect(instance: Instance, options: Parameters<typeof TestClient.connect>[1], path = ''): Promise<TestClient> {
  const client = await TestClient.connect(instance.ws + path, options);
  clients.push(client);
  return client;
}

async function me(instance: Instance, headers: Record<string, string>, path = '/v1/me') {
  const response = await fetch(`${instance.http}${path}`, { headers });
  return { status: response.status, contentType: response.headers.get('content-type'), body: (await response.json()) as any };
}

/** The upgrade is answered with `status` and the typed error, and no socket is opened. */
async function expectUpgradeRefused(
  instance: Instance,
  options: { headers?: Record<string, string>; protocols?: string[]; path?: string },
  status: number,
  code: string,
): Promise<void> {
  const before = opened.get(instance)!;
  const refused = await refusedUpgrade(instance.ws + (options.path ?? ''), options);
  expect(refused.status).toBe(status);
  expect(refused.contentType).toMatch(/^application\/json/);
  expect(refused.body).toEqual({ code, message: expect.any(String), retryable: false });
  expect(opened.get(instance)).toBe(before);
}

async function expectHttpRefused(instance: Instance, headers: Record<string, string>, code: string): Promise<void> {
  const response = await me(instance, headers);
  expect(response.status).toBe(401);
  expect(response.contentType).toMatch(/^application\/json/);
  expect(response.body).toEqual({ code, message: expect.any(String), retryable: false });
}

async function userRow(id: string): Promise<{ name: string | null; image: string | null } | undefined> {
  const [row] = await db.sql<{ name: string | null; image: string | null }[]>`select name, image from users where id = ${id}`;
  return row;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const cookie = (pairs: Record<string, string>) => ({
  cookie: Object.entries(pairs)
    .map(([name, value]) => `${name}=${value}`)
    .join('; '),
});

/** Changes one character in the middle of the JWE ciphertext (the 4th part). */
function tamper(token: string): string {
  const parts = token.split('.');
  expect(parts).toHaveLength(5);
  const ciphertext = parts[3]!;
  const i = Math.floor(ciphertext.length / 2);
  parts[3] = ciphertext.slice(0, i) + (ciphertext[i] === 'A' ? 'B' : 'A') + ciphertext.slice(i + 1);
  const tampered = parts.join('.');
  expect(tampered).not.toBe(token);
  return tampered;
}

/** What an attacker sends: an unsigned, unencrypted JWT claiming to be someone (an admin, even). */
function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

// ---- the matrix ------------------------------------------------------------------

interface AcceptedCase {
  name: string;
  sub: string;
  headers: () => Promise<Record<string, string>>;
}

const picture = 'https://img.example/p.png';

const accepted: AcceptedCase[] = [
  {
    name: 'NextAuth v4 token as Bearer',
    sub: 'v4-bearer',
    headers: async () => bearer(await mintV4({ sub: 'v4-bearer', name: 'V4 Bearer', picture })),
  },
  {
    name: 'Auth.js v5 token as Bearer',
    sub: 'v5-bearer',
    headers: async () => bearer(await mintV5({ sub: 'v5-bearer', name: 'V5 Bearer', picture })),
  },
  {
    name: 'Auth.js v5 token in the authjs.session-token cookie',
    sub: 'v5-cookie',
    headers: async () => cookie({ 'authjs.session-token': await mintV5({ sub: 'v5-cookie', name: 'V5 Cookie', picture }) }),
  },
  {
    name: 'Auth.js v5 token in the __Secure-authjs.session-token cookie, minted with that salt',
    sub: 'v5-secure-cookie',
    headers: async () =>
      cookie({
        '__Secure-authjs.session-token': await mintV5(
          { sub: 'v5-secure-cookie', name: 'V5 Secure', picture },
          { salt: '__Secure-authjs.session-token' },
        ),
      }),
  },
  {
    name: 'NextAuth v4 token in the next-auth.session-token cookie',
    sub: 'v4-cookie',
    headers: async () => cookie({ 'next-auth.session-token': await mintV4({ sub: 'v4-cookie', name: 'V4 Cookie', picture }) }),
  },
  {
    name: 'Auth.js v5 token minted with the __Secure-authjs.session-token salt, as Bearer (servers hand the raw token)',
    sub: 'v5-secure-bearer',
    headers: async () =>
      bearer(await mintV5({ sub: 'v5-secure-bearer', name: 'V5 Secure Bearer', picture }, { salt: '__Secure-authjs.session-token' })),
  },
  {
    name: 'NextAuth v4 token in the __Secure-next-auth.session-token cookie',
    sub: 'v4-secure-cookie',
    headers: async () =>
      cookie({ '__Secure-next-auth.session-token': await mintV4({ sub: 'v4-secure-cookie', name: 'V4 Secure Cookie', picture }) }),
  },
  {
    name: 'NextAuth v4 token chunked over next-auth.session-token.0 and .1',
    sub: 'v4-chunked',
    headers: async () => {
      const token = await mintV4({ sub: 'v4-chunked', name: 'V4 Chunked', picture });
      const half = Math.floor(token.length / 2);
      return cookie({ 'other-cookie': 'x', 'next-auth.session-token.0': token.slice(0, half), 'next-auth.session-token.1': token.slice(half) });
    },
  },
];

interface RefusedCase {
  name: string;
  sub: string;
  code: 'UNAUTHENTICATED' | 'SESSION_EXPIRED';
  headers: () => Promise<Record<string, string>>;
}

const refused: RefusedCase[] = [
  {
    name: 'expired NextAuth v4 token',
    sub: 'refused-v4-expired',
    code: 'SESSION_EXPIRED',
    headers: async () => bearer(await mintV4({ sub: 'refused-v4-expired' }, { maxAge: -3600 })),
  },
  {
    name: 'expired Auth.js v5 token',
    sub: 'refused-v5-expired',
    code: 'SESSION_EXPIRED',
    headers: async () => bearer(await mintV5({ sub: 'refused-v5-expired' }, { maxAge: -3600 })),
  },
  {
    name: 'expired Auth.js v5 token in its cookie',
    sub: 'refused-v5-expired-cookie',
    code: 'SESSION_EXPIRED',
    headers: async () => cookie({ 'authjs.session-token': await mintV5({ sub: 'refused-v5-expired-cookie' }, { maxAge: -3600 }) }),
  },
  {
    name: 'NextAuth v4 token minted with the wrong secret',
    sub: 'refused-v4-wrong-secret',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer(await mintV4({ sub: 'refused-v4-wrong-secret' }, { secret: WRONG_SECRET })),
  },
  {
    name: 'Auth.js v5 token minted with the wrong secret',
    sub: 'refused-v5-wrong-secret',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer(await mintV5({ sub: 'refused-v5-wrong-secret' }, { secret: WRONG_SECRET })),
  },
  {
    name: 'NextAuth v4 token minted with the old secret (not configured here)',
    sub: 'refused-v4-old-secret',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer(await mintV4({ sub: 'refused-v4-old-secret' }, { secret: OLD_SECRET })),
  },
  {
    name: 'tampered NextAuth v4 token',
    sub: 'refused-v4-tampered',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer(tamper(await mintV4({ sub: 'refused-v4-tampered' }))),
  },
  {
    name: 'tampered Auth.js v5 token',
    sub: 'refused-v5-tampered',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer(tamper(await mintV5({ sub: 'refused-v5-tampered' }))),
  },
  {
    name: 'unsigned JWT with alg "none" as Bearer',
    sub: 'refused-alg-none',
    code: 'UNAUTHENTICATED',
    headers: async () =>
      bearer(unsignedJwt({ sub: 'refused-alg-none', chatRole: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })),
  },
  {
    name: 'unsigned JWT with alg "none" as the session cookie',
    sub: 'refused-alg-none-cookie',
    code: 'UNAUTHENTICATED',
    headers: async () =>
      cookie({ 'next-auth.session-token': unsignedJwt({ sub: 'refused-alg-none-cookie', exp: Math.floor(Date.now() / 1000) + 3600 }) }),
  },
  // A cookie only carries tokens issued for it: Auth.js v5 derives its key from the cookie
  // name (the salt), NextAuth v4 cookies carry v4 tokens only.
  {
    name: 'Auth.js v5 token minted for authjs.session-token, in the __Secure-authjs.session-token cookie',
    sub: 'refused-v5-salt-to-secure',
    code: 'UNAUTHENTICATED',
    headers: async () => cookie({ '__Secure-authjs.session-token': await mintV5({ sub: 'refused-v5-salt-to-secure' }) }),
  },
  {
    name: 'Auth.js v5 token minted for __Secure-authjs.session-token, in the authjs.session-token cookie',
    sub: 'refused-v5-secure-to-plain',
    code: 'UNAUTHENTICATED',
    headers: async () =>
      cookie({ 'authjs.session-token': await mintV5({ sub: 'refused-v5-secure-to-plain' }, { salt: '__Secure-authjs.session-token' }) }),
  },
  {
    name: 'Auth.js v5 token in the NextAuth v4 next-auth.session-token cookie',
    sub: 'refused-v5-in-v4-cookie',
    code: 'UNAUTHENTICATED',
    headers: async () => cookie({ 'next-auth.session-token': await mintV5({ sub: 'refused-v5-in-v4-cookie' }) }),
  },
  {
    name: 'Auth.js v5 token (__Secure- salt) in the NextAuth v4 __Secure-next-auth.session-token cookie',
    sub: 'refused-v5-in-secure-v4-cookie',
    code: 'UNAUTHENTICATED',
    headers: async () =>
      cookie({
        '__Secure-next-auth.session-token': await mintV5({ sub: 'refused-v5-in-secure-v4-cookie' }, { salt: '__Secure-authjs.session-token' }),
      }),
  },
  {
    name: 'NextAuth v4 token in the Auth.js v5 authjs.session-token cookie',
    sub: 'refused-v4-in-v5-cookie',
    code: 'UNAUTHENTICATED',
    headers: async () => cookie({ 'authjs.session-token': await mintV4({ sub: 'refused-v4-in-v5-cookie' }) }),
  },
  {
    name: 'a Bearer value that is not a JWT at all',
    sub: 'refused-garbage',
    code: 'UNAUTHENTICATED',
    headers: async () => bearer('refused-garbage'),
  },
  {
    name: 'no token at all',
    sub: 'refused-missing',
    code: 'UNAUTHENTICATED',
    headers: async () => cookie({ 'unrelated-cookie': 'refused-missing' }),
  },
];

describe('HTTP: GET /v1/me', () => {
  it.each(accepted)('accepts $name', async ({ sub, headers }) => {
    const response = await me(main, await headers());
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ id: sub, name: expect.stringMatching(/^V[45] /), image: picture });
    // The token's user is mirrored into users.
    expect(await userRow(sub)).toEqual({ name: response.body.name, image: picture });
  });

  it.each(refused)('refuses $name with 401 $code', async ({ sub, code, headers }) => {
    await expectHttpRefused(main, await headers(), code);
    expect(await userRow(sub)).toBeUndefined();
  });
});

describe('WebSocket upgrade: /ws', () => {
  it.each(accepted)('accepts $name', async ({ sub, headers }) => {
    const before = opened.get(main)!;
    const client = await connect(main, { headers: await headers() });
    expect(opened.get(main)).toBe(before + 1);
    expect(client.frames[0]).toMatchObject({ type: 'ready', protocol: 1, userId: sub, sessionExpiresAt: expect.any(String) });
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    await client.close();
  });

  it.each(refused)('refuses $name with HTTP 401 $code and opens no socket', async ({ sub, code, headers }) => {
    await expectUpgradeRefused(main, { headers: await headers() }, 401, code);
    expect(await userRow(sub)).toBeUndefined();
  });

  it('accepts a token in the ?token= query (v4 and v5)', async () => {
    for (const token of [await mintV4({ sub: 'query-v4' }), await mintV5({ sub: 'query-v5' })]) {
      const client = await connect(main, {}, `?token=${encodeURIComponent(token)}`);
      expect(client.frames[0]).toMatchObject({ type: 'ready' });
      expect(['query-v4', 'query-v5']).toContain(client.frames[0]!.userId);
      await client.request({ type: 'ping' });
      await client.close();
    }
    expect(await userRow('query-v4')).toBeDefined();
    expect(await userRow('query-v5')).toBeDefined();
  });

  it('refuses a bad token in the ?token= query', async () => {
    const expired = await mintV4({ sub: 'query-expired' }, { maxAge: -3600 });
    await expectUpgradeRefused(main, { path: `?token=${expired}` }, 401, 'SESSION_EXPIRED');
    const wrong = await mintV5({ sub: 'query-wrong' }, { secret: WRONG_SECRET });
    await expectUpgradeRefused(main, { path: `?token=${wrong}` }, 401, 'UNAUTHENTICATED');
  });

  it('accepts a token as a bearer.<token> subprotocol and selects chat.v1', async () => {
    for (const [sub, token] of [
      ['subprotocol-v4', await mintV4({ sub: 'subprotocol-v4' })],
      ['subprotocol-v5', await mintV5({ sub: 'subprotocol-v5' })],
    ] as const) {
      const client = await connect(main, { protocols: ['chat.v1', `bearer.${token}`] });
      expect(client.socket.protocol).toBe('chat.v1');
      expect(client.frames[0]).toMatchObject({ type: 'ready', userId: sub });
      await client.request({ type: 'ping' });
      await client.close();
    }
  });

  it('refuses a bad token offered as a subprotocol', async () => {
    const wrong = await mintV4({ sub: 'subprotocol-wrong' }, { secret: WRONG_SECRET });
    await expectUpgradeRefused(main, { protocols: ['chat.v1', `bearer.${wrong}`] }, 401, 'UNAUTHENTICATED');
    await expectUpgradeRefused(main, { protocols: ['chat.v1', `bearer.${tamper(await mintV5({ sub: 'sp-t' }))}`] }, 401, 'UNAUTHENTICATED');
  });
});

describe('secret rotation', () => {
  it('accepts tokens minted with the old secret when both secrets are configured', async () => {
    const v4 = await mintV4({ sub: 'rotated-v4', name: 'Old Four' }, { secret: OLD_SECRET });
    const v5 = await mintV5({ sub: 'rotated-v5', name: 'Old Five' }, { secret: OLD_SECRET });
    const v5Cookie = await mintV5({ sub: 'rotated-v5-cookie' }, { secret: OLD_SECRET });
    const current = await mintV4({ sub: 'rotated-current' });

    expect((await me(rotating, bearer(v4))).body).toMatchObject({ id: 'rotated-v4', name: 'Old Four' });
    expect((await me(rotating, bearer(v5))).body).toMatchObject({ id: 'rotated-v5', name: 'Old Five' });
    expect((await me(rotating, cookie({ 'authjs.session-token': v5Cookie }))).body).toMatchObject({ id: 'rotated-v5-cookie' });
    expect((await me(rotating, bearer(current))).body).toMatchObject({ id: 'rotated-current' });

    for (const [sub, token] of [['rotated-v4', v4], ['rotated-v5', v5], ['rotated-current', current]] as const) {
      const client = await connect(rotating, { token });
      expect(client.frames[0]).toMatchObject({ type: 'ready', userId: sub });
      await client.close();
    }
  });

  it('refuses the same old-secret tokens when only the new secret is configured', async () => {
    const v4 = await mintV4({ sub: 'rotated-v4' }, { secret: OLD_SECRET });
    const v5 = await mintV5({ sub: 'rotated-v5' }, { secret: OLD_SECRET });
    for (const token of [v4, v5]) {
      await expectHttpRefused(main, bearer(token), 'UNAUTHENTICATED');
      await expectUpgradeRefused(main, { headers: bearer(token) }, 401, 'UNAUTHENTICATED');
    }
  });

  it('still refuses a wrong secret when two secrets are configured', async () => {
    const wrong = await mintV4({ sub: 'rotation-wrong' }, { secret: WRONG_SECRET });
    await expectHttpRefused(rotating, bearer(wrong), 'UNAUTHENTICATED');
    await expectUpgradeRefused(rotating, { headers: bearer(wrong) }, 401, 'UNAUTHENTICATED');
  });
});

describe('cross-site WebSocket hijacking: Origin of cookie-authenticated upgrades', () => {
  const sessionCookie = async (sub: string) => cookie({ 'authjs.session-token': await mintV5({ sub }) });

  it('refuses a cookie-authenticated upgrade from another origin with 403 ORIGIN_NOT_ALLOWED', async () => {
    await expectUpgradeRefused(main, { headers: { ...(await sessionCookie('origin-evil')), origin: 'https://evil.example' } }, 403, 'ORIGIN_NOT_ALLOWED');
    // An opaque origin (sandboxed frame, file:) is not the service's host either.
    await expectUpgradeRefused(main, { headers: { ...(await sessionCookie('origin-evil')), origin: 'null' } }, 403, 'ORIGIN_NOT_ALLOWED');
    // A listed origin of another instance is not allowed here.
    await expectUpgradeRefused(main, { headers: { ...(await sessionCookie('origin-evil')), origin: 'https://shop.example' } }, 403, 'ORIGIN_NOT_ALLOWED');
  });

  it('accepts a cookie-authenticated upgrade from the same host', async () => {
    const origin = main.http; // http://127.0.0.1:<port>, the Host the client sends
    const client = await connect(main, { headers: { ...(await sessionCookie('origin-same-host')), origin } });
    expect(client.frames[0]).toMatchObject({ type: 'ready', userId: 'origin-same-host' });
    await client.close();
  });

  it('accepts a cookie-authenticated upgrade from an origin in allowedOrigins, and only from those', async () => {
    const client = await connect(shop, { headers: { ...(await sessionCookie('origin-shop')), origin: 'https://shop.example' } });
    expect(client.frames[0]).toMatchObject({ type: 'ready', userId: 'origin-shop' });
    await client.close();
    await expectUpgradeRefused(shop, { headers: { ...(await sessionCookie('origin-shop')), origin: 'https://evil.example' } }, 403, 'ORIGIN_NOT_ALLOWED');
    const sameHost = await connect(shop, { headers: { ...(await sessionCookie('origin-shop')), origin: shop.http } });
    expect(sameHost.frames[0]).toMatchObject({ type: 'ready', userId: 'origin-shop' });
    await sameHost.close();
  });

  it('does not apply the origin check to explicit (non-cookie) credentials', async () => {
    const token = await mintV4({ sub: 'origin-bearer' });
    const client = await connect(main, { token, headers: { origin: 'https://evil.example' } });
    expect(client.frames[0]).toMatchObject({ type: 'ready', userId: 'origin-bearer' });
    await client.close();
  });
});

describe('session expiry on an open socket', () => {
  /** Connects to the strict instance and records the close reason. */
  async function shortLived(sub: string) {
    const token = await mintV4({ sub }, { maxAge: 2 });
    const client = await connect(strict, { token });
    let reason = '';
    client.socket.on('close', (_code, buffer) => {
      reason = buffer.toString();
    });
    const ready = client.frames[0]!;
    expect(ready).toMatchObject({ type: 'ready', userId: sub, sessionExpiresAt: expect.any(String) });
    const expiresAt = Date.parse(ready.sessionExpiresAt as string);
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 2000);
    return { client, expiresAt, reason: () => reason };
  }

  it('ends the session with close code 4401 when the token expires', async () => {
    const { client, expiresAt, reason } = await shortLived('expiring');
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(await client.waitClosed()).toBe(4401);
    expect(reason()).toMatch(/^SESSION_EXPIRED/);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });

  it('keeps the session open past the old expiry after auth.refresh with a fresh token', async () => {
    const { client, expiresAt } = await shortLived('refresher');
    const fresh = await mintV5({ sub: 'refresher' }, { maxAge: 3600 });
    const result = await client.request<{ sessionExpiresAt: string }>({ type: 'auth.refresh', token: fresh });
    expect(Date.parse(result.sessionExpiresAt)).toBeGreaterThan(expiresAt + 3000_000);
    // Wait (by polling the clock, not by sleeping) until well past the old expiry.
    await eventually(() => Date.now() > expiresAt + 1000, 'the old expiry to pass');
    expect(client.closeCode).toBeNull();
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(client.closeCode).toBeNull();
  });

  it("refuses auth.refresh with another user's token (FORBIDDEN) and keeps the old expiry", async () => {
    const { client, expiresAt, reason } = await shortLived('refresh-victim');
    const other = await mintV4({ sub: 'refresh-other' }, { maxAge: 3600 });
    await expect(client.request({ type: 'auth.refresh', id: 'swap', token: other })).rejects.toMatchObject({
      type: 'error',
      id: 'swap',
      code: 'FORBIDDEN',
      retryable: false,
    });
    // The connection is still usable and still the original user's…
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    // …and the refused refresh did not extend the session.
    expect(await client.waitClosed()).toBe(4401);
    expect(reason()).toMatch(/^SESSION_EXPIRED/);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });

  it('refuses auth.refresh with an expired, tampered or unsigned token, with typed errors', async () => {
    const token = await mintV4({ sub: 'refresh-bad' });
    const client = await connect(strict, { token });
    const expired = await mintV4({ sub: 'refresh-bad' }, { maxAge: -3600 });
    await expect(client.request({ type: 'auth.refresh', token: expired })).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await expect(client.request({ type: 'auth.refresh', token: tamper(await mintV4({ sub: 'refresh-bad' })) })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    await expect(client.request({ type: 'auth.refresh', token: unsignedJwt({ sub: 'refresh-bad' }) })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(client.closeCode).toBeNull();
    await client.close();
  });
});
