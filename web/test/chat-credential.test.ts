/**
 * The storefront never hands its session token to page scripts: /api/chat-token answers
 * with a short-lived chat credential, which the chat service accepts, which is no
 * storefront session, and which the panel renews (auth.refresh) before it expires.
 * The test stack mints credentials that live 60 s (CHAT_CREDENTIAL_TTL_SEC in global-setup).
 */
import { decode } from 'next-auth/jwt';
import type { Browser, WebSocket as PageWebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, newSession, signIn, type UserSession } from './support/browser.ts';
import { TEST_SECRET } from './support/secret.ts';

const webUrl = inject('webUrl');
const serviceUrl = inject('serviceUrl');
const TTL_SEC = 60;

let browser: Browser;
let bob: UserSession;
/** bob's chat sockets and the frames his page sent and received on them, recorded from before sign-in. */
const sockets: { socket: PageWebSocket; sent: string[]; received: string[]; closed: boolean }[] = [];
let tokenRequests = 0;

beforeAll(async () => {
  browser = await launchBrowser();
  bob = await newSession(browser, 'bob');
  bob.page.on('websocket', (socket) => {
    const entry = { socket, sent: [] as string[], received: [] as string[], closed: false };
    sockets.push(entry);
    socket.on('framesent', ({ payload }) => typeof payload === 'string' && entry.sent.push(payload));
    socket.on('framereceived', ({ payload }) => typeof payload === 'string' && entry.received.push(payload));
    socket.on('close', () => (entry.closed = true));
  });
  bob.page.on('request', (request) => new URL(request.url()).pathname === '/api/chat-token' && tokenRequests++);
  await signIn(bob, webUrl, 'bob', '/');
});

afterAll(async () => {
  await browser?.close();
});

/** The session cookie's value (joined if NextAuth chunked it). */
async function sessionCookie(session: UserSession): Promise<string> {
  const cookies = (await session.context.cookies(webUrl)).filter((c) => /^(__Secure-)?next-auth\.session-token(\.\d+)?$/.test(c.name));
  cookies.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const value = cookies.map((c) => c.value).join('');
  expect(value.split('.')).toHaveLength(5); // NextAuth's encrypted JWT
  return value;
}

