/**
 * Cost before work (issue 10): every WebSocket frame and /v1 route is charged to the
 * caller's budgets (src/limits.ts) before it runs. Each budget refuses with a typed
 * RATE_LIMITED (retryAfterMs and the budget's name), counted in chat_errors_total.
 * Instances run with small budgets.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRouteCosts } from '../../src/http/route-costs.ts';
import { COST } from '../../src/limits.ts';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { TestClient } from '@chat/test-support/ws-client';
import { printSummary } from './support/checker.ts';
import { readMetric } from './support/metrics.ts';
import { group, users } from './support/setup.ts';

let db: TestDatabase;
/** dbWorkPerSec 1, dbWorkBurst 10: a second's point, and 9 more per 10 s. */
let tight: Instance;
/** dbWorkPerSec 10, dbWorkBurst 30: at most 20 points at once. */
let resumes: Instance;
/** groupCreatesPerHour 2. */
let groups: Instance;
let tokens: Record<string, string>;
const clients: TestClient[] = [];
const refusals: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  [tight, resumes, groups] = await Promise.all([
    startInstance(db.url, { dbWorkPerSec: 1, dbWorkBurst: 10 }),
    startInstance(db.url, { dbWorkPerSec: 10, dbWorkBurst: 30 }),
    startInstance(db.url, { groupCreatesPerHour: 2 }),
  ]);
  // Users are created through the unlimited instance so the budgets start full.
  tokens = await users(groups, ['marks', 'reads', 'typist', 'many', 'none', 'founder', 'member']);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([tight?.close(), resumes?.close(), groups?.close()]);
  await db?.drop();
  printSummary({ scenario: 'user budgets', refusals });
});

const errors = (instance: Instance, code: string, transport: string) => readMetric(instance.http, 'chat_errors_total', { code, transport });
const track = (client: TestClient) => (clients.push(client), client);
const outcome = (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code ?? String(error));

async function http(instance: Instance, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${instance.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
}

describe('database work', () => {
  it('WebSocket: the third read.mark (4 points each) within the burst is refused RATE_LIMITED {budget: db}, counted', async () => {
    const room = await group(groups, tokens.marks!, 'marks', []);
    const client = track(await TestClient.connect(tight.ws, { token: tokens.marks! }));
    const before = await errors(tight, 'RATE_LIMITED', 'ws');
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await outcome(client.request({ type: 'read.mark', conversationId: room, upTo: 0 })));
    expect(results).toEqual(['ok', 'ok', 'RATE_LIMITED']);
    const refused = await client.request({ type: 'delivered.mark', conversationId: room, upTo: 0 }).catch((error: any) => error);
    expect(refused).toMatchObject({ type: 'error', code: 'RATE_LIMITED', retryable: true, details: { retryAfterMs: expect.any(Number), budget: 'db' } });
    expect(refused.details.retryAfterMs).toBeGreaterThan(0);
    expect(refused.details.retryAfterMs).toBeLessThanOrEqual(10_000);
    expect(await errors(tight, 'RATE_LIMITED', 'ws')).toBe(before + 2);
    // Frames that touch no database are never charged.
    expect(await client.request({ type: 'ping' })).toMatchObject({ time: expect.any(String) });
    refusals.dbWs = `3rd mark (4 points, burst 10) -> RATE_LIMITED budget=db retryAfterMs=${refused.details.retryAfterMs}`;
  });

  it('HTTP: reads (1 point) past the budget get 429 RATE_LIMITED with Retry-After and retryAfterMs, counted', async () => {
    const before = await errors(tight, 'RATE_LIMITED', 'http');
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof http>> | null = null;
    const started = Date.now();
    for (let i = 0; i < 30 && !refused; i++) {
      const response = await http(tight, tokens.reads!, 'GET', '/v1/conversations');
      statuses.push(response.status);
      if (response.status !== 200) refused = response;
    }
    // The burst's 9 points and each second's 1 point, then refused.
    const seconds = Math.ceil((Date.now() - started) / 1000);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.length).toBeLessThanOrEqual(10 + seconds);
    expect(statuses.at(-1)).toBe(429);
    expect(refused!.body).toMatchObject({ code: 'RATE_LIMITED', retryable: true, details: { retryAfterMs: expect.any(Number), budget: 'db' } });
    expect(Number(refused!.retryAfter)).toBe(Math.max(1, Math.ceil(refused!.body.details.retryAfterMs / 1000)));
    expect(await errors(tight, 'RATE_LIMITED', 'http')).toBe(before + 1);
    refusals.dbHttp = `11th read (1 point, burst 10) -> 429 RATE_LIMITED Retry-After=${refused!.retryAfter}`;
  });

  it('a resume costs 2 + the conversations it names: naming 15 twice is refused, naming none twice is not', async () => {
    const named = Object.fromEntries(Array.from({ length: 15 }, () => [randomUUID(), 0]));
    const many = track(await TestClient.connect(resumes.ws, { token: tokens.many! }));
    expect(await outcome(many.request({ type: 'resume', conversations: named }))).toBe('ok');
    const refused = await many.request({ type: 'resume', conversations: named }).catch((error: any) => error);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { budget: 'db' } });
    const none = track(await TestClient.connect(resumes.ws, { token: tokens.none! }));
    expect([await outcome(none.request({ type: 'resume', conversations: {} })), await outcome(none.request({ type: 'resume', conversations: {} }))]).toEqual(['ok', 'ok']);
    refusals.resume = 'resume naming 15 (17 points) twice, 20 at once -> RATE_LIMITED';
  });
});

