/**
 * Authorization on every operation (invariant 6) and one typed error model over HTTP
 * (invariant 7): non-members are refused everywhere, unauthenticated callers get 401
 * on every /v1 route, system admins can read any conversation, and bad input or an
 * unknown route gets a typed JSON error.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5, SECRET } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let main: Instance;
let alice: string;
let bob: string;
let carol: string;
/** alice ↔ bob (direct). */
let direct: string;
/** alice (owner), bob: a group carol is not in. */
let group: string;
let firstMessageId: string;
const clients: TestClient[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  alice = await mintV4({ sub: 'alice', name: 'Alice' });
  bob = await mintV5({ sub: 'bob', name: 'Bob' });
  carol = await mintV4({ sub: 'carol', name: 'Carol' });
  for (const token of [alice, bob, carol]) expect((await api(main, token, 'GET', '/v1/me')).status).toBe(200);

  const d = await api(main, alice, 'POST', '/v1/conversations/direct', { userId: 'bob' });
  expect(d.status).toBe(201);
  direct = d.body.id;
  const g = await api(main, alice, 'POST', '/v1/conversations', { title: 'Team', memberIds: ['bob'] });
  expect(g.status).toBe(201);
  group = g.body.id;
  const sent = await api(main, alice, 'POST', `/v1/conversations/${direct}/messages`, { clientMsgId: 'first', body: 'private to bob' });
  expect(sent.status).toBe(201);
  firstMessageId = sent.body.message.id;
  expect((await api(main, bob, 'POST', `/v1/conversations/${group}/messages`, { clientMsgId: 'g1', body: 'team only' })).status).toBe(201);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await main?.close();
  await db?.drop();
});

