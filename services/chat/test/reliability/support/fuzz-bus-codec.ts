/**
 * Direct fuzzing of the fan-out bus codec (src/fanout/pg-bus.ts `encode`/`decode`), for
 * fuzz-parsers.test.ts (CI size) and fuzz-long.ts:
 *  - arbitrary payloads (random text, random JSON, near-valid records, mutated real
 *    payloads) never make `decode` throw, and it hands on only valid records: every record
 *    is either delivered or counted invalid, and what is delivered passes the format's rules;
 *  - arbitrary events and signals (user ids and frames of any characters, frames too large
 *    to travel inline) round-trip: every payload is well-formed text under the NOTIFY limit,
 *    and decodes to the same events (a large frame by reference) and signals, in order;
 *  - throughPostgres(): the encoded payloads go through a real pg_notify on a private
 *    channel and arrive unchanged (no payload Postgres refuses).
 */
import fc from 'fast-check';
import postgres from 'postgres';
import { expect } from 'vitest';
import type { Signal, StreamEvent } from '../../../src/fanout/bus.ts';
import { decode, encode, NOTIFY_LIMITS } from '../../../src/fanout/pg-bus.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUserId = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 255;
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

/** Ids that once ended a record, or would in a delimited format, and any characters at all. */
const userIdArb = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 255 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }) },
    { weight: 1, arbitrary: fc.constantFrom('\n', ' ', 'a b', '","', '"]],["e"', '\u2028', '\\', '\u0000', '\ud800', 'x'.repeat(255), '\u0001'.repeat(255)) },
  )
  .map((s) => s.slice(0, 255));

const frameArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  // Around and past the inline limit, in plain and in escape-heavy characters.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 400, max: 9000 }), fc.constantFrom('f', '\u0001', '"', 'é', '😀')).map(([n, c]) => c.repeat(n)) },
);

const eventArb: fc.Arbitrary<StreamEvent> = fc.record({
  conversationId: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) }),
  seq: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  frame: fc.option(frameArb, { nil: null }),
  access: fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: userIdArb.map((userId) => ({ kind: 'removed' as const, userId })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'closed' as const }) },
  ),
});

const signalArb: fc.Arbitrary<Signal> = fc.record({
  target: fc.oneof(fc.uuid().map((u) => `c:${u}`), userIdArb.map((u) => `u:${u}`)),
  exclude: fc.option(userIdArb, { nil: null }),
  // Signals are small frames (typing, presence, controls); a few run past the limit.
  frame: fc.oneof({ weight: 20, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 6000, max: 9000 }).map((n) => 's'.repeat(n)) }),
});

const batchArb = fc.record({ events: fc.array(eventArb, { maxLength: 12 }), signals: fc.array(signalArb, { maxLength: 4 }) });

/** A record near the valid ones: a valid one with one field replaced, dropped or added. */
const nearRecordArb: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.oneof(
      eventArb.map((e) => ['e', e.conversationId, e.seq, e.frame, e.access === null ? null : e.access.kind === 'removed' ? ['removed', e.access.userId] : ['closed']] as unknown[]),
      signalArb.map((s) => ['s', s.target, s.exclude, s.frame] as unknown[]),
    ),
    fc.nat({ max: 5 }),
    fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(0, -1, 1.5, 2 ** 53, 'NaN', '1', '', 'e', 's', 'c:', 'u:', ['removed'], ['removed', ''], ['closed', 1], ['removed', 'x'.repeat(256)]),
    ),
    fc.constantFrom('replace', 'drop', 'append', 'keep'),
  )
  .map(([record, at, value, how]) => {
    const r = [...record];
    if (how === 'replace') r[at % r.length] = value;
    else if (how === 'drop') r.splice(at % r.length, 1);
    else if (how === 'append') r.push(value);
    return r;
  });

/** Text in which a number is too large for a double, which JSON.parse reads as Infinity. */
const hugeNumberArb = fc.uuid().map((u) => `[["e","${u}",1e400,null,null],["e","${u}",-0,null,null],["e","${u}",1.0000000000000002,null,null]]`);

const payloadArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? ''),
  fc.array(fc.oneof(nearRecordArb, fc.jsonValue({ maxDepth: 2 })), { maxLength: 10 }).map((records) => JSON.stringify(records)),
  hugeNumberArb,
  // A real payload with characters replaced, inserted or cut.
  fc
    .tuple(batchArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom('replace', 'insert', 'cut'), fc.string({ unit: 'binary', minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 4 }))
    .map(([batch, edits]) => {
      let text = safeEncode(batch.events, batch.signals)[0] ?? '[]';
      for (const [at, how, chars] of edits) {
        const i = at % (text.length + 1);
        text = how === 'cut' ? text.slice(0, i) : text.slice(0, i) + chars + text.slice(how === 'replace' ? i + chars.length : i);
      }
      return text;
    }),
);

function safeEncode(events: StreamEvent[], signals: Signal[]): string[] {
  try {
    return encode(events, signals);
  } catch {
    return [];
  }
}

type Delivery = { kind: 'events'; events: StreamEvent[] } | { kind: 'signal'; signal: Signal };

function decodeAll(payload: string): { deliveries: Delivery[]; invalid: number } {
  const deliveries: Delivery[] = [];
  const invalid = decode(payload, {
    onEvents: (events) => deliveries.push({ kind: 'events', events: [...events] }),
    onSignal: (signal) => deliveries.push({ kind: 'signal', signal }),
  });
  return { deliveries, invalid };
}

