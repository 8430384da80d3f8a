/**
 * The fan-out wire format: no field can end a record or forge another, whatever a user id
 * or a body holds; every decoded field is validated; a forged or corrupt record is dropped
 * and counted, never acted on or looped on. Both writers of the format are checked: the
 * TypeScript encoder and the SQL send function (`chat_send_messages_v2`).
 */
import { connect } from '@chat/db';
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageCreatedFrame } from '../src/db/message-writes.ts';
import type { Signal, StreamEvent } from '../src/fanout/bus.ts';
import { decode, encode, NOTIFY_LIMITS, PgBus } from '../src/fanout/pg-bus.ts';
import pino from 'pino';
import { api, createTestDatabase, eventually, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { mintV4 } from '@chat/test-support/tokens';
import { TestClient } from '@chat/test-support/ws-client';

function collect(payloads: string[]): { events: StreamEvent[]; signals: Signal[]; order: string[]; invalid: number } {
  const out = { events: [] as StreamEvent[], signals: [] as Signal[], order: [] as string[], invalid: 0 };
  for (const payload of payloads) {
    out.invalid += decode(payload, {
      onEvents: (events) => {
        out.events.push(...events);
        out.order.push(...events.map(() => 'e'));
      },
      onSignal: (signal) => {
        out.signals.push(signal);
        out.order.push('s');
      },
    });
  }
  return out;
}

/** Any text, including newlines, spaces, quotes, separators and astral characters. */
const text = (max: number) => fc.string({ unit: 'binary', minLength: 1, maxLength: max });
const userId = text(255);
const event: fc.Arbitrary<StreamEvent> = fc.record({
  conversationId: fc.uuid(),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  frame: fc.option(text(1500), { nil: null }),
  access: fc.option(fc.oneof(fc.record({ kind: fc.constant('removed' as const), userId }), fc.constant({ kind: 'closed' as const })), { nil: null }),
});
const signal: fc.Arbitrary<Signal> = fc.record({
  target: fc.oneof(fc.uuid().map((id) => `c:${id}`), userId.map((id) => `u:${id}`)),
  exclude: fc.option(userId, { nil: null }),
  frame: text(1500),
});

describe('the TypeScript encoder and decoder', () => {
  it('round-trip any events and signals in order, each payload under the NOTIFY limit', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), fc.array(signal, { maxLength: 10 }), (events, signals) => {
        const payloads = encode(events, signals);
        for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_LIMITS.maxPayloadBytes);
        const decoded = collect(payloads);
        expect(decoded.invalid).toBe(0);
        // A frame too large to travel inline travels by reference (null), never truncated.
        const inline = (e: StreamEvent) => {
          const access = e.access === null ? null : e.access.kind === 'removed' ? ['removed', e.access.userId] : ['closed'];
          return Buffer.byteLength(JSON.stringify(['e', e.conversationId, e.seq, e.frame, access])) <= NOTIFY_LIMITS.maxInlineFrameBytes;
        };
        expect(decoded.events).toEqual(events.map((e) => ({ ...e, frame: e.frame !== null && inline(e) ? e.frame : null })));
        expect(decoded.signals).toEqual(signals);
        expect(decoded.order).toEqual([...events.map(() => 'e'), ...signals.map(() => 's')]);
      }),
      { numRuns: 300 },
    );
  });

  it('drops and counts anything that is not a valid record, and never throws', () => {
    const id = '7a1c7a44-2f5e-4b0e-9d4e-0d4b9f6f2a11';
    const hostile = [
      // The old line format, as a crafted user id would have injected it.
      `${id} 5 {"type":"message.created"}\n${id} NaN -`,
      '',
      'null',
      '{}',
      '[1,2,3]',
      `[["e","${id}","5","{}",null]]`,
      `[["e","${id}",NaN,"{}",null]]`,
      `[["e","${id}",1.5,"{}",null]]`,
      `[["e","${id}",0,"{}",null]]`,
      `[["e","${id}",9007199254740993,"{}",null]]`,
      `[["e","not-a-uuid",5,"{}",null]]`,
      `[["e","${id}",5,{"type":"x"},null]]`,
      `[["e","${id}",5,"{}",["removed",""]]]`,
      `[["e","${id}",5,"{}",["admin","bob"]]]`,
      `[["s","x:${id}",null,"{}"]]`,
      `[["s","c:not-a-uuid",null,"{}"]]`,
      `[["s","u:",null,"{}"]]`,
      `[["s","u:bob",5,"{}"]]`,
      `[["s","u:bob",null,{}]]`,
      `[["x","u:bob",null,"{}"]]`,
    ];
    for (const payload of hostile) {
      const decoded = collect([payload]);
      expect([decoded.events, decoded.signals, decoded.invalid > 0], payload).toEqual([[], [], true]);
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (payload) => {
        const decoded = collect([payload]);
        for (const e of decoded.events) expect(Number.isSafeInteger(e.seq) && e.seq > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the SQL writer (chat_send_messages_v2)', () => {
  let db: TestDatabase;
  let listener: postgres.Sql;
  const received: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    listener = postgres(db.url, { max: 1, onnotice: () => {} });
    await listener.listen(NOTIFY_LIMITS.channel, (payload) => received.push(payload));
  });

  afterAll(async () => {
    await listener?.end({ timeout: 1 });
    await db?.drop();
  });

  it('PgBus.publish sends events and signals that span several payloads through PostgreSQL intact and in order', async () => {
    const bus = new PgBus({ url: db.url, log: pino({ level: 'silent' }) });
    const handles = connect(db.url, { max: 1 });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 12 }), fc.array(signal, { minLength: 1, maxLength: 12 }), async (events, signals) => {
        const before = received.length;
        const payloads = encode(events, signals);
        await handles.db.transaction((tx) => bus.publish(tx, events, signals));
        await eventually(() => received.length >= before + payloads.length, 'every payload');
        expect(received.slice(before)).toEqual(payloads);
      }),
      { numRuns: 30 },
    );
    await handles.end();
  });

  it('publishes records the decoder reads back exactly, for any sender id, clientMsgId and body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ sender: text(255), clientMsgId: text(64), body: fc.string({ unit: 'binary', minLength: 1, maxLength: 2500 }) }), { minLength: 1, maxLength: 5 }),
        async (items) => {
          // PostgreSQL text cannot hold U+0000 (the API refuses it at the boundary).
          const clean = items.map((i) => ({ sender: i.sender.replaceAll('\u0000', '.'), clientMsgId: i.clientMsgId.replaceAll('\u0000', '.'), body: i.body.replaceAll('\u0000', '.') }));
          const senders = [...new Set(clean.map((i) => i.sender))];
          await db.sql`insert into users (id) select * from unnest(${senders}::text[]) on conflict do nothing`;
          const [conversation] = await db.sql<{ id: string }[]>`insert into conversations (kind, title, creator_id) values ('group', 'codec', ${senders[0]!}) returning id`;
          await db.sql`insert into members (conversation_id, user_id) select ${conversation!.id}, * from unnest(${senders}::text[])`;
          const unique = [...new Map(clean.map((i) => [`${i.sender}\u0000${i.clientMsgId}`, i])).values()];
          const before = received.length;
          const rows = await db.sql<{ ord: number; outcome: string; message: string }[]>`
            select ord, outcome, message from chat_send_messages_v2(
              ${unique.map(() => crypto.randomUUID())}::uuid[], ${unique.map(() => conversation!.id)}::uuid[],
              ${unique.map((i) => i.sender)}::text[], ${unique.map((i) => `${i.clientMsgId}/${crypto.randomUUID()}`)}::text[],
              ${unique.map((i) => i.body)}::text[], ${unique.map(() => null)}::uuid[], ${unique.map(() => null)}::text[],
              ${unique.map(() => 'f')}::text[]::boolean[], 60::int, ${NOTIFY_LIMITS.channel}::text,
              ${NOTIFY_LIMITS.maxPayloadBytes}::int, ${NOTIFY_LIMITS.maxInlineFrameBytes}::int)`;
          expect(rows.map((r) => r.outcome)).toEqual(unique.map(() => 'created'));
          const messages = rows.sort((x, y) => x.ord - y.ord).map((r) => JSON.parse(r.message));
          await eventually(() => received.length > before, 'the notification');
          const decoded = collect(received.slice(before));
          expect(decoded.invalid).toBe(0);
          expect(decoded.events.map((e) => [e.conversationId, e.seq, e.access])).toEqual(messages.map((m) => [conversation!.id, m.seq, null]));
          for (const [i, e] of decoded.events.entries()) {
            const frame = messageCreatedFrame(messages[i]);
            if (e.frame === null) expect(Buffer.byteLength(JSON.stringify(['e', e.conversationId, e.seq, frame, null]))).toBeGreaterThan(NOTIFY_LIMITS.maxInlineFrameBytes);
            else expect(JSON.parse(e.frame)).toEqual(JSON.parse(frame));
          }
          for (const payload of received.slice(before)) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_LIMITS.maxPayloadBytes);
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});

