/**
 * Signed webhooks (issue 15): real instances, the real job queue, and a receiver on loopback
 * that checks every request with the standardwebhooks package's own verifier, once per
 * configured secret (both sign during a rotation).
 */
import type { WebhookEndpoint } from '@chat/service/config';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';

interface Delivery {
  endpoint: string;
  id: string;
  event: any;
}

let db: TestDatabase;
let a: Instance;
let b: Instance;
let server: Server;
let origin = '';
const delivered: Delivery[] = [];
const requests = new Map<string, number>();
const problems: string[] = [];
/** crm requests to answer 503 before accepting again. */
let failCrm = 0;
const secrets = { crm: [secret(), secret()], down: [secret()] };
const token: Record<string, string> = {};

function secret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

beforeAll(async () => {
  db = await createTestDatabase();
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const endpoint = (request.url ?? '').slice(1) as keyof typeof secrets;
      const id = String(request.headers['webhook-id']);
      requests.set(`${endpoint}:${id}`, (requests.get(`${endpoint}:${id}`) ?? 0) + 1);
      if (endpoint === 'down') return response.writeHead(500).end();
      try {
        // Every configured secret verifies the request on its own (rotation).
        let event: unknown;
        for (const key of secrets[endpoint]) event = new Webhook(key).verify(body, request.headers as Record<string, string>);
        if (endpoint === 'crm' && failCrm > 0) {
          failCrm--;
          return response.writeHead(503).end();
        }
        delivered.push({ endpoint, id, event });
        response.writeHead(204).end();
      } catch (error) {
        problems.push(String(error));
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const endpoints: WebhookEndpoint[] = [
    { id: 'crm', url: `${origin}/crm`, secrets: secrets.crm, events: ['message.created'] },
    { id: 'down', url: `${origin}/down`, secrets: secrets.down, events: ['message.created'] },
  ];
  const options = { webhooks: { endpoints, maxAttempts: 2 } };
  [a, b] = await Promise.all([startInstance(db.url, options), startInstance(db.url, options)]);
  for (const user of ['ann', 'ben']) {
    token[user] = await mintV4({ sub: user, name: user.toUpperCase() });
    expect((await api(a, token[user]!, 'GET', '/v1/me')).status).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await db?.drop();
});

async function send(instance: Instance, conversationId: string, body: string) {
  const sent = await api(instance, token.ann!, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: `${body}-${Math.random()}`, body });
  expect(sent.status).toBe(201);
  return sent.body.message as { id: string; seq: number };
}

const crm = () => delivered.filter((d) => d.endpoint === 'crm');

describe('webhooks', () => {
  let conversationId = '';

  it('delivers message.created, signed with every secret, once per message across instances', async () => {
    conversationId = (await api(a, token.ann!, 'POST', '/v1/conversations/direct', { userId: 'ben' })).body.id;
    const sent = [await send(a, conversationId, 'one'), await send(b, conversationId, 'two'), await send(a, conversationId, 'three')];
    await eventually(() => crm().length === 3, 'three deliveries', 20_000);
    expect(problems).toEqual([]);
    expect(crm().map((d) => d.id).sort()).toEqual(sent.map((m) => `msg_${m.id}`).sort());
    const first = crm().find((d) => d.id === `msg_${sent[0]!.id}`)!;
    expect(first.event).toMatchObject({
      type: 'message.created',
      data: { conversationId, message: { id: sent[0]!.id, seq: sent[0]!.seq, senderId: 'ann', senderName: 'ANN', body: 'one' } },
    });
  });

  it('retries a failed delivery with the same webhook-id, and delivers it once', async () => {
    const before = crm().length;
    failCrm = 1;
    const message = await send(a, conversationId, 'retry me');
    const id = `msg_${message.id}`;
    await eventually(() => crm().some((d) => d.id === id), 'the delivery after a retry', 20_000);
    expect(requests.get(`crm:${id}`)).toBe(2);
    expect(crm().filter((d) => d.id === id)).toHaveLength(1);
    expect(crm().length).toBe(before + 1);
  });

  it('dead-letters an event once its attempts are spent, and counts outcomes', async () => {
    type Row = { endpoint_id: string; event_id: string; attempts: number; last_status: number };
    let rows: Row[] = [];
    await eventually(
      async () => {
        rows = await db.sql<Row[]>`select endpoint_id, event_id, attempts, last_status from webhook_dead_letters where endpoint_id = 'down'`;
        return rows.length >= 4;
      },
      'dead letters for the endpoint that is down',
      30_000,
    );
    expect(rows.every((r) => r.attempts === 2 && r.last_status === 500)).toBe(true);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length);
    const metrics = await (await fetch(`${a.http}/metrics`)).text();
    const b2 = await (await fetch(`${b.http}/metrics`)).text();
    expect(metrics + b2).toMatch(/chat_webhook_deliveries_total\{endpoint="crm",outcome="delivered"[^}]*\} \d+/);
    expect(metrics + b2).toMatch(/chat_webhook_deliveries_total\{endpoint="down",outcome="dead"[^}]*\} \d+/);
    expect(problems).toEqual([]);
  });
});
