import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, testBus, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4, mintV5 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let a: Instance;
let b: Instance;
let alice: string;
let bob: string;
let carol: string;
let conversationId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(db.url), startInstance(db.url)]);
  alice = await mintV4({ sub: 'alice', name: 'Alice' });
  bob = await mintV5({ sub: 'bob', name: 'Bob' });
  carol = await mintV4({ sub: 'carol', name: 'Carol' });
  for (const token of [alice, bob, carol]) expect((await api(a, token, 'GET', '/v1/me')).status).toBe(200);
  const created = await api(a, alice, 'POST', '/v1/conversations/direct', { userId: 'bob' });
  expect(created.status).toBe(201);
  conversationId = created.body.id;
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

describe('a message crosses instances', () => {
  it('reaches the recipient on the other instance and the sender’s other tab, after commit', async () => {
    const aliceTab1 = await TestClient.live(a.ws, alice);
    const aliceTab2 = await TestClient.live(b.ws, alice);
    const bobOnB = await TestClient.live(b.ws, bob);

    const ack = await aliceTab1.request({ type: 'message.send', conversationId, clientMsgId: 'm-1', body: 'hello bob' });
    expect(ack.duplicate).toBe(false);
    expect(ack.message.seq).toBeGreaterThan(0);
    // Durable before ack: the row is there the moment the ack arrives.
    const [row] = await db.sql`select body, seq from messages where id = ${ack.message.id}`;
    expect(row).toEqual({ body: 'hello bob', seq: ack.message.seq });

    for (const client of [bobOnB, aliceTab2, aliceTab1]) {
      const event = await client.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
      expect(event).toMatchObject({ conversationId, seq: ack.message.seq, message: { body: 'hello bob', senderId: 'alice' } });
    }
    await Promise.all([aliceTab1.close(), aliceTab2.close(), bobOnB.close()]);
  });

  it('does not deliver to non-members', async () => {
    const carolClient = await TestClient.live(b.ws, carol);
    const bobClient = await TestClient.live(b.ws, bob);
    const sender = await TestClient.live(a.ws, alice);
    const ack = await sender.request({ type: 'message.send', conversationId, clientMsgId: 'm-private', body: 'only for bob' });
    await bobClient.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    expect(carolClient.frames.some((f) => f.type === 'message.created')).toBe(false);
    await Promise.all([carolClient.close(), bobClient.close(), sender.close()]);
  });

  it('a retried clientMsgId returns the original message and stores one row', async () => {
    const client = await TestClient.live(a.ws, alice);
    const first = await client.request({ type: 'message.send', conversationId, clientMsgId: 'retry-1', body: 'once' });
    const again = await client.request({ type: 'message.send', conversationId, clientMsgId: 'retry-1', body: 'once' });
    const overHttp = await api(b, alice, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: 'retry-1', body: 'once' });
    expect(again).toEqual({ message: first.message, duplicate: true });
    expect(overHttp.status).toBe(200);
    expect(overHttp.body).toEqual({ message: first.message, duplicate: true });
    // Concurrent copies of one send, on two instances at once.
    const racers = await Promise.all([
      client.request({ type: 'message.send', conversationId, clientMsgId: 'race-1', body: 'x' }),
      api(b, alice, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: 'race-1', body: 'x' }).then((r) => r.body),
      client.request({ type: 'message.send', conversationId, clientMsgId: 'race-1', body: 'x' }),
    ]);
    expect(new Set(racers.map((r) => r.message.id)).size).toBe(1);
    const [{ count }] = await db.sql<[{ count: number }]>`select count(*)::int from messages where sender_id = 'alice' and client_msg_id in ('retry-1', 'race-1')`;
    expect(count).toBe(2);
    await client.close();
  });

  it('sends over HTTP reach sockets too', async () => {
    const bobClient = await TestClient.live(a.ws, bob);
    const sent = await api(b, alice, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: 'http-1', body: 'via http' });
    expect(sent.status).toBe(201);
    await bobClient.waitFor((f) => f.type === 'message.created' && f.message.id === sent.body.message.id);
    await bobClient.close();
  });

  it('keeps seq strictly increasing with no gaps under concurrent senders on both instances', async () => {
    const watcher = await TestClient.live(b.ws, bob);
    const start = (await api(a, alice, 'GET', `/v1/conversations/${conversationId}`)).body.lastSeq as number;
    const clients = await Promise.all([TestClient.live(a.ws, alice), TestClient.live(b.ws, alice), TestClient.live(a.ws, bob)]);
    await Promise.all(
      clients.flatMap((client, c) =>
        Array.from({ length: 40 }, (_, i) => client.request({ type: 'message.send', conversationId, clientMsgId: `burst-${c}-${i}`, body: `b${c}-${i}` })),
      ),
    );
    const seqs = await eventually(() => {
      const got = watcher.messages(conversationId).map((f) => f.seq as number).filter((s) => s > start);
      return got.length >= 120 ? got : null;
    }, '120 events');
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => start + 1 + i));
    // Sends on one socket are committed in the order the frames arrived (batches are
    // pipelined on one connection): each client's seqs rise with its send index.
    const seqOf = new Map(watcher.messages(conversationId).map((f) => [f.message.clientMsgId as string, f.seq as number]));
    for (let c = 0; c < clients.length; c++) {
      const own = Array.from({ length: 40 }, (_, i) => seqOf.get(`burst-${c}-${i}`)!);
      expect(own).toEqual([...own].sort((x, y) => x - y));
    }
    await Promise.all([watcher.close(), ...clients.map((c) => c.close())]);
  });

  it('a conversation created while a member is connected streams to that member without a reconnect', async () => {
    const carolClient = await TestClient.live(b.ws, carol);
    const created = await api(a, alice, 'POST', '/v1/conversations/direct', { userId: 'carol' });
    expect(created.status).toBe(201);
    await carolClient.waitFor((f) => f.type === 'member.added' && f.conversationId === created.body.id && f.member.userId === 'carol');
    const sender = await TestClient.live(a.ws, alice);
    const ack = await sender.request({ type: 'message.send', conversationId: created.body.id, clientMsgId: 'new-dm-1', body: 'hi carol' });
    await carolClient.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id);
    await Promise.all([carolClient.close(), sender.close()]);
  });

  // The outage here is PostgreSQL's LISTEN connection; on the NATS bus, the nats-server
  // outage is the contract suite's and test/reliability/nats-faults.test.ts's.
  it.skipIf(testBus() === 'nats')('membership changes committed while an instance’s listener was down still reach its sockets', async () => {
    const c = await startInstance(db.url, { listenerRetryMs: 3000 });
    const carolOnC = await TestClient.live(c.ws, carol);
    await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'chat-listener' and datname = current_database()`;
    await eventually(async () => (await fetch(`${c.http}/readyz`)).status === 503, 'c not ready');
    const group = await api(a, alice, 'POST', '/v1/conversations', { title: 'during outage', memberIds: ['carol'] });
    const sender = await TestClient.live(a.ws, alice);
    const ack = await sender.request({ type: 'message.send', conversationId: group.body.id, clientMsgId: 'outage-group-1', body: 'did you get this?' });
    expect((await fetch(`${c.http}/readyz`)).status).toBe(503);
    await carolOnC.waitFor((f) => f.type === 'message.created' && f.message.id === ack.message.id, 'message after recovery');
    await Promise.all([carolOnC.close(), sender.close()]);
    await c.close();
  });
});