describe('typing', () => {
  it('the 11th typing frame in a second is refused RATE_LIMITED {budget: typing} before anything else is checked', async () => {
    const client = track(await TestClient.connect(groups.ws, { token: tokens.typist! }));
    const conversationId = randomUUID();
    const results = await Promise.all(Array.from({ length: 11 }, () => outcome(client.request({ type: 'typing.start', conversationId }))));
    // Not subscribed: FORBIDDEN, until the budget is spent.
    expect(results.filter((r) => r === 'FORBIDDEN')).toHaveLength(10);
    expect(results.filter((r) => r === 'RATE_LIMITED')).toHaveLength(1);
    refusals.typing = '11th typing frame/s -> RATE_LIMITED budget=typing';
  });
});

describe('group creation', () => {
  it('the third group in an hour is refused 429 RATE_LIMITED {budget: groups} with Retry-After, counted, and nothing is created', async () => {
    const before = await errors(groups, 'RATE_LIMITED', 'http');
    const body = (i: number) => ({ title: `g${i}`, memberIds: ['member'] });
    const created = [await http(groups, tokens.founder!, 'POST', '/v1/conversations', body(1)), await http(groups, tokens.founder!, 'POST', '/v1/conversations', body(2))];
    expect(created.map((r) => r.status)).toEqual([201, 201]);
    const refused = await http(groups, tokens.founder!, 'POST', '/v1/conversations', body(3));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED', retryable: true, details: { budget: 'groups', retryAfterMs: expect.any(Number) } });
    expect(refused.body.details.retryAfterMs).toBeGreaterThan(3_000_000);
    expect(Number(refused.retryAfter)).toBe(Math.ceil(refused.body.details.retryAfterMs / 1000));
    expect(await errors(groups, 'RATE_LIMITED', 'http')).toBe(before + 1);
    const [{ n }] = await db.sql<[{ n: number }]>`select count(*)::int as n from conversations where creator_id = 'founder' and kind = 'group'`;
    expect(n).toBe(2);
    // Other users have budgets of their own; reads go on.
    expect((await http(groups, tokens.member!, 'POST', '/v1/conversations', body(4))).status).toBe(201);
    expect((await http(groups, tokens.founder!, 'GET', '/v1/conversations')).status).toBe(200);
    refusals.groups = `3rd group/hour -> 429 RATE_LIMITED budget=groups Retry-After=${refused.retryAfter}`;
  });
});

describe('every route declares its cost', () => {
  it('registering a /v1 route without config.cost fails at start-up', async () => {
    const app = Fastify();
    app.get('/healthz', async () => ({}));
    void app.register(
      async (v1) => {
        requireRouteCosts(v1);
        v1.get('/costed', { config: { cost: COST.read } }, async () => ({}));
        v1.get('/free', async () => ({}));
      },
      { prefix: '/v1' },
    );
    await expect(app.ready()).rejects.toThrow('GET /v1/free declares no cost');
  });
});
