/**
 * Security 7: every limit refuses with a typed error and the refusal is counted in
 * /metrics (chat_errors_total{code, transport}). Instances run with small limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { refusedUpgrade } from '@chat/test-support/upgrade';
import { TestClient } from '@chat/test-support/ws-client';
import { printSummary } from './support/checker.ts';
import { readMetric } from './support/metrics.ts';
import { call, group, users } from './support/setup.ts';

let db: TestDatabase;
/** sendRatePerSec 5 / sendBurst 5, 2 connections per user, 100-character messages, 4 KiB frames. */
let small: Instance;
/** 3 connects per IP per minute, 5 HTTP requests per IP per minute. */
let perIp: Instance;
/** sendRatePerSec 10 with sendBurst 2: the rate is higher than the burst. */
let fast: Instance;
let tokens: Record<string, string>;
let room: string;
const clients: TestClient[] = [];
const refusals: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  [small, perIp, fast] = await Promise.all([
    startInstance(db.url, { sendRatePerSec: 5, sendBurst: 5, maxConnectionsPerUser: 2, maxBodyChars: 100, maxFrameBytes: 4096 }),
    startInstance(db.url, { connectsPerIpPerMin: 3, httpRatePerMin: 5 }),
    startInstance(db.url, { sendRatePerSec: 10, sendBurst: 2 }),
  ]);
  tokens = await users(small, ['rate', 'conn', 'big', 'ip', 'steady']);
  room = await group(small, tokens.rate!, 'limits', ['conn', 'big', 'ip', 'steady']);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([small?.close(), perIp?.close(), fast?.close()]);
  await db?.drop();
  printSummary({ scenario: 'limits', refusals });
});

const errors = (instance: Instance, code: string, transport: string) => readMetric(instance.http, 'chat_errors_total', { code, transport });
const track = (client: TestClient) => (clients.push(client), client);
const send = (client: TestClient, i: number | string, body = `m${i}`) =>
  client.request({ type: 'message.send', conversationId: room, clientMsgId: `lim-${i}-${Math.random()}`, body });

describe('per-user send rate', () => {
  it('over the burst: RATE_LIMITED with retryAfterMs, counted; a send after retryAfterMs is accepted', async () => {
    const client = track(await TestClient.connect(small.ws, { token: tokens.rate! }));
    const before = await errors(small, 'RATE_LIMITED', 'ws');
    for (let i = 0; i < 5; i++) await send(client, i);
    const refused = await send(client, 5).then(
      () => null,
      (error: any) => error,
    );
    const refusedAt = Date.now();
    expect(refused).toMatchObject({ type: 'error', code: 'RATE_LIMITED', retryable: true, details: { retryAfterMs: expect.any(Number) } });
    const retryAfterMs = refused.details.retryAfterMs as number;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(1000);
    expect(await errors(small, 'RATE_LIMITED', 'ws')).toBe(before + 1);
    // HTTP shares the user's budget: refused too, typed, with Retry-After.
    const http = await call(small, tokens.rate!, 'POST', `/v1/conversations/${room}/messages`, { clientMsgId: 'lim-http', body: 'over' });
    expect(http).toMatchObject({ status: 429, body: { code: 'RATE_LIMITED', retryable: true, details: { retryAfterMs: expect.any(Number) } } });
    expect(await errors(small, 'RATE_LIMITED', 'http')).toBeGreaterThanOrEqual(1);
    refusals.sendRate = `6th send within the burst window -> RATE_LIMITED retryAfterMs=${retryAfterMs}`;
    // The client follows the hint to the millisecond (the server's own retryAfterMs, no margin).
    for (let left = retryAfterMs; left > 0; left = refusedAt + retryAfterMs - Date.now()) {
      await new Promise((resolve) => setTimeout(resolve, left));
    }
    expect((await send(client, 'after')).message.body).toBe('mafter');
  });

  it('a client sending below sendRatePerSec is never refused, even when the rate exceeds the burst', async () => {
    // 10 per second configured, burst 2: one send every 150 ms (6.7/s) must always pass.
    const client = track(await TestClient.connect(fast.ws, { token: tokens.steady! }));
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      outcomes.push(await send(client, `steady-${i}`).then(() => 'ok', (error: any) => error.code));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    refusals.rateAboveBurst = `sendRatePerSec=10 sendBurst=2, 1 send/150ms: ${outcomes.join(',')}`;
    expect(outcomes).toEqual(Array(8).fill('ok'));
  });
});

