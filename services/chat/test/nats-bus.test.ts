/**
 * The NATS JetStream bus passes the bus contract against a real nats-server started here,
 * and its outbox keeps what a writer committed but never published: the relay publishes
 * it within the bound, and JetStream stores each event once whoever publishes it.
 */
import { connect } from '@chat/db';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusListener, StreamEvent } from '../src/fanout/bus.ts';
import { NatsBus } from '../src/fanout/nats-bus.ts';
import { busContract } from './contract/bus-contract.ts';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { startNatsServer, type NatsServer } from '@chat/test-support/nats';

const log = pino({ level: 'silent' });

function natsBus(db: ReturnType<typeof connect>['db'], url: string, stream: string, relayAfterMs = 1000): NatsBus {
  return new NatsBus({ servers: [url], db, log, name: 'test', subjectPrefix: stream.toLowerCase(), stream, streamReplicas: 1, relayAfterMs, reconnectWaitMs: 50 });
}

busContract('NatsBus (JetStream, interest-routed)', async () => {
  const db = await createTestDatabase();
  const nats = await startNatsServer();
  const handles = connect(db.url, { max: 2 });
  const bus = natsBus(handles.db, nats.url, 'CONTRACT');
  return {
    bus,
    db: handles.db,
    async disrupt() {
      await nats.kill();
      await nats.start();
    },
    async close() {
      await bus.stop();
      await handles.end();
      await nats.stop();
      await db.drop();
    },
  };
});

describe('NatsBus outbox', () => {
  let db: TestDatabase;
  let nats: NatsServer;
  let handles: ReturnType<typeof connect>;
  let other: ReturnType<typeof connect>;
  let bus: NatsBus;
  const received: StreamEvent[] = [];
  const listener: BusListener = { onEvents: (events) => received.push(...events), onSignal: () => {}, onResubscribed: () => {} };

  beforeAll(async () => {
    db = await createTestDatabase();
    nats = await startNatsServer();
    handles = connect(db.url, { max: 2 });
    // A second handle whose transactions the bus does not see commit: like a writer that
    // died right after its commit, it leaves the publish to the relay.
    other = connect(db.url, { max: 1 });
    bus = natsBus(handles.db, nats.url, 'OUTBOX', 500);
    await bus.start(listener);
  });
  afterAll(async () => {
    await bus?.stop();
    await handles?.end();
    await other?.end();
    await nats?.stop();
    await db?.drop();
  });

  it('publishes right after commit and leaves no outbox row behind', async () => {
    const id = '00000000-0000-4000-8000-000000000101';
    await bus.watch(`c:${id}`);
    const started = Date.now();
    await handles.db.transaction((tx) => bus.publish(tx, [{ conversationId: id, seq: 1, frame: '{"fast":true}', access: null }]));
    await eventually(() => received.some((e) => e.conversationId === id), 'the event');
    // Well under the relay's bound: the writer published it, not the relay.
    expect(received.find((e) => e.conversationId === id)?.frame).toBe('{"fast":true}');
    expect(Date.now() - started).toBeLessThan(500);
    await eventually(async () => (await db.sql`select count(*)::int as n from bus_outbox where conversation_id = ${id}`)[0]!.n === 0, 'the row deleted');
  });

  it('relays, by reference and within the bound, what a writer committed and never published; JetStream stores it once', async () => {
    const id = '00000000-0000-4000-8000-000000000102';
    await bus.watch(`c:${id}`);
    const committedAt = Date.now();
    await other.db.transaction((tx) => bus.publish(tx, [{ conversationId: id, seq: 7, frame: '{"lost":true}', access: null }]));
    expect((await db.sql`select count(*)::int as n from bus_outbox where conversation_id = ${id}`)[0]!.n).toBe(1);
    await eventually(() => received.some((e) => e.conversationId === id), 'the relayed event', 10_000);
    const latency = Date.now() - committedAt;
    console.log(`outbox relay: committed-but-unpublished event delivered after ${latency} ms (bound 500 ms + a pass every ~250 ms)`);
    expect(received.filter((e) => e.conversationId === id)).toEqual([{ conversationId: id, seq: 7, frame: null, access: null }]);
    expect(latency).toBeLessThan(2000);
    await eventually(async () => (await db.sql`select count(*)::int as n from bus_outbox where conversation_id = ${id}`)[0]!.n === 0, 'the row deleted');

    // Published again under the same message id (a writer that was only slow): the stream keeps one.
    const nc = await natsConnect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const before = (await jsm.streams.info('OUTBOX')).state.messages;
      await handles.db.transaction((tx) => bus.publish(tx, [{ conversationId: id, seq: 7, frame: '{"again":true}', access: null }]));
      await eventually(() => received.filter((e) => e.conversationId === id).length === 2, 'the second copy reaches the core subscriber');
      expect((await jsm.streams.info('OUTBOX')).state.messages).toBe(before);
    } finally {
      await nc.close();
    }
  });

  it('writes the outbox rows of message sends through the trigger, only where the connection asks for it', async () => {
    await db.sql`insert into users (id, name) values ('u1', 'U1')`;
    const conversation = (await db.sql<{ id: string }[]>`insert into conversations (kind, title, creator_id) values ('group', 't', 'u1') returning id`)[0]!.id;
    const insert = (sql: typeof db.sql, seq: number) =>
      sql`insert into messages (id, conversation_id, seq, sender_id, client_msg_id, body) values (gen_random_uuid(), ${conversation}, ${seq}, 'u1', ${`m${seq}`}, 'hi')`;
    await insert(db.sql, 1);
    expect((await db.sql`select seq from bus_outbox where conversation_id = ${conversation}`).length).toBe(0);
    const outboxing = connect(db.url, { max: 1, settings: { 'chat.bus_outbox': 'on' } });
    try {
      await outboxing.writer`insert into messages (id, conversation_id, seq, sender_id, client_msg_id, body) values (gen_random_uuid(), ${conversation}, 2, 'u1', 'm2', 'hi'), (gen_random_uuid(), ${conversation}, 3, 'u1', 'm3', 'hi')`;
    } finally {
      await outboxing.end();
    }
    expect((await db.sql<{ seq: number }[]>`select seq from bus_outbox where conversation_id = ${conversation} order by seq`).map((r) => r.seq)).toEqual([2, 3]);
  });
});