describe('a running instance', () => {
  let db: TestDatabase;
  let a: Instance;

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await startInstance(db.url);
  });

  afterAll(async () => {
    await a?.close();
    await db?.drop();
  });

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${a.http}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('drops forged and corrupt records (counted), stays quiet, and still delivers what commits next', async () => {
    const [owner, friend] = await Promise.all([mintV4({ sub: 'o w"n\\er', name: 'Owner' }), mintV4({ sub: 'friend', name: 'Friend' })]);
    await api(a, friend, 'GET', '/v1/me');
    const id = (await api(a, owner, 'POST', '/v1/conversations', { title: 'g', memberIds: ['friend'] })).body.id;
    const listener = await TestClient.live(a.ws, friend);
    const typist = await TestClient.live(a.ws, owner);

    // A user id with spaces, quotes and a backslash travels intact in a typing signal.
    await typist.request({ type: 'typing.start', conversationId: id });
    const typing = await listener.waitFor((f) => f.type === 'typing' && f.conversationId === id);
    expect(typing.userId).toBe('o w"n\\er');

    // A record for a seq far past the stream (as the NaN/forged-line attacks produced): dropped, not waited for.
    const forged = JSON.stringify([['e', id, 1_000_000, JSON.stringify({ type: 'message.created', conversationId: id, seq: 1_000_000, message: { body: 'forged' } }), null]]);
    await db.sql`select pg_notify(${NOTIFY_LIMITS.channel}, ${forged})`;
    await db.sql`select pg_notify(${NOTIFY_LIMITS.channel}, ${'garbage\n' + id + ' NaN -'})`;
    await eventually(async () => (await metric('chat_fanout_phantom_events_total')) === 1, 'the phantom event dropped');
    await eventually(async () => (await metric('chat_bus_invalid_records_total')) >= 1, 'the corrupt payload counted');
    const sent = await typist.request({ type: 'message.send', conversationId: id, clientMsgId: 'after', body: 'real' });
    const real = await listener.waitFor((f) => f.type === 'message.created' && f.message.id === sent.message.id);
    expect(real.seq).toBe(sent.message.seq);
    expect(listener.frames.some((f) => f.seq === 1_000_000 || f.message?.body === 'forged')).toBe(false);
    await Promise.all([listener.close(), typist.close()]);
  });
});
