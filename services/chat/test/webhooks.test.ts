/**
 * Signed webhooks (issue 15): real instances, the real job queue, and a receiver on loopback
 * that checks every request with the standardwebhooks package's own verifier, once per
 * configured secret (both sign during a rotation). Back-off and the dead-letter age are made
 * short by configuration.
 */
import { WEBHOOK_EVENT_TYPES, type WebhookEndpoint, type WebhooksConfig } from '@chat/service/config';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { spawnInstance, stopAllInstances } from './reliability/support/child.ts';

interface Request {
  endpoint: string;
  id: string;
  event: any;
  status: number;
}

let db: TestDatabase;
let a: Instance;
let b: Instance;
let server: Server;
let origin = '';
/** Every request, in arrival order, with the status it got. */
const log: Request[] = [];
const problems: string[] = [];
/** Message bodies whose message.created crm refuses (503) this many more times. */
const refuse = new Map<string, number>();
/** Message bodies whose first request is never answered (the instance dies meanwhile). */
const hold = new Set<string>();
let downIsUp = false;
const secrets: Record<string, string[]> = { crm: [secret(), secret()], tickets: [secret()], down: [secret()] };
const token: Record<string, string> = {};
let endpoints: WebhookEndpoint[] = [];
const timing = { retryBaseMs: 100, retryMaxMs: 800, deadLetterAfterMs: 2500 };

function secret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function answer(endpoint: string, event: any): number | null {
  const body: unknown = event?.data?.message?.body;
  if (typeof body === 'string' && hold.delete(body)) return null;
  if (endpoint === 'down') return downIsUp ? 204 : 500;
  const left = endpoint === 'crm' && typeof body === 'string' ? (refuse.get(body) ?? 0) : 0;
  if (left > 0) {
    refuse.set(body as string, left - 1);
    return 503;
  }
  return 204;
}

