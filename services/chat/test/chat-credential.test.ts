/**
 * Chat credentials: the short-lived tokens the storefront mints for its pages instead of
 * handing them the session token. Accepted where a caller presents a token explicitly
 * (bearer header, `bearer.` subprotocol, `token` query, auth.refresh), never from a cookie,
 * and only when signed with the credential key, for audience `chat`, by issuer
 * `storefront`, and short-lived.
 */
import { SignJWT } from 'jose';
import { hkdfSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signChatCredential } from '../src/auth/chat-credential.ts';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { chatCredentialKey, mintChat, mintV4, OLD_SECRET, SECRET } from '@chat/test-support/tokens';
import { refusedUpgrade } from '@chat/test-support/upgrade';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let main: Instance;
/** Configured with the new and the old secret (rotation). */
let rotating: Instance;
/** No clock tolerance, so a credential's expiry closes the socket on time. */
let strict: Instance;
const clients: TestClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  [main, rotating, strict] = await Promise.all([
    startInstance(db.url),
    startInstance(db.url, { authSecrets: [SECRET, OLD_SECRET] }),
    startInstance(db.url, { clockToleranceSec: 0 }),
  ]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([main, rotating, strict].map((i) => i?.close()));
  await db?.drop();
});

async function connect(instance: Instance, options: Parameters<typeof TestClient.connect>[1], path = ''): Promise<TestClient> {
  const client = await TestClient.connect(instance.ws + path, options);
  clients.push(client);
  return client;
}

async function me(instance: Instance, headers: Record<string, string>, path = '/v1/me') {
  const response = await fetch(`${instance.http}${path}`, { headers });
  return { status: response.status, body: (await response.json()) as any };
}

async function expectRefused(token: string, code: 'UNAUTHENTICATED' | 'SESSION_EXPIRED', instance = main): Promise<void> {
  const refusal = { status: 401, body: { code, message: expect.any(String), retryable: false } };
  expect(await me(instance, { authorization: `Bearer ${token}` })).toEqual(refusal);
  expect(await me(instance, {}, `/v1/me?token=${encodeURIComponent(token)}`)).toEqual(refusal);
  for (const options of [{ headers: { authorization: `Bearer ${token}` } }, { protocols: ['chat.v1', `bearer.${token}`] }]) {
    const refused = await refusedUpgrade(instance.ws, options);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code });
  }
}

const picture = 'https://img.example/c.png';

