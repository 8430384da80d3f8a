/**
 * The contract every `Bus` implementation passes (fanout/bus.ts). Run it from a
 * `*.test.ts` file with a factory for the implementation under test; a new bus (a
 * broker) must pass it unchanged before it can replace the PostgreSQL one. A bus may
 * route by interest: the suite `watch`es every key before it expects deliveries there,
 * and checks that `watch` resolves only once they are delivered.
 */
import type { Database } from '@chat/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, BusListener, Signal, StreamEvent } from '../../src/fanout/bus.ts';
import { eventually } from '@chat/test-support/harness';

export interface BusUnderTest {
  bus: Bus;
  /** The database the writing transactions run on. */
  db: Database;
  /** Breaks the bus's subscription the way an outage would (it must come back by itself). */
  disrupt(): Promise<void>;
  close(): Promise<void>;
}

interface Received {
  items: ({ kind: 'event'; event: StreamEvent } | { kind: 'signal'; signal: Signal })[];
  resubscribed: number;
}

export function busContract(name: string, create: () => Promise<BusUnderTest>): void {
  describe(`Bus contract: ${name}`, () => {
    let under: BusUnderTest;
    const received: Received = { items: [], resubscribed: 0 };
    const listener: BusListener = {
      onEvents: (events) => received.items.push(...events.map((event) => ({ kind: 'event' as const, event }))),
      onSignal: (signal) => received.items.push({ kind: 'signal', signal }),
      onResubscribed: () => void received.resubscribed++,
    };
    let n = 0;
    const fresh = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    /** A conversation id this listener is interested in (watch resolved: delivered from now on). */
    const conversation = async () => {
      const id = fresh();
      await under.bus.watch(`c:${id}`);
      return id;
    };
    const marker = async () => {
      const id = await conversation();
      await under.db.transaction((tx) => under.bus.publish(tx, [{ conversationId: id, seq: 1, frame: '{"marker":true}', access: null }]));
      await eventually(() => received.items.some((i) => i.kind === 'event' && i.event.conversationId === id), 'the marker');
      return id;
    };
    const since = (start: number) => received.items.slice(start);

    beforeAll(async () => {
      under = await create();
      await under.bus.start(listener);
    });
    afterAll(async () => {
      await under?.close();
    });

    it('is listening once started', () => {
      expect(under.bus.listening).toBe(true);
    });

    it('delivers what a committed transaction published, events then signals, in order', async () => {
      const start = received.items.length;
      const id = await conversation();
      await under.bus.watch('u:u 1\n"x"');
      const events: StreamEvent[] = [1, 2, 3].map((seq) => ({ conversationId: id, seq, frame: `{"seq":${seq}}`, access: seq === 3 ? { kind: 'removed', userId: 'u 1\n"x"' } : null }));
      const signals: Signal[] = [{ target: 'u:u 1\n"x"', exclude: null, frame: '{"type":"member.added"}' }, { target: `c:${id}`, exclude: 'typist', frame: '{"type":"typing"}' }];
      await under.db.transaction((tx) => under.bus.publish(tx, events, signals));
      await eventually(() => since(start).length >= 5, 'five items');
      expect(since(start)).toEqual([...events.map((event) => ({ kind: 'event', event })), ...signals.map((signal) => ({ kind: 'signal', signal }))]);
    });

    it('delivers nothing from a transaction that rolls back', async () => {
      const start = received.items.length;
      const id = await conversation();
      await under.db
        .transaction(async (tx) => {
          await under.bus.publish(tx, [{ conversationId: id, seq: 1, frame: '{}', access: null }]);
          throw new Error('roll back');
        })
        .catch(() => {});
      await marker();
      expect(since(start).filter((i) => i.kind === 'event' && i.event.conversationId === id)).toEqual([]);
    });

    it('delivers transactions in commit order', async () => {
      const start = received.items.length;
      const id = await conversation();
      for (let seq = 1; seq <= 20; seq++) await under.db.transaction((tx) => under.bus.publish(tx, [{ conversationId: id, seq, frame: `{"seq":${seq}}`, access: null }]));
      await eventually(() => since(start).length >= 20, 'twenty events');
      expect(since(start).map((i) => (i.kind === 'event' ? i.event.seq : -1))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('sends a frame too large to travel inline by reference (frame null), never truncated', async () => {
      const start = received.items.length;
      const id = await conversation();
      const big = JSON.stringify({ body: 'x'.repeat(20_000) });
      await under.db.transaction((tx) => under.bus.publish(tx, [{ conversationId: id, seq: 1, frame: big, access: null }]));
      await eventually(() => since(start).length >= 1, 'the event');
      const [item] = since(start);
      expect(item).toEqual({ kind: 'event', event: { conversationId: id, seq: 1, frame: null, access: null } });
    });

    it('delivers best-effort signals while listening', async () => {
      const start = received.items.length;
      const signal: Signal = { target: 'u:someone', exclude: null, frame: '{"type":"membership.settings"}' };
      await under.bus.watch('u:someone');
      await under.bus.signal([signal]);
      await eventually(() => since(start).length >= 1, 'the signal');
      expect(since(start)).toEqual([{ kind: 'signal', signal }]);
    });

    it('delivers what was published right after watch resolved, and keeps delivering keys still watched after another is unwatched', async () => {
      const start = received.items.length;
      const [a, b] = [await conversation(), await conversation()];
      under.bus.unwatch(`c:${a}`);
      await under.db.transaction((tx) => under.bus.publish(tx, [{ conversationId: b, seq: 1, frame: '{"b":1}', access: null }]));
      await eventually(() => since(start).some((i) => i.kind === 'event' && i.event.conversationId === b), 'the event of the watched key');
    });

    it('comes back after an outage by itself, says so (so callers replay), and delivers again', async () => {
      const before = received.resubscribed;
      await under.disrupt();
      await eventually(() => received.resubscribed > before && under.bus.listening, 'resubscribed');
      await marker();
    });

    it('stops listening when stopped', async () => {
      await under.bus.stop();
      expect(under.bus.listening).toBe(false);
    });
  });
}
