/**
 * Rooms: each conversation's events reach its subscribers once, in seq order, with no
 * gap, whatever order the bus delivers them in; gaps are read from the stream store; and
 * nothing a forged record claims is waited or looped on. The store here is the
 * conversation's committed stream as an array: the rule under test is ordering, not SQL.
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AccessChange } from '../../src/fanout/bus.ts';
import { Rooms, type Delivery, type LoadedEvent, type Subscriber } from '../../src/ws/rooms.ts';

const ID = '00000000-0000-4000-8000-000000000001';
const log = pino({ level: 'silent' });

function stream(length: number): LoadedEvent[] {
  return Array.from({ length }, (_, i) => ({ seq: i + 1, frame: JSON.stringify({ seq: i + 1 }), access: null }));
}

class Recorder implements Subscriber {
  readonly seqs: number[] = [];
  readonly signals: string[] = [];
  constructor(readonly userId: string) {}
  deliver(_conversationId: string, event: Delivery): void {
    this.seqs.push(event.seq);
  }
  signal(_conversationId: string, frame: string | Buffer): void {
    this.signals.push(frame.toString());
  }
}

function setup(committed: LoadedEvent[], gapGraceMs = 0) {
  const loads: number[] = [];
  const dropped: number[] = [];
  const duplicates: number[] = [];
  const watched: string[] = [];
  const rooms = new Rooms(
    async (_id, after, limit) => {
      loads.push(after);
      return committed.filter((e) => e.seq > after).slice(0, limit);
    },
    log,
    undefined,
    undefined,
    (n) => dropped.push(n),
    { watch: async (key) => void watched.push(`+${key}`), unwatch: (key) => void watched.push(`-${key}`) },
    (n) => duplicates.push(n),
    gapGraceMs,
  );
  return { rooms, loads, dropped, duplicates, watched };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await settle();
  expect(check()).toBe(true);
}

describe('Rooms', () => {
  it('passes any arrival order (duplicates, by-reference frames, losses) on as 1..n exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean(), fc.boolean()), { maxLength: 120 }),
        async (length, start, arrivals) => {
          const committed = stream(length);
          const { rooms } = setup(committed);
          const subscriber = new Recorder('u');
          rooms.join(ID, subscriber);
          const initial = Math.min(start, length);
          rooms.initialize(ID, initial);
          // Each arrival: some seq, inline or by reference, sometimes lost entirely.
          for (const [n, byReference, lost] of arrivals) {
            const event = committed[n % length]!;
            if (!lost) rooms.onEvents([{ conversationId: ID, seq: event.seq, frame: byReference ? null : event.frame, access: null }]);
          }
          // The last event always arrives eventually (a later notification or a resync).
          rooms.onEvents([{ conversationId: ID, seq: length, frame: committed[length - 1]!.frame, access: null }]);
          const expected = committed.filter((e) => e.seq > initial).map((e) => e.seq);
          await until(() => subscriber.seqs.length >= expected.length);
          await settle();
          expect(subscriber.seqs).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drops a pending event the store does not have after one fill, and keeps delivering', async () => {
    const committed = stream(3);
    const { rooms, loads, dropped } = setup(committed);
    const subscriber = new Recorder('u');
    rooms.join(ID, subscriber);
    rooms.initialize(ID, 1);
    rooms.onEvents([{ conversationId: ID, seq: 1_000_000, frame: '{"forged":true}', access: null }]);
    await until(() => dropped.length === 1);
    expect(subscriber.seqs).toEqual([2, 3]); // the fill delivered what is real
    const readsAfterDrop = loads.length;
    await settle();
    await settle();
    expect(loads.length).toBe(readsAfterDrop); // and stopped reading
    committed.push({ seq: 4, frame: '{"seq":4}', access: null });
    rooms.onEvents([{ conversationId: ID, seq: 4, frame: '{"seq":4}', access: null }]);
    expect(subscriber.seqs).toEqual([2, 3, 4]);
  });

  it('ignores seqs that are not safe integers', () => {
    const { rooms, loads } = setup(stream(2));
    const subscriber = new Recorder('u');
    rooms.join(ID, subscriber);
    rooms.initialize(ID, 0);
    for (const seq of [Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 60]) rooms.onEvents([{ conversationId: ID, seq, frame: '{}', access: null }]);
    expect([subscriber.seqs, loads]).toEqual([[], []]);
  });

  it('hands each subscriber the access change with the event, and signals skip the excluded user', () => {
    const committed: LoadedEvent[] = [{ seq: 1, frame: '{"type":"member.removed"}', access: { kind: 'removed', userId: 'b' } satisfies AccessChange }];
    const { rooms } = setup(committed);
    const seen: (AccessChange | null)[] = [];
    const a: Subscriber = { userId: 'a', deliver: (_c, e) => seen.push(e.access), signal: () => {} };
    const typist = new Recorder('t');
    const other = new Recorder('o');
    for (const s of [a, typist, other]) rooms.join(ID, s);
    rooms.initialize(ID, 0);
    rooms.onEvents([{ conversationId: ID, seq: 1, frame: committed[0]!.frame, access: committed[0]!.access }]);
    expect(seen).toEqual([{ kind: 'removed', userId: 'b' }]);
    rooms.broadcast(ID, '{"type":"typing"}', 't');
    expect([typist.signals, other.signals]).toEqual([[], ['{"type":"typing"}']]);
  });

  it('registers interest with the first subscriber and drops it with the last; a user with the first and last socket', () => {
    const { rooms, watched } = setup(stream(1));
    const [a, b] = [new Recorder('a'), new Recorder('b')];
    void rooms.join(ID, a);
    void rooms.join(ID, b);
    rooms.leave(ID, a);
    rooms.leave(ID, b);
    rooms.holdUser('a');
    rooms.holdUser('a');
    rooms.releaseUser('a');
    rooms.releaseUser('a');
    expect(watched).toEqual([`+c:${ID}`, `-c:${ID}`, '+u:a', '-u:a']);
  });

  it('drops a seq delivered twice before any subscriber sees it, and counts it', () => {
    const committed = stream(2);
    const { rooms, duplicates, loads } = setup(committed);
    const s = new Recorder('u');
    void rooms.join(ID, s);
    rooms.initialize(ID, 0);
    for (const e of [committed[0]!, committed[0]!, committed[1]!, committed[0]!]) rooms.onEvents([{ conversationId: ID, seq: e.seq, frame: e.frame, access: null }]);
    expect(s.seqs).toEqual([1, 2]);
    expect(duplicates).toEqual([1, 1]);
    expect(loads).toEqual([]);
  });

  it('with a grace, waits for a missing seq that arrives late instead of reading the store; reads it once the grace is over', async () => {
    const committed = stream(4);
    const { rooms, loads } = setup(committed, 20);
    const s = new Recorder('u');
    void rooms.join(ID, s);
    rooms.initialize(ID, 0);
    // Two writers' publishes crossed: 2 before 1.
    rooms.onEvents([{ conversationId: ID, seq: 2, frame: committed[1]!.frame, access: null }]);
    rooms.onEvents([{ conversationId: ID, seq: 1, frame: committed[0]!.frame, access: null }]);
    expect(s.seqs).toEqual([1, 2]);
    // 3 never comes: after the grace, the store closes the gap.
    rooms.onEvents([{ conversationId: ID, seq: 4, frame: committed[3]!.frame, access: null }]);
    expect(loads).toEqual([]);
    await until(() => s.seqs.length === 4);
    expect([s.seqs, loads]).toEqual([[1, 2, 3, 4], [2]]);
  });

  it('forgets a room when its last subscriber leaves', () => {
    const { rooms } = setup(stream(1));
    const s = new Recorder('u');
    rooms.join(ID, s);
    expect(rooms.size).toBe(1);
    rooms.leave(ID, s);
    expect(rooms.size).toBe(0);
  });
});