async function messageCount(): Promise<number> {
  const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int as count from messages`;
  return count;
}

const typed = (code: string) => ({ code, message: expect.any(String), retryable: false });

describe('a non-member is refused with FORBIDDEN', () => {
  const reads = (id: string) => [
    ['GET', `/v1/conversations/${id}`],
    ['GET', `/v1/conversations/${id}/messages`],
    ['GET', `/v1/conversations/${id}/messages?after=0&limit=100`],
    ['GET', `/v1/conversations/${id}/events?after=0`],
  ] as const;

  it('members can read (the control for the refusals below)', async () => {
    for (const token of [alice, bob]) {
      for (const [method, path] of reads(direct)) expect((await api(main, token, method, path)).status, path).toBe(200);
    }
    const history = await api(main, bob, 'GET', `/v1/conversations/${direct}/messages`);
    expect(history.body.messages.map((m: { id: string }) => m.id)).toContain(firstMessageId);
  });

  it('history, conversation, events: 403 FORBIDDEN for every conversation carol is not in', async () => {
    for (const id of [direct, group]) {
      for (const [method, path] of reads(id)) {
        const response = await api(main, carol, method, path);
        expect(response.status, path).toBe(403);
        expect(response.body, path).toEqual(typed('FORBIDDEN'));
        expect(JSON.stringify(response.body)).not.toContain('private to bob');
      }
    }
  });

  it('a conversation that does not exist looks the same as one carol is not in (no existence oracle)', async () => {
    for (const [method, path] of reads(randomUUID())) {
      const response = await api(main, carol, method, path);
      expect(response.status, path).toBe(403);
      expect(response.body, path).toEqual(typed('FORBIDDEN'));
    }
  });

  it('HTTP send: 403 FORBIDDEN and nothing written', async () => {
    const before = await messageCount();
    for (const id of [direct, group, randomUUID()]) {
      const response = await api(main, carol, 'POST', `/v1/conversations/${id}/messages`, { clientMsgId: `c-${randomUUID()}`, body: 'hello?' });
      expect(response.status).toBe(403);
      expect(response.body).toEqual(typed('FORBIDDEN'));
    }
    expect(await messageCount()).toBe(before);
    const [row] = await db.sql`select count(*)::int as count from messages where sender_id = 'carol'`;
    expect(row!.count).toBe(0);
  });

  it('WebSocket send: FORBIDDEN error frame, nothing written, socket still usable', async () => {
    const before = await messageCount();
    const resumed = await TestClient.live(main.ws, carol);
    const plain = await TestClient.connect(main.ws, { token: carol });
    clients.push(resumed, plain);
    for (const client of [resumed, plain]) {
      for (const id of [direct, group]) {
        await expect(client.request({ type: 'message.send', id: 'no', conversationId: id, clientMsgId: `w-${randomUUID()}`, body: 'let me in' })).rejects.toMatchObject({
          type: 'error',
          id: 'no',
          code: 'FORBIDDEN',
          retryable: false,
        });
      }
      expect(await client.request({ type: 'ping' })).toEqual({ time: expect.any(String) });
      expect(client.closeCode).toBeNull();
    }
    expect(await messageCount()).toBe(before);
    await Promise.all([resumed.close(), plain.close()]);
  });

  it('resume naming a conversation carol is not in neither subscribes her nor replays it', async () => {
    const client = await TestClient.connect(main.ws, { token: carol });
    clients.push(client);
    const result = await client.request({ type: 'resume', conversations: { [direct]: 0, [group]: 0 } });
    expect(result.conversations.map((c: { id: string }) => c.id)).not.toContain(direct);
    expect(result.conversations.map((c: { id: string }) => c.id)).not.toContain(group);
    expect(result.replayed).toBe(0);
    // Later traffic is not delivered either: bob's message arrives at bob, never at carol.
    const bobClient = await TestClient.live(main.ws, bob);
    clients.push(bobClient);
    const ack = await bobClient.request({ type: 'message.send', conversationId: direct, clientMsgId: 'after-resume', body: 'still private' });
    await bobClient.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    await client.request({ type: 'ping' });
    expect(client.frames.filter((f) => f.type === 'message.created')).toEqual([]);
    expect(JSON.stringify(client.frames)).not.toContain('private');
    await Promise.all([client.close(), bobClient.close()]);
  });

  it("the conversation list shows only carol's own conversations", async () => {
    const list = await api(main, carol, 'GET', '/v1/conversations');
    expect(list.status).toBe(200);
    expect(list.body.conversations).toEqual([]);
    const mine = await api(main, alice, 'GET', '/v1/conversations');
    expect(mine.body.conversations.map((c: { id: string }) => c.id).sort()).toEqual([direct, group].sort());
  });
});

/** Every /v1 route of the running app, read from Fastify's route tree (so new routes are covered too). */
function v1Routes(instance: Instance): { method: string; url: string }[] {
  const routes: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of instance.chat.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/u.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    const url = stack.join('');
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method && method !== 'HEAD' && url.startsWith('/v1/')) routes.push({ method, url });
    }
  }
  return routes;
}

describe('an unauthenticated caller gets 401 on every /v1 route', () => {
  const bodies: Record<string, unknown> = {
    'POST /v1/conversations': { title: 'x', memberIds: [] },
    'POST /v1/conversations/direct': { userId: 'bob' },
    'POST /v1/conversations/:id/messages': { clientMsgId: 'anon', body: 'anon' },
  };

  it('finds the routes it must check', () => {
    const found = v1Routes(main).map((r) => `${r.method} ${r.url}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'GET /v1/me',
        'GET /v1/conversations',
        'POST /v1/conversations',
        'POST /v1/conversations/direct',
        'GET /v1/conversations/:id',
        'GET /v1/conversations/:id/messages',
        'POST /v1/conversations/:id/messages',
        'GET /v1/conversations/:id/events',
      ]),
    );
  });

  it('no credential, a bad credential, or a non-session Authorization: 401 UNAUTHENTICATED everywhere', async () => {
    const before = await messageCount();
    const wrongSecret = await mintV4({ sub: 'alice' }, { secret: `${SECRET}-not` });
    const credentials: (Record<string, string> | null)[] = [
      null,
      { authorization: `Bearer ${wrongSecret}` },
      { authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' },
      { cookie: `next-auth.session-token=${wrongSecret}` },
    ];
    for (const route of v1Routes(main)) {
      // Valid-looking input, so a 401 is about the credential and not the input.
      const url = route.url.replaceAll(':id', direct).replace(/:[A-Za-z]+/gu, randomUUID()) + (route.url.endsWith('/events') ? '?after=0' : '');
      const body = bodies[`${route.method} ${route.url}`] ?? (route.method === 'GET' ? undefined : {});
      for (const headers of credentials) {
        const response = await api(main, null, route.method, url, body, headers ?? {});
        expect(response.status, `${route.method} ${route.url} ${JSON.stringify(headers)}`).toBe(401);
        expect(response.body).toEqual(typed('UNAUTHENTICATED'));
      }
    }
    expect(await messageCount()).toBe(before);
  });

  it('authentication comes before validation: bad input without a credential is still 401', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/conversations/not-a-uuid/messages?limit=500', undefined],
      ['POST', '/v1/conversations/not-a-uuid/messages', {}],
      ['GET', '/v1/conversations?limit=0', undefined],
    ] as const) {
      const response = await api(main, null, method, path, body);
      expect(response.status, path).toBe(401);
      expect(response.body).toEqual(typed('UNAUTHENTICATED'));
    }
  });

  it('an expired session is 401 SESSION_EXPIRED', async () => {
    const expired = await mintV5({ sub: 'alice' }, { maxAge: -3600 });
    const response = await api(main, expired, 'GET', `/v1/conversations/${direct}/messages`);
    expect(response.status).toBe(401);
    expect(response.body).toEqual(typed('SESSION_EXPIRED'));
  });
});

