import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createTestDatabase, eventually, startInstance, testBus, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

let db: TestDatabase;
let a: Instance;
let b: Instance;
let alice: string;
let bob: string;
let conversationId: string;

async function sendMany(count: number, prefix: string, instance = a, token = alice) {
  const acks = [];
  for (let i = 0; i < count; i++) {
    const r = await api(instance, token, 'POST', `/v1/conversations/${conversationId}/messages`, { clientMsgId: `${prefix}-${i}`, body: `${prefix} ${i}` });
    expect(r.status).toBe(201);
    acks.push(r.body.message);
  }
  return acks;
}

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(db.url), startInstance(db.url)]);
  alice = await mintV4({ sub: 'alice' });
  bob = await mintV4({ sub: 'bob' });
  await api(a, bob, 'GET', '/v1/me');
  conversationId = (await api(a, alice, 'POST', '/v1/conversations', { title: 'history', memberIds: ['bob'] })).body.id;
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

describe('history', () => {
  let sentSeqs: number[] = [];
  it('pages backwards and forwards with no gap and no overlap', async () => {
    sentSeqs = (await sendMany(123, 'h')).map((m) => m.seq);
    const path = `/v1/conversations/${conversationId}/messages`;

    const backwards: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await api(b, bob, 'GET', `${path}?limit=50${before ? `&before=${before}` : ''}`);
      expect(page.status).toBe(200);
      const seqs = page.body.messages.map((m: { seq: number }) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y)); // ascending within a page
      backwards.unshift(...seqs);
      if (!page.body.hasMore) break;
      before = seqs[0];
    }
    expect(backwards).toEqual(sentSeqs);

    const forwards: number[] = [];
    let after = 0;
    for (;;) {
      const page = await api(a, bob, 'GET', `${path}?limit=40&after=${after}`);
      const seqs = page.body.messages.map((m: { seq: number }) => m.seq);
      forwards.push(...seqs);
      if (!page.body.hasMore) break;
      after = seqs[seqs.length - 1];
    }
    expect(forwards).toEqual(backwards);
  });

  it('defaults to the newest 50 and refuses pages over 100', async () => {
    const page = await api(a, alice, 'GET', `/v1/conversations/${conversationId}/messages`);
    expect(page.body.messages).toHaveLength(50);
    expect(page.body.messages[49].seq).toBe(sentSeqs.at(-1));
    const tooBig = await api(a, alice, 'GET', `/v1/conversations/${conversationId}/messages?limit=101`);
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.code).toBe('VALIDATION_FAILED');
  });

  it('lists the conversation with its last message and unread count', async () => {
    const list = await api(b, bob, 'GET', '/v1/conversations');
    const conversation = list.body.conversations.find((c: { id: string }) => c.id === conversationId);
    expect(conversation.lastMessage.seq).toBe(conversation.lastSeq);
    expect(conversation.unreadCount).toBe(100); // capped
    expect(list.body.totalUnread).toBeGreaterThanOrEqual(100);
  });
});

describe('resume', () => {
  it('a client that reconnects with its last seq gets exactly what it missed, then the live stream', async () => {
    const first = await TestClient.live(b.ws, bob, { [conversationId]: 0 });
    // Its replay is the whole stream so far: the members joining, then the messages.
    const before = await eventually(() => {
      const got = first.messages(conversationId);
      return got.length >= 123 ? got : null;
    });
    expect(first.frames.filter((f) => f.type === 'member.added').map((f) => f.member.userId)).toEqual(['alice', 'bob']);
    const lastSeen = before[before.length - 1]!.seq as number;
    await first.close();

    const missed = await sendMany(7, 'offline', a);
    const second = await TestClient.live(a.ws, bob, { [conversationId]: lastSeen });
    // Messages sent while the replay runs must come after it, once each.
    const live = sendMany(5, 'during', b);
    await live;
    const seqs = await eventually(() => {
      const got = second.messages(conversationId).map((f) => f.seq as number);
      return got.length >= 12 ? got : null;
    }, '12 events');
    expect(seqs).toEqual(Array.from({ length: 12 }, (_, i) => lastSeen + 1 + i));
    expect(second.messages(conversationId).slice(0, 7).map((f) => f.message.id)).toEqual(missed.map((m) => m.id));
    await second.close();
  });

  it('lists every conversation in the ack so a client can find new ones', async () => {
    const client = await TestClient.connect(a.ws, { token: bob });
    const result = await client.request({ type: 'resume', conversations: {} });
    expect(result.conversations).toContainEqual({ id: conversationId, lastSeq: expect.any(Number) });
    expect(result.replayed).toBe(0);
    await client.close();
  });

  // PostgreSQL's LISTEN connections are the outage here; on the NATS bus, a nats-server
  // outage is test/reliability/nats-faults.test.ts's.
  it.skipIf(testBus() === 'nats')('replays events committed while the fan-out listener was down', async () => {
    const c = await startInstance(db.url, { listenerRetryMs: 3000 }); // reconnects after ≥ 1.5 s
    const watcher = await TestClient.live(c.ws, bob);
    const start = (await api(a, alice, 'GET', `/v1/conversations/${conversationId}`)).body.lastSeq as number;
    const listeners = await db.sql`select pid from pg_stat_activity where application_name = 'chat-listener' and datname = current_database()`;
    expect(listeners).toHaveLength(3);
    // Kill every LISTEN connection of this database; c notices and stays down for a while.
    await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'chat-listener' and datname = current_database()`;
    await eventually(async () => (await fetch(`${c.http}/readyz`)).status === 503, 'c not ready');
    const sent = await sendMany(10, 'outage', a);
    expect((await fetch(`${c.http}/readyz`)).status).toBe(503); // all ten committed during c's outage
    const seqs = await eventually(() => {
      const got = watcher.messages(conversationId).map((f) => f.seq as number).filter((s) => s > start);
      return got.length >= 10 ? got : null;
    }, 'events after listener restart');
    expect(seqs).toEqual(sent.map((m) => m.seq));
    expect(await (await fetch(`${c.http}/metrics`)).text()).toMatch(/chat_gap_filled_events_total\{[^}]*\} (1\d|[2-9]\d)/);
    await eventually(async () => (await fetch(`${c.http}/readyz`)).status === 200, 'c ready again');
    await watcher.close();
    await c.close();
  });
});