describe('accepted', () => {
  it('over Authorization: Bearer and the token query, with its claims', async () => {
    const token = await mintChat({ sub: 'cred-http', name: 'Cred Http', picture });
    const expected = { status: 200, body: { id: 'cred-http', name: 'Cred Http', image: picture } };
    expect(await me(main, { authorization: `Bearer ${token}` })).toEqual(expected);
    expect(await me(main, {}, `/v1/me?token=${encodeURIComponent(token)}`)).toEqual(expected);
  });

  it('on the WebSocket as a bearer header, a bearer.<token> subprotocol and the token query; the session ends at its exp', async () => {
    const token = await mintChat({ sub: 'cred-ws' }, { ttl: 300 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    const ways: [Parameters<typeof TestClient.connect>[1], string][] = [
      [{ token }, ''],
      [{ protocols: ['chat.v1', `bearer.${token}`] }, ''],
      [{}, `?token=${encodeURIComponent(token)}`],
    ];
    for (const [options, path] of ways) {
      const client = await connect(main, options, path);
      expect(client.frames[0]).toMatchObject({ type: 'ready', userId: 'cred-ws', sessionExpiresAt: new Date(exp * 1000).toISOString() });
      expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
      await client.close();
    }
  });

  it('as the service mints it for scripts (signChatCredential)', async () => {
    const token = await signChatCredential({ sub: 'cred-script', name: 'Script' }, { secret: SECRET, ttlSec: 120 });
    expect(await me(main, { authorization: `Bearer ${token}` })).toMatchObject({ status: 200, body: { id: 'cred-script', name: 'Script' } });
  });

  it('minted with the old secret while both are configured (rotation), and not once it is dropped', async () => {
    const token = await mintChat({ sub: 'cred-rotated' }, { secret: OLD_SECRET });
    expect(await me(rotating, { authorization: `Bearer ${token}` })).toMatchObject({ status: 200, body: { id: 'cred-rotated' } });
    await expectRefused(token, 'UNAUTHENTICATED', main);
  });

  it("carries the system role in its own `role` claim, whatever the session token's role claim is called", async () => {
    const owner = await mintV4({ sub: 'cred-owner' });
    const created = await api(main, owner, 'POST', '/v1/conversations', { title: 'Private', memberIds: [] });
    expect(created.status).toBe(201);
    const path = `/v1/conversations/${created.body.id}`;
    expect((await api(main, await mintChat({ sub: 'cred-support', role: 'admin' }), 'GET', path)).status).toBe(200);
    expect((await api(main, await mintChat({ sub: 'cred-support', chatRole: 'admin' }), 'GET', path)).status).toBe(403);
    expect((await api(main, await mintChat({ sub: 'cred-shopper' }), 'GET', path)).status).toBe(403);
  });

  it('in auth.refresh: a socket opened with a credential stays open past its expiry on a fresh one', async () => {
    const client = await connect(strict, { token: await mintChat({ sub: 'cred-refresh' }, { ttl: 2 }) });
    const expiresAt = Date.parse(client.frames[0]!.sessionExpiresAt as string);
    const result = await client.request<{ sessionExpiresAt: string }>({ type: 'auth.refresh', token: await mintChat({ sub: 'cred-refresh' }, { ttl: 600 }) });
    expect(Date.parse(result.sessionExpiresAt)).toBeGreaterThan(expiresAt + 500_000);
    await eventually(() => Date.now() > expiresAt + 1000, 'the first credential to expire');
    expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
    expect(client.closeCode).toBeNull();
    // Another user's credential is refused, as any other token would be.
    await expect(client.request({ type: 'auth.refresh', token: await mintChat({ sub: 'cred-other' }) })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await client.close();
  });

  it('ends the session with 4401 SESSION_EXPIRED at its exp without a refresh', async () => {
    const client = await connect(strict, { token: await mintChat({ sub: 'cred-expiring' }, { ttl: 2 }) });
    const expiresAt = Date.parse(client.frames[0]!.sessionExpiresAt as string);
    let reason = '';
    client.socket.on('close', (_code, buffer) => (reason = buffer.toString()));
    expect(await client.waitClosed()).toBe(4401);
    expect(reason).toMatch(/^SESSION_EXPIRED/);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });
});

describe('refused', () => {
  const cookieNames = ['__Secure-authjs.session-token', 'authjs.session-token', '__Secure-next-auth.session-token', 'next-auth.session-token'];

  it.each(cookieNames)('from the %s cookie (HTTP and upgrade), so a cross-site page can never ride on it', async (name) => {
    const token = await mintChat({ sub: 'cred-cookie' });
    const headers = { cookie: `${name}=${token}` };
    expect(await me(main, headers)).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    expect((await refusedUpgrade(main.ws, { headers })).body).toMatchObject({ code: 'UNAUTHENTICATED' });
    const chunked = { cookie: `${name}.0=${token.slice(0, 20)}; ${name}.1=${token.slice(20)}` };
    expect(await me(main, chunked)).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
  });

  it('when expired, as SESSION_EXPIRED', async () => {
    await expectRefused(await mintChat({ sub: 'cred-expired' }, { issuedAgo: 700, ttl: 600 }), 'SESSION_EXPIRED');
  });

  it('for another audience, from another issuer, or without either', async () => {
    await expectRefused(await mintChat({ sub: 'cred-aud' }, { audience: 'billing' }), 'UNAUTHENTICATED');
    await expectRefused(await mintChat({ sub: 'cred-aud' }, { audience: null }), 'UNAUTHENTICATED');
    await expectRefused(await mintChat({ sub: 'cred-iss' }, { issuer: 'https://evil.example' }), 'UNAUTHENTICATED');
    await expectRefused(await mintChat({ sub: 'cred-iss' }, { issuer: null }), 'UNAUTHENTICATED');
  });

  it('signed with any key but the credential key: the raw secret, a session key, the wrong secret', async () => {
    const raw = new TextEncoder().encode(SECRET);
    const v4SessionKey = new Uint8Array(hkdfSync('sha256', SECRET, '', 'NextAuth.js Generated Encryption Key', 32));
    for (const key of [raw, v4SessionKey, chatCredentialKey('wrong-secret-00000000000000000000000000000000')]) {
      await expectRefused(await mintChat({ sub: 'cred-key' }, { key }), 'UNAUTHENTICATED');
    }
  });

  it('with another algorithm, unsigned, or tampered', async () => {
    await expectRefused(await mintChat({ sub: 'cred-alg' }, { alg: 'HS512', key: new Uint8Array(hkdfSync('sha256', SECRET, 'chat-credential', 'chat credential v1', 64)) }), 'UNAUTHENTICATED');
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'cred-none', role: 'admin', iss: 'storefront', aud: 'chat', iat: now, exp: now + 600 };
    await expectRefused(`${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`, 'UNAUTHENTICATED');
    const [header, , signature] = (await mintChat({ sub: 'cred-tampered' })).split('.');
    await expectRefused(`${header}.${part({ ...claims, sub: 'cred-tampered-admin' })}.${signature}`, 'UNAUTHENTICATED');
  });

  it('when it lives longer than chatCredentialMaxTtlSec (an hour), or lacks iat or exp', async () => {
    await expectRefused(await mintChat({ sub: 'cred-long' }, { ttl: 3601 }), 'UNAUTHENTICATED');
    const key = chatCredentialKey();
    const base = () => new SignJWT({ sub: 'cred-claims' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('storefront').setAudience('chat');
    await expectRefused(await base().setExpirationTime('10m').sign(key), 'UNAUTHENTICATED');
    await expectRefused(await base().setIssuedAt().sign(key), 'UNAUTHENTICATED');
  });

  it('with a sub holding control characters', async () => {
    await expectRefused(await mintChat({ sub: 'cred\nevil' }), 'UNAUTHENTICATED');
  });
});