function expectValidEvent(e: StreamEvent): void {
  expect(Object.keys(e).sort()).toEqual(['access', 'conversationId', 'frame', 'seq']);
  expect(UUID.test(e.conversationId), e.conversationId).toBe(true);
  expect(Number.isSafeInteger(e.seq) && e.seq >= 1, String(e.seq)).toBe(true);
  expect(e.frame === null || typeof e.frame === 'string').toBe(true);
  const a = e.access;
  expect(a === null || (a.kind === 'closed' && Object.keys(a).length === 1) || (a.kind === 'removed' && isUserId(a.userId) && Object.keys(a).length === 2), JSON.stringify(a)).toBe(true);
}

function expectValidSignal(s: Signal): void {
  expect(Object.keys(s).sort()).toEqual(['exclude', 'frame', 'target']);
  const id = s.target.slice(2);
  expect((s.target.startsWith('c:') && UUID.test(id)) || (s.target.startsWith('u:') && isUserId(id)), s.target).toBe(true);
  expect(s.exclude === null || isUserId(s.exclude)).toBe(true);
  expect(typeof s.frame).toBe('string');
}

export class BusCodecFuzzer {
  readonly counts = { payloads: 0, recordsDelivered: 0, recordsRefused: 0, roundTrips: 0, eventsRoundTripped: 0, signalsRoundTripped: 0, byReference: 0, tooLargeSignals: 0, throughPostgres: 0 };

  /** Arbitrary payloads: decode never throws; every record is delivered valid or counted invalid. */
  async payloads({ runs, seed }: { runs: number; seed?: number }): Promise<void> {
    await fc.assert(
      fc.property(payloadArb, (payload) => {
        this.counts.payloads++;
        const { deliveries, invalid } = decodeAll(payload);
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(payload);
        } catch {
          // not JSON
        }
        const delivered = deliveries.reduce((n, d) => n + (d.kind === 'events' ? d.events.length : 1), 0);
        if (Array.isArray(parsed)) expect(delivered + invalid).toBe(parsed.length);
        else expect({ delivered, invalid }).toEqual({ delivered: 0, invalid: 1 });
        for (const d of deliveries) {
          if (d.kind === 'events') {
            expect(d.events.length).toBeGreaterThan(0);
            d.events.forEach(expectValidEvent);
          } else expectValidSignal(d.signal);
        }
        this.counts.recordsDelivered += delivered;
        this.counts.recordsRefused += invalid;
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
    );
  }

  /** Arbitrary events and signals: payloads under the limit, decoded to the same, in order. */
  async roundTrips({ runs, seed }: { runs: number; seed?: number }): Promise<void> {
    await fc.assert(
      fc.property(batchArb, ({ events, signals }) => void this.roundTrip(events, signals)),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
    );
  }

  /** The round trip's payloads through a real pg_notify: Postgres accepts each one and delivers it unchanged. */
  async throughPostgres(databaseUrl: string, { runs, seed }: { runs: number; seed?: number }): Promise<void> {
    const channel = `fuzz_bus_codec_${process.pid}`;
    const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
    const received: string[] = [];
    try {
      await sql.listen(channel, (payload) => received.push(payload));
      await fc.assert(
        fc.asyncProperty(batchArb, async ({ events, signals }) => {
          const payloads = this.roundTrip(events, signals);
          received.length = 0;
          for (const payload of payloads) await sql`select pg_notify(${channel}, ${payload})`;
          const deadline = Date.now() + 10_000;
          while (received.length < payloads.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
          expect(received).toEqual(payloads);
          this.counts.throughPostgres += payloads.length;
        }),
        { numRuns: runs, endOnFailure: true, ...(seed === undefined ? {} : { seed }) },
      );
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  private roundTrip(events: StreamEvent[], signals: Signal[]): string[] {
    let payloads: string[];
    try {
      payloads = encode(events, signals);
    } catch (error) {
      // The one refusal by design: a signal whose record exceeds a payload on its own.
      expect(String(error)).toMatch(/signal frame too large/);
      expect(signals.some((s) => Buffer.byteLength(JSON.stringify(['s', s.target, s.exclude, s.frame])) > NOTIFY_LIMITS.maxPayloadBytes - 2)).toBe(true);
      this.counts.tooLargeSignals++;
      return [];
    }
    this.counts.roundTrips++;
    const gotEvents: StreamEvent[] = [];
    const gotSignals: Signal[] = [];
    for (const payload of payloads) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_LIMITS.maxPayloadBytes);
      expect(wellFormed(payload), 'a payload is well-formed UTF-16 (no lone surrogate reaches Postgres)').toBe(true);
      const { deliveries, invalid } = decodeAll(payload);
      expect(invalid).toBe(0);
      for (const d of deliveries) {
        if (d.kind === 'events') {
          // Records keep their order: events, then signals.
          expect(gotSignals).toEqual([]);
          gotEvents.push(...d.events);
        } else gotSignals.push(d.signal);
      }
    }
    expect(gotEvents.length).toBe(events.length);
    events.forEach((sent, i) => {
      const got = gotEvents[i]!;
      expect({ ...got, frame: null }).toEqual({ ...sent, frame: null });
      if (got.frame !== sent.frame) {
        // Only a frame too large to travel inline goes by reference (null: read the row).
        expect(got.frame).toBeNull();
        expect(Buffer.byteLength(JSON.stringify(sent.frame))).toBeGreaterThan(NOTIFY_LIMITS.maxInlineFrameBytes - 2000);
        this.counts.byReference++;
      }
    });
    expect(gotSignals).toEqual(signals);
    this.counts.eventsRoundTripped += events.length;
    this.counts.signalsRoundTripped += signals.length;
    return payloads;
  }
}