async function fetchCredential(session: UserSession) {
  return session.page.evaluate(async () => {
    const r = await fetch('/api/chat-token');
    return { status: r.status, cacheControl: r.headers.get('cache-control'), text: await r.text() };
  });
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('the chat credential', () => {
  it('is what /api/chat-token returns: a short-lived signed token for the chat audience, not the session token', async () => {
    const cookie = await sessionCookie(bob);
    const response = await fetchCredential(bob);
    expect(response.status).toBe(200);
    expect(response.cacheControl).toBe('no-store');
    expect(response.text).not.toContain(cookie);
    const body = JSON.parse(response.text) as { token: string; expiresAt: string; expiresIn: number };
    expect(body.token.split('.')).toHaveLength(3);
    expect(JSON.parse(Buffer.from(body.token.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    const c = claims(body.token);
    expect(c).toMatchObject({ sub: 'bob', name: expect.any(String), iss: 'storefront', aud: 'chat' });
    expect((c.exp as number) - (c.iat as number)).toBe(TTL_SEC);
    expect(body.expiresIn).toBe(TTL_SEC);
    expect(Date.parse(body.expiresAt)).toBe((c.exp as number) * 1000);
  });

  it('never shows the session cookie value in a response body of the storefront', async () => {
    // The pages and APIs a signed-in shopper's browser loads, fetched with the session cookie.
    for (const path of ['/', '/messages', '/products/ceramic-mug', '/login', '/api/auth/session', '/api/auth/csrf', '/api/auth/providers', '/api/chat-token']) {
      // Read before each request: NextAuth re-issues the cookie as the session is used.
      const cookie = await sessionCookie(bob);
      const response = await bob.context.request.get(`${webUrl}${path}`);
      expect(response.status(), path).toBeLessThan(400);
      expect(await response.text(), path).not.toContain(cookie);
    }
    // And nothing a page script can read holds it either.
    expect(await bob.page.evaluate(() => document.cookie)).not.toContain('session-token');
  });

  it('opens the chat service over HTTP, but not as a cookie', async () => {
    const { token } = JSON.parse((await fetchCredential(bob)).text) as { token: string };
    const ok = await fetch(`${serviceUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: 'bob' });
    const asCookie = await fetch(`${serviceUrl}/v1/me`, { headers: { cookie: `next-auth.session-token=${token}` } });
    expect(asCookie.status).toBe(401);
  });

  it('is no storefront session: NextAuth cannot decode it and a cookie holding it signs nobody in', async () => {
    const { token } = JSON.parse((await fetchCredential(bob)).text) as { token: string };
    // NextAuth's own decoder, with the storefront's secret.
    await expect(decode({ token, secret: TEST_SECRET })).rejects.toThrow();
    // A browser whose session cookie is the credential is signed out.
    const intruder = await newSession(browser, 'intruder');
    try {
      const { hostname } = new URL(webUrl);
      await intruder.context.addCookies([{ name: 'next-auth.session-token', value: token, domain: hostname, path: '/', httpOnly: true, sameSite: 'Lax' }]);
      const session = await intruder.context.request.get(`${webUrl}/api/auth/session`);
      expect(await session.json()).toEqual({});
      const credential = await intruder.context.request.get(`${webUrl}/api/chat-token`);
      expect(credential.status()).toBe(401);
      await intruder.page.goto(webUrl);
      await intruder.page.getByRole('link', { name: 'Sign in' }).first().waitFor();
      expect(await intruder.page.getByTestId('signed-in-as').count()).toBe(0);
    } finally {
      await intruder.context.close();
    }
  });

  it(
    'is renewed by the panel with auth.refresh before it expires: the socket outlives its first credential',
    async () => {
      const live = () => sockets.filter((s) => !s.closed && new URL(s.socket.url()).pathname === '/ws');
      await expect.poll(() => live().length, { timeout: 15_000 }).toBe(1);
      const entry = live()[0]!;
      const ready = await pollFrame(entry.received, (f) => f.type === 'ready', 15_000);
      const firstEnd = Date.parse(ready.sessionExpiresAt as string);
      expect(firstEnd - Date.now()).toBeLessThanOrEqual(TTL_SEC * 1000);
      const before = tokenRequests;
      // Within one lifetime the panel fetches a new credential and sends it in auth.refresh…
      const refresh = await pollFrame(entry.sent, (f) => f.type === 'auth.refresh', TTL_SEC * 1000);
      expect(tokenRequests).toBeGreaterThan(before);
      expect(claims(refresh.token as string)).toMatchObject({ sub: 'bob', aud: 'chat' });
      // …which the service acknowledges with a later end of session.
      const ack = await pollFrame(entry.received, (f) => f.type === 'ack' && f.id === refresh.id, 10_000);
      expect(Date.parse((ack.result as { sessionExpiresAt: string }).sessionExpiresAt)).toBeGreaterThan(firstEnd);
      // The same socket is still open once the session of the credential it opened with has ended
      // (the service closes sockets at exp plus its 15 s clock tolerance).
      await expect.poll(() => Date.now() > firstEnd + 16_000 || entry.closed, { timeout: TTL_SEC * 1000 + 20_000, interval: 500 }).toBe(true);
      expect(entry.closed).toBe(false);
      expect(live()).toEqual([entry]);
    },
    3 * TTL_SEC * 1000,
  );
});

type Frame = { type: string; id?: string; [key: string]: unknown };

async function pollFrame(frames: string[], match: (frame: Frame) => boolean, timeout: number): Promise<Frame> {
  const find = () => frames.map((f) => JSON.parse(f) as Frame).find(match);
  await expect.poll(() => find() !== undefined, { timeout, interval: 250 }).toBe(true);
  return find()!;
}