beforeAll(async () => {
  db = await createTestDatabase();
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const endpoint = (request.url ?? '').slice(1);
      const id = String(request.headers['webhook-id']);
      try {
        // Every configured secret verifies the request on its own (rotation).
        let event: any;
        for (const key of secrets[endpoint]!) event = new Webhook(key).verify(body, request.headers as Record<string, string>);
        const status = answer(endpoint, event);
        log.push({ endpoint, id, event, status: status ?? 0 });
        if (status !== null) response.writeHead(status).end();
      } catch (error) {
        problems.push(String(error));
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const everything = WEBHOOK_EVENT_TYPES.filter((t) => t !== 'read' && t !== 'delivered');
  endpoints = [
    { id: 'crm', url: `${origin}/crm`, secrets: secrets.crm!, events: everything },
    { id: 'tickets', url: `${origin}/tickets`, secrets: secrets.tickets!, events: ['message.created'] },
    { id: 'down', url: `${origin}/down`, secrets: secrets.down!, events: ['message.created'] },
  ];
  const options = { webhooks: { endpoints, ...timing } satisfies WebhooksConfig };
  [a, b] = await Promise.all([startInstance(db.url, options), startInstance(db.url, options)]);
  for (const user of ['ann', 'ben', 'cat', 'dan']) {
    token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await stopAllInstances();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await db?.drop();
});

async function send(instance: Instance, user: string, conversationId: string, body: string) {
  const sent = await api(instance, token[user]!, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: `${body}-${Math.random()}`, body });
  expect(sent.status).toBe(201);
  return sent.body.message as { id: string; seq: number };
}

async function change(instance: Instance, user: string, method: string, path: string, body?: unknown) {
  const response = await api(instance, token[user]!, method, `/v1/conversations/${path}`, body);
  expect([path, response.status]).toEqual([path, 200]);
}

/** What an endpoint accepted for a conversation, in arrival order. */
const accepted = (endpoint: string, conversationId: string) => log.filter((r) => r.endpoint === endpoint && r.status === 204 && r.event.data.conversationId === conversationId);

describe('webhooks', () => {
  it('delivers every event type, signed, once each and in seq order; an endpoint gets only the types it subscribes to', async () => {
    const id = (await api(a, token.ann!, 'POST', '/v1/conversations', { title: 'Shop floor', memberIds: ['ben', 'cat'] })).body.id as string;
    const first = await send(a, 'ann', id, 'one');
    const second = await send(b, 'ben', id, 'two');
    await change(b, 'ann', 'PATCH', `${id}/messages/${first.id}`, { body: 'one, edited' });
    await change(a, 'ben', 'PUT', `${id}/messages/${first.id}/reactions/${encodeURIComponent('👍')}`);
    await change(a, 'ben', 'DELETE', `${id}/messages/${first.id}/reactions/${encodeURIComponent('👍')}`);
    await change(b, 'ann', 'PUT', `${id}/members/ben/role`, { role: 'admin' });
    await change(a, 'ann', 'PATCH', id, { title: 'Back office' });
    await change(a, 'ann', 'DELETE', `${id}/members/cat`);
    await change(b, 'ann', 'DELETE', `${id}/messages/${first.id}`);
    await change(a, 'ben', 'POST', `${id}/read`, { upTo: second.seq });
    await change(a, 'ann', 'DELETE', id);
    await eventually(() => accepted('crm', id).some((r) => r.event.type === 'conversation.deleted'), 'conversation.deleted at crm', 20_000);
    await eventually(() => accepted('tickets', id).length === 2, 'two messages at tickets', 20_000);

    const crm = accepted('crm', id);
    expect(crm.map((r) => r.event.type)).toEqual([
      'member.added',
      'member.added',
      'member.added',
      'message.created',
      'message.created',
      'message.edited',
      'reaction.added',
      'reaction.removed',
      'member.role_changed',
      'conversation.updated',
      'member.removed',
      'message.deleted',
      'conversation.deleted',
    ]);
    const seqs = crm.map((r) => r.event.data.seq as number);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(crm.map((r) => r.id)).size).toBe(crm.length);
    for (const r of crm) expect(r.id).toBe(r.event.type === 'message.created' ? `msg_${r.event.data.message.id}` : `evt_${id}_${r.event.data.seq}`);
    const byType = (type: string) => crm.find((r) => r.event.type === type)!.event;
    expect(crm.find((r) => r.id === `msg_${second.id}`)!.event).toMatchObject({
      type: 'message.created',
      data: { conversationId: id, seq: second.seq, message: { id: second.id, seq: second.seq, senderId: 'ben', senderName: 'BEN', encrypted: false, body: 'two' } },
    });
    expect(byType('message.edited').data).toMatchObject({ conversationId: id, actorId: 'ann', messageId: first.id });
    expect(byType('reaction.added').data).toMatchObject({ actorId: 'ben', messageId: first.id, userId: 'ben', emoji: '👍' });
    expect(byType('member.role_changed').data).toMatchObject({ userId: 'ben', role: 'admin' });
    expect(byType('conversation.updated').data).toMatchObject({ title: 'Back office' });
    expect(byType('member.removed').data).toMatchObject({ userId: 'cat', reason: 'removed' });
    expect(byType('message.deleted').data).toMatchObject({ messageId: first.id });
    expect(byType('member.added').data.member).toMatchObject({ userId: 'ann' });
    // tickets subscribes to message.created only; nobody subscribes to read.
    expect(accepted('tickets', id).map((r) => r.id).sort()).toEqual([`msg_${first.id}`, `msg_${second.id}`].sort());
    expect(log.filter((r) => r.endpoint === 'tickets' && r.event.type !== 'message.created')).toEqual([]);
    expect(log.filter((r) => r.event.type === 'read')).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('keeps a conversation in order while an early event is retried: later events wait behind it', async () => {
    const id = (await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'dan' })).body.id as string;
    refuse.set('early', 3);
    const sent = [await send(a, 'ann', id, 'early'), await send(b, 'dan', id, 'later one'), await send(a, 'ann', id, 'later two')];
    await eventually(() => accepted('crm', id).some((r) => r.id === `msg_${sent[2]!.id}`), 'the last message at crm', 20_000);
    const requests = log.filter((r) => r.endpoint === 'crm' && r.event.data.conversationId === id && r.event.type === 'message.created');
    // Three refusals of the early message, then each message accepted once, in seq order, nothing in between.
    expect(requests.map((r) => [r.event.data.message.body, r.status])).toEqual([
      ['early', 503],
      ['early', 503],
      ['early', 503],
      ['early', 204],
      ['later one', 204],
      ['later two', 204],
    ]);
    expect(requests.map((r) => r.id).slice(3)).toEqual(sent.map((m) => `msg_${m.id}`));
    expect(problems).toEqual([]);
  });

  it('dead-letters an event refused past the configured age; replay delivers the dead letters in order', async () => {
    const id = (await api(a, token.ben!, 'POST', '/v1/conversations/direct', { userId: 'cat' })).body.id as string;
    const sent = [await send(a, 'ben', id, 'lost one'), await send(b, 'ben', id, 'lost two')];
    const metrics = async () => (await (await fetch(`${a.http}/metrics`)).text()) + (await (await fetch(`${b.http}/metrics`)).text());
    await eventually(async () => /chat_webhook_failing_conversations\{endpoint="down"[^}]*\} [1-9]/.test(await metrics()), 'the failing gauge', 10_000);
    expect(await metrics()).toMatch(/chat_webhook_oldest_failing_seconds\{endpoint="down"[^}]*\} \d/);
    type Row = { event_id: string; seq: number; conversation_id: string; attempts: number; last_status: number; failed_at: Date };
    let rows: Row[] = [];
    await eventually(
      async () => {
        rows = await db.sql<Row[]>`select event_id, seq, conversation_id, attempts, last_status, failed_at from webhook_dead_letters where endpoint_id = 'down' and conversation_id = ${id} order by id`;
        return rows.length === 2;
      },
      'two dead letters',
      20_000,
    );
    expect(rows.map((r) => [r.event_id, Number(r.seq), r.last_status])).toEqual(sent.map((m) => [`msg_${m.id}`, m.seq, 500]));
    // Refused for the whole age (back-off 100, 200, 400, 800 ms...) before it was written off.
    expect(rows[0]!.attempts).toBeGreaterThanOrEqual(3);
    const text = await metrics();
    expect(text).toMatch(/chat_webhook_deliveries_total\{endpoint="down",outcome="dead"[^}]*\} \d+/);
    expect(text).toMatch(/chat_webhook_deliveries_total\{endpoint="down",outcome="retry"[^}]*\} \d+/);
    expect(text).toMatch(/chat_webhook_deliveries_total\{endpoint="crm",outcome="delivered"[^}]*\} \d+/);

    // The endpoint is back: the operator replays its dead letters (every conversation's so far).
    downIsUp = true;
    const before = log.length;
    const report = JSON.parse(await replay(['--endpoint', 'down']));
    expect(report.failed).toEqual([]);
    expect(report.replayed).toBeGreaterThanOrEqual(2);
    const replayed = log.slice(before).filter((r) => r.event.data.conversationId === id);
    expect(replayed.map((r) => [r.id, r.status])).toEqual(sent.map((m) => [`msg_${m.id}`, 204]));
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from webhook_dead_letters where endpoint_id = 'down' and replayed_at is null`;
    expect(left!.n).toBe(0);
    // Nothing is sent twice by a second replay.
    expect(JSON.parse(await replay(['--endpoint', 'down']))).toMatchObject({ replayed: 0, failed: [] });
    expect(problems).toEqual([]);
  });
});

const service = fileURLToPath(new URL('..', import.meta.url));

/** Runs the replay command as an operator would (pnpm's `webhooks:replay` runs this file with tsx). */
async function replay(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/webhooks/replay-cli.ts', '--', ...args], {
    cwd: service,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', DATABASE_URL: db.url, WEBHOOKS: JSON.stringify(endpoints) },
    timeout: 30_000,
  });
  return stdout;
}

describe('webhooks after kill -9', () => {
  it('an event in flight when its instance died is delivered by another, before the next one', async () => {
    const own = await createTestDatabase();
    let rescuer: Instance | null = null;
    try {
      const crm = [{ ...endpoints[0]!, events: ['message.created' as const] }];
      const child = await spawnInstance('webhook-k9', own.url, { WEBHOOKS: JSON.stringify(crm), WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_RETRY_MAX_MS: '500' });
      const at = { http: child.http } as Instance;
      for (const user of ['kim', 'lou']) {
        token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
        expect((await api(at, token[user]!, 'GET', '/v1/me')).status).toBe(200);
      }
      const id = (await api(at, token.kim!, 'POST', '/v1/conversations/direct', { userId: 'lou' })).body.id as string;
      hold.add('before the crash');
      const before = await send(at, 'kim', id, 'before the crash');
      await eventually(() => log.some((r) => r.id === `msg_${before.id}`), 'the delivery in flight', 20_000);
      child.signal('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      rescuer = await startInstance(own.url, { webhooks: { endpoints: crm, ...timing } });
      await eventually(() => accepted('crm', id).length === 1, 'the delivery from the rescuer', 20_000);
      const after = await send(rescuer, 'lou', id, 'after the crash');
      await eventually(() => accepted('crm', id).length === 2, 'the next message', 20_000);
      expect(accepted('crm', id).map((r) => r.id)).toEqual([`msg_${before.id}`, `msg_${after.id}`]);
      expect(log.filter((r) => r.id === `msg_${before.id}`).map((r) => r.status)).toEqual([0, 204]);
      await eventually(async () => (await own.sql`select 1 from graphile_worker.jobs where locked_by is not null`).length === 0, 'no job left locked', 20_000);
    } finally {
      await rescuer?.close();
      await stopAllInstances();
      await own.drop();
    }
  });
});
