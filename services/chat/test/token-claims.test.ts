/**
 * What a verified token's claims must say before the service takes it: an expiry (a
 * session that never ends is refused, and every session ends at most
 * maxSessionAgeSec after the token was issued), and a user id free of control and
 * format characters (the id is written into logs and wire formats, where such a
 * character could end a record).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV4Raw, mintV5 } from '@chat/test-support/tokens';
import { refusedUpgrade } from '@chat/test-support/upgrade';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
/** Default configuration. */
let main: Instance;
/** maxSessionAgeSec: 2 and no clock tolerance, so the cap closes a socket within the test. */
let capped: Instance;
const clients: TestClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  [main, capped] = await Promise.all([startInstance(db.url), startInstance(db.url, { maxSessionAgeSec: 2, clockToleranceSec: 0 })]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([main, capped].map((i) => i?.close()));
  await db?.drop();
});

async function connect(instance: Instance, token: string): Promise<TestClient> {
  const client = await TestClient.connect(instance.ws, { token });
  clients.push(client);
  return client;
}

async function me(instance: Instance, token: string) {
  const response = await fetch(`${instance.http}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as any };
}

async function userExists(id: string): Promise<boolean> {
  const rows = await db.sql`select 1 from users where id = ${id}`;
  return rows.length > 0;
}

async function expectRefused(token: string, code: string, instance = main): Promise<void> {
  expect(await me(instance, token)).toEqual({ status: 401, body: { code, message: expect.any(String), retryable: false } });
  const refused = await refusedUpgrade(instance.ws, { headers: { authorization: `Bearer ${token}` } });
  expect(refused.status).toBe(401);
  expect(refused.body).toMatchObject({ code });
}

const now = () => Math.floor(Date.now() / 1000);

describe('expiry claims', () => {
  it('refuses a token without exp (it would never expire) with UNAUTHENTICATED', async () => {
    const token = await mintV4Raw({ sub: 'no-exp', iat: now() });
    await expectRefused(token, 'UNAUTHENTICATED');
    expect(await userExists('no-exp')).toBe(false);
    // Nor can it replace a socket's token.
    const client = await connect(main, await mintV4({ sub: 'no-exp' }));
    await expect(client.request({ type: 'auth.refresh', token })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await client.close();
  });

  it('refuses a token without iat (its age cannot be capped) with UNAUTHENTICATED', async () => {
    const token = await mintV4Raw({ sub: 'no-iat', exp: now() + 3600 });
    await expectRefused(token, 'UNAUTHENTICATED');
    expect(await userExists('no-iat')).toBe(false);
  });

  it('refuses exp and iat that are not numbers', async () => {
    await expectRefused(await mintV4Raw({ sub: 'string-exp', iat: now(), exp: String(now() + 3600) }), 'UNAUTHENTICATED');
  });

  it('refuses a token issued longer ago than maxSessionAgeSec, even with a far exp, as SESSION_EXPIRED', async () => {
    const token = await mintV4Raw({ sub: 'too-old', iat: now() - 31 * 24 * 3600, exp: now() + 3600 });
    await expectRefused(token, 'SESSION_EXPIRED');
    expect(await userExists('too-old')).toBe(false);
  });

  it('ends the session at iat + maxSessionAgeSec when that comes before exp (NextAuth v4 and Auth.js v5 tokens)', async () => {
    for (const mint of [mintV4, mintV5]) {
      const sub = `capped-${mint === mintV4 ? 'v4' : 'v5'}`;
      const before = now();
      const client = await connect(capped, await mint({ sub }, { maxAge: 3600 }));
      const ready = client.frames[0]!;
      expect(ready).toMatchObject({ type: 'ready', userId: sub });
      // The token says an hour; the service says two seconds after it was issued.
      const ends = Date.parse(ready.sessionExpiresAt as string) / 1000;
      expect(ends).toBeGreaterThanOrEqual(before + 2);
      expect(ends).toBeLessThanOrEqual(now() + 2);
      expect(await client.waitClosed()).toBe(4401);
    }
  });

  it('keeps exp when it comes first', async () => {
    const token = await mintV4({ sub: 'short-exp' }, { maxAge: 600 });
    const client = await connect(main, token);
    const ends = Date.parse(client.frames[0]!.sessionExpiresAt as string) / 1000;
    expect(ends).toBeGreaterThan(now() + 590);
    expect(ends).toBeLessThanOrEqual(now() + 600);
    await client.close();
  });
});

describe('user ids (sub)', () => {
  // Each would otherwise become a user id: written into logs, bus payloads and frames.
  const hostile: [string, string][] = [
    ['line feed', 'evil\n00000000-0000-4000-8000-000000000001 1 {}'],
    ['carriage return', 'evil\rx'],
    ['tab', 'evil\tx'],
    ['NUL', 'evil\u0000x'],
    ['escape (ANSI sequences in logs)', 'evil\u001b[31mred'],
    ['DEL', 'evil\u007fx'],
    ['C1 next line (U+0085)', 'evil\u0085x'],
    ['C1 control (U+009B)', 'evil\u009bx'],
    ['line separator U+2028', 'evil\u2028x'],
    ['paragraph separator U+2029', 'evil\u2029x'],
    ['right-to-left override U+202E', 'evil\u202ex'],
    ['zero-width space U+200B', 'evil\u200bx'],
    ['byte order mark U+FEFF', '\ufeffevil'],
    ['lone surrogate', 'evil\ud800x'],
    ['noncharacter U+FFFF', 'evil\uffffx'],
  ];

  it.each(hostile)('refuses a sub containing a %s with UNAUTHENTICATED (v4 and v5)', async (_what, sub) => {
    for (const token of [await mintV4({ sub }), await mintV5({ sub })]) await expectRefused(token, 'UNAUTHENTICATED');
    // Not bound as a parameter: PostgreSQL refuses some of these ids in a query, too.
    expect(await db.sql`select id from users where position('evil' in id) > 0`).toEqual([]);
  });

  it('accepts ids with letters and symbols from any script, emoji included', async () => {
    for (const sub of ['zoë-müller', 'auth0|5f1c', '用户-42', 'emoji-😀', 'user@example.com', 'with space']) {
      expect(await me(main, await mintV5({ sub }))).toMatchObject({ status: 200, body: { id: sub } });
    }
  });
});