describe('a system admin can read conversations they are not a member of', () => {
  const admins = [
    ['admin', () => mintV4({ sub: 'root', name: 'Root', chatRole: 'admin' })],
    ['owner', () => mintV5({ sub: 'superuser', chatRole: 'owner' })],
  ] as const;

  it.each(admins)('chatRole %s: history (GET /v1/conversations/:id/messages)', async (_role, mint) => {
    const history = await api(main, await mint(), 'GET', `/v1/conversations/${direct}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: { id: string }) => m.id)).toContain(firstMessageId);
  });

  it.each(admins)('chatRole %s: events (GET /v1/conversations/:id/events)', async (_role, mint) => {
    const events = await api(main, await mint(), 'GET', `/v1/conversations/${direct}/events?after=0`);
    expect(events.status).toBe(200);
    expect(events.body.events).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'message.created', message: expect.objectContaining({ id: firstMessageId }) })]),
    );
  });

  it.each(admins)('chatRole %s: the conversation itself (GET /v1/conversations/:id)', async (_role, mint) => {
    const conversation = await api(main, await mint(), 'GET', `/v1/conversations/${direct}`);
    expect(conversation.status, JSON.stringify(conversation.body)).toBe(200);
    expect(conversation.body).toMatchObject({ id: direct, kind: 'direct' });
    expect(conversation.body.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob']);
  });

  it('a role claim that is not a system role, or under another claim name, grants nothing', async () => {
    for (const token of [
      await mintV4({ sub: 'pretender-1', chatRole: 'superadmin' }),
      await mintV4({ sub: 'pretender-2', chatRole: 'member' }),
      await mintV4({ sub: 'pretender-3', role: 'admin' }),
      await mintV5({ sub: 'pretender-4', chatRole: ['admin'] }),
    ]) {
      for (const path of [`/v1/conversations/${direct}/messages`, `/v1/conversations/${direct}`, `/v1/conversations/${direct}/events?after=0`]) {
        const response = await api(main, token, 'GET', path);
        expect(response.status, path).toBe(403);
        expect(response.body).toEqual(typed('FORBIDDEN'));
      }
    }
  });
});

describe('validation errors over HTTP: 400 VALIDATION_FAILED', () => {
  interface BadRequest {
    name: string;
    method: 'GET' | 'POST';
    path: () => string;
    body?: unknown;
    /** A path the details must name, when the validator reports one. */
    detail: string | null;
  }

  const badRequests: BadRequest[] = [
    { name: 'limit above the maximum', method: 'GET', path: () => `/v1/conversations/${direct}/messages?limit=500`, detail: '/limit' },
    { name: 'limit zero', method: 'GET', path: () => `/v1/conversations/${direct}/messages?limit=0`, detail: '/limit' },
    { name: 'limit not a number', method: 'GET', path: () => `/v1/conversations/${direct}/messages?limit=lots`, detail: '/limit' },
    { name: 'negative before', method: 'GET', path: () => `/v1/conversations/${direct}/messages?before=-1`, detail: '/before' },
    { name: 'list limit above the maximum', method: 'GET', path: () => '/v1/conversations?limit=500', detail: '/limit' },
    { name: 'bad uuid (conversation)', method: 'GET', path: () => '/v1/conversations/not-a-uuid', detail: '/id' },
    { name: 'bad uuid (history)', method: 'GET', path: () => '/v1/conversations/not-a-uuid/messages', detail: '/id' },
    { name: 'bad uuid (send)', method: 'POST', path: () => '/v1/conversations/12345/messages', body: { clientMsgId: 'bad-uuid', body: 'x' }, detail: '/id' },
    { name: 'events without after', method: 'GET', path: () => `/v1/conversations/${direct}/events`, detail: null },
    { name: 'events with limit above the maximum', method: 'GET', path: () => `/v1/conversations/${direct}/events?after=0&limit=501`, detail: '/limit' },
    { name: 'send without body fields', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: {}, detail: null },
    { name: 'send without body', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: { clientMsgId: 'no-body' }, detail: null },
    { name: 'send with a wrongly typed body', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: { clientMsgId: 'typed', body: { text: 'x' } }, detail: '/body' },
    { name: 'send with a malformed attachment id', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: { clientMsgId: 'att', body: 'x', attachmentIds: ['nope'] }, detail: '/attachmentIds/0' },
    // The schema's bound is the sealed envelope's (LIMITS.maxEnvelopeChars); MAX_BODY_CHARS applies to plain conversations after it (413).
    { name: 'send with a body over 49152 characters', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: { clientMsgId: 'long', body: 'a'.repeat(49_153) }, detail: '/body' },
    { name: 'send with a clientMsgId over 64 characters', method: 'POST', path: () => `/v1/conversations/${direct}/messages`, body: { clientMsgId: 'c'.repeat(65), body: 'x' }, detail: '/clientMsgId' },
    { name: 'direct without userId', method: 'POST', path: () => '/v1/conversations/direct', body: {}, detail: null },
    { name: 'group without title', method: 'POST', path: () => '/v1/conversations', body: { memberIds: ['bob'] }, detail: null },
    { name: 'group with duplicate members', method: 'POST', path: () => '/v1/conversations', body: { title: 'dup', memberIds: ['bob', 'bob'] }, detail: '/memberIds' },
  ];

  it('numbers that overflow to Infinity (query and JSON) get VALIDATION_FAILED, not a server error', async () => {
    const query = await api(main, alice, 'GET', '/v1/conversations?limit=1e309');
    expect([query.status, query.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const response = await fetch(`${main.http}/v1/conversations/${direct}/read`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: '{"upTo": 1e309}',
    });
    expect([response.status, ((await response.json()) as { code: string }).code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('only numeric query parameters are checked for overflow: ids and words that look like exponents pass', async () => {
    // A uuid may start with digits and an "e"; a search may be for "1e309".
    const exponentLike = '12345e67-0000-4000-8000-000000000000';
    const search = await api(main, alice, 'GET', `/v1/search?q=1e309&conversationId=${exponentLike}`);
    expect([search.status, search.body.code]).toEqual([403, 'FORBIDDEN']);
    const words = await api(main, alice, 'GET', '/v1/search?q=1e309');
    expect([words.status, words.body.results]).toEqual([200, []]);
  });

  it.each(badRequests)('$name', async ({ method, path, body, detail }) => {
    const before = await messageCount();
    const response = await api(main, alice, method, path(), body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ ...typed('VALIDATION_FAILED'), details: expect.any(Array) });
    expect(response.body.details.length).toBeGreaterThan(0);
    if (detail) expect(response.body.details.map((d: { path: string }) => d.path)).toContain(detail);
    expect(await messageCount()).toBe(before);
  });

  it('a body that is not JSON: 400 VALIDATION_FAILED', async () => {
    const response = await fetch(`${main.http}/v1/conversations/${direct}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: '{"clientMsgId": "broken", "body": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual(typed('VALIDATION_FAILED'));
  });

  it('a blank body (whitespace only): 400 VALIDATION_FAILED, nothing written', async () => {
    const before = await messageCount();
    const response = await api(main, alice, 'POST', `/v1/conversations/${direct}/messages`, { clientMsgId: 'blank', body: '   ' });
    expect(response.status).toBe(400);
    expect(response.body).toEqual(typed('VALIDATION_FAILED'));
    expect(await messageCount()).toBe(before);
  });

  it('exactly 4000 characters and limit=100 are still accepted (the bounds are where documented)', async () => {
    const sent = await api(main, alice, 'POST', `/v1/conversations/${direct}/messages`, { clientMsgId: 'max-len', body: 'a'.repeat(4000) });
    expect(sent.status).toBe(201);
    expect((await api(main, alice, 'GET', `/v1/conversations/${direct}/messages?limit=100`)).status).toBe(200);
  });
});

describe('unknown routes: 404 NOT_FOUND JSON', () => {
  it.each([
    ['GET', '/v1/nope'],
    ['GET', '/nope'],
    ['PUT', '/v1/me'],
    ['GET', `/v1/conversations/${randomUUID()}/nope`],
  ])('%s %s', async (method, path) => {
    for (const token of [alice, null]) {
      const response = await fetch(`${main.http}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toEqual(typed('NOT_FOUND'));
    }
  });
});