describe('connections per user', () => {
  it('the third socket of a user is refused 429 TOO_MANY_CONNECTIONS, counted; a slot frees on close', async () => {
    const before = await readMetric(small.http, 'chat_ws_rejected_upgrades_total', { code: 'TOO_MANY_CONNECTIONS' });
    const first = track(await TestClient.connect(small.ws, { token: tokens.conn! }));
    track(await TestClient.connect(small.ws, { token: tokens.conn! }));
    const third = await refusedUpgrade(small.ws, { headers: { authorization: `Bearer ${tokens.conn!}` } });
    expect(third.status).toBe(429);
    expect(third.body).toEqual({ code: 'TOO_MANY_CONNECTIONS', message: expect.any(String), retryable: true });
    expect(await readMetric(small.http, 'chat_ws_rejected_upgrades_total', { code: 'TOO_MANY_CONNECTIONS' })).toBe(before + 1);
    expect(await errors(small, 'TOO_MANY_CONNECTIONS', 'http')).toBeGreaterThanOrEqual(1);
    refusals.connectionsPerUser = '3rd upgrade -> 429 TOO_MANY_CONNECTIONS';
    await first.close();
    const again = await eventually(
      () => TestClient.connect(small.ws, { token: tokens.conn! }).catch(() => null),
      'a free slot after a close',
    );
    track(again);
  });
});

describe('frame size and message length', () => {
  it('a frame over maxFrameBytes closes with 1009 and is counted as PAYLOAD_TOO_LARGE', async () => {
    const before = await errors(small, 'PAYLOAD_TOO_LARGE', 'ws');
    const victim = track(await TestClient.connect(small.ws, { token: tokens.big! }));
    victim.sendRaw(JSON.stringify({ type: 'ping', id: 'p', pad: 'x'.repeat(4096) }));
    expect(await victim.waitClosed()).toBe(1009);
    refusals.frameSize = '4097+ byte frame -> close 1009';
    expect(await errors(small, 'PAYLOAD_TOO_LARGE', 'ws')).toBe(before + 1);
  });

  it('a message over maxBodyChars: PAYLOAD_TOO_LARGE over WS and 413 over HTTP, counted, nothing stored', async () => {
    const client = track(await TestClient.connect(small.ws, { token: tokens.big! }));
    const [{ n: stored }] = await db.sql<[{ n: number }]>`select count(*)::int as n from messages`;
    const wsBefore = await errors(small, 'PAYLOAD_TOO_LARGE', 'ws');
    const refused = await send(client, 'long', 'l'.repeat(101)).then(() => null, (error: any) => error);
    expect(refused).toMatchObject({ type: 'error', code: 'PAYLOAD_TOO_LARGE', retryable: false });
    expect(await errors(small, 'PAYLOAD_TOO_LARGE', 'ws')).toBe(wsBefore + 1);
    const httpBefore = await errors(small, 'PAYLOAD_TOO_LARGE', 'http');
    const http = await call(small, tokens.big!, 'POST', `/v1/conversations/${room}/messages`, { clientMsgId: 'long-http', body: 'l'.repeat(101) });
    expect(http).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE', retryable: false } });
    expect(await errors(small, 'PAYLOAD_TOO_LARGE', 'http')).toBe(httpBefore + 1);
    const [{ n: after }] = await db.sql<[{ n: number }]>`select count(*)::int as n from messages`;
    expect(after).toBe(stored);
    expect((await send(client, 'exact', 'l'.repeat(100))).message.body).toHaveLength(100);
    refusals.messageLength = '101 chars (maxBodyChars 100) -> PAYLOAD_TOO_LARGE / 413';
  });
});

describe('per-IP limits', () => {
  it('connects per IP: the 4th upgrade in a minute is refused 429 RATE_LIMITED, counted', async () => {
    const before = await readMetric(perIp.http, 'chat_ws_rejected_upgrades_total', { code: 'RATE_LIMITED' });
    for (let i = 0; i < 3; i++) await (await TestClient.connect(perIp.ws, { token: tokens.ip! })).close();
    const fourth = await refusedUpgrade(perIp.ws, { headers: { authorization: `Bearer ${tokens.ip!}` } });
    expect(fourth.status).toBe(429);
    expect(fourth.body).toMatchObject({ code: 'RATE_LIMITED', message: expect.any(String), retryable: true });
    expect(await readMetric(perIp.http, 'chat_ws_rejected_upgrades_total', { code: 'RATE_LIMITED' })).toBe(before + 1);
    refusals.connectsPerIp = '4th upgrade/min from one IP -> 429 RATE_LIMITED';
  });

  it('HTTP requests per IP: the 6th /v1 request in a minute is refused 429 RATE_LIMITED, counted', async () => {
    const statuses: number[] = [];
    let last: { status: number; body: any } | null = null;
    for (let i = 0; i < 6; i++) {
      last = await call(perIp, tokens.ip!, 'GET', '/v1/me');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(last!.body).toMatchObject({ code: 'RATE_LIMITED', message: expect.any(String), retryable: true });
    expect(await errors(perIp, 'RATE_LIMITED', 'http')).toBeGreaterThanOrEqual(1);
    refusals.httpPerIp = '6th /v1 request/min from one IP -> 429 RATE_LIMITED';
  });
});
