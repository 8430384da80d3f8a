/**
 * Fault 3: a slow consumer. One member stops reading (its socket is paused, so the kernel
 * buffers fill and the server's send buffer grows) while two senders flood its conversation
 * on the same instance (a real child process, MAX_SOCKET_BUFFER_BYTES = 256 KiB).
 *  - The server cuts it off (close 4008): chat_slow_consumer_disconnects_total goes up by one,
 *    chat_ws_closes_total{code="4008"} too, and the open-connection gauge drops by one.
 *  - The instance's memory (V8 heap + external buffers, from its own /metrics) stays bounded.
 *  - A normal reader on the same instance is not affected.
 *  - On reconnect + resume the consumer gets everything it missed, exactly once, in order,
 *    and, reading normally now, is not cut off again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@chat/test-support/harness';
import { checkViews, converged, expectIntact, printSummary } from './support/checker.ts';
import { spawnInstance, stopAllInstances, type ChildInstance } from './support/child.ts';
import { flood } from './support/flood.ts';
import { metric, scrape } from './support/metrics.ts';
import { ResilientClient } from './support/resilient-client.ts';
import { group, users } from './support/setup.ts';

const MAX_BUFFER = 256 * 1024;
const BODY = 'x'.repeat(1000);
let db: TestDatabase;
let s: ChildInstance;
const clients: ResilientClient[] = [];
const floods: import('ws').WebSocket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  s = await spawnInstance('slow', db.url, { MAX_SOCKET_BUFFER_BYTES: String(MAX_BUFFER) });
});

afterAll(async () => {
  for (const socket of floods) socket.terminate();
  await Promise.all(clients.map((c) => c.stop()));
  await stopAllInstances();
  await db?.drop();
});

const memory = (text: string) => metric(text, 'nodejs_heap_size_used_bytes') + metric(text, 'nodejs_external_memory_bytes');

it('a consumer that stops reading is cut off with 4008, memory stays bounded, and resume fills everything in once', async () => {
  const tokens = await users(s, ['slow', 'reader', 'f1', 'f2']);
  const room = await group(s, tokens.f1!, 'flooded', ['slow', 'reader', 'f2']);
  const consumer = new ResilientClient('slow', tokens.slow!, [s.ws], { [room]: 0 });
  const reader = new ResilientClient('reader', tokens.reader!, [s.ws], { [room]: 0 });
  clients.push(consumer, reader);
  await Promise.all(clients.map((c) => c.start()));

  const before = await scrape(s.http);
  const baseMemory = memory(before);
  const baseConnections = metric(before, 'chat_ws_connections');
  expect(metric(before, 'chat_slow_consumer_disconnects_total')).toBe(0);

  // Stop reading: the socket stays open, nothing is read from it any more.
  const raw = (consumer.socket as unknown as { _socket: import('node:net').Socket })._socket;
  raw.pause();
  const cutBeforeFlood = consumer.lastSeq.get(room)!;

  let cut = false;
  let peakMemory = baseMemory;
  const sampling = (async () => {
    while (!cut) {
      const text = await scrape(s.http);
      peakMemory = Math.max(peakMemory, memory(text));
      if (metric(text, 'chat_slow_consumer_disconnects_total') >= 1) cut = true;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const floodStarted = Date.now();
  const senders = await Promise.all(
    ['f1', 'f2'].map((tag) => flood(s.ws, tokens[tag]!, room, { tag, body: BODY, max: 15_000, stop: () => cut })),
  );
  floods.push(...senders.map((f) => f.socket));
  const [sent1, sent2] = await Promise.all(senders.map((f) => f.done));
  await sampling;
  const cutAt = Date.now();
  const flooded = sent1! + sent2!;
  expect(cut).toBe(true);

  // Second observation: counters and the connection gauge, from the server's own metrics.
  await eventually(async () => metric(await scrape(s.http), 'chat_ws_connections') <= baseConnections - 1 + 2, 'the consumer counted gone');
  const after = await scrape(s.http);
  expect(metric(after, 'chat_slow_consumer_disconnects_total')).toBe(1);
  expect(metric(after, 'chat_ws_closes_total', { code: '4008' })).toBe(1);
  // The two flood sockets are still open; the consumer's is gone.
  expect(metric(after, 'chat_ws_connections')).toBe(baseConnections + 2 - 1);
  peakMemory = Math.max(peakMemory, memory(after));
  const growthMb = (peakMemory - baseMemory) / 2 ** 20;
  const addressedMb = (flooded * (BODY.length + 300)) / 2 ** 20;
  expect(growthMb).toBeLessThan(96);

  // Read again: the client drains what the kernel held, sees the close, reconnects and resumes.
  raw.resume();
  await eventually(() => consumer.closes.length >= 1 && consumer.ready, 'the consumer back and resumed', 20_000);
  const closeCode = consumer.closes[0]!.code;
  expect([4008, 1006]).toContain(closeCode);
  await converged(db.sql, clients, [room], 30_000);
  const recoverMs = Date.now() - cutAt;
  const report = await checkViews(db.sql, clients, [room]);
  const cutsTotal = metric(await scrape(s.http), 'chat_slow_consumer_disconnects_total');
  printSummary({
    scenario: 'slow consumer (paused socket) under a flood',
    load: `2 flooding senders, ${flooded} messages of ${BODY.length} chars in ${cutAt - floodStarted} ms (~${addressedMb.toFixed(1)} MiB addressed to the paused socket)`,
    acked: flooded,
    lost: report.lost,
    duplicated: report.duplicated,
    gaps: report.gaps,
    outOfOrder: report.outOfOrder,
    recoverMs,
    clientSawClose: closeCode,
    missedBeforeResume: (await db.sql`select last_seq::int as n from conversations where id = ${room}`)[0]!.n - cutBeforeFlood,
    memoryGrowthMiB: Number(growthMb.toFixed(1)),
    slowConsumerCutsTotal: cutsTotal,
    reconnectsOfConsumer: consumer.closes.length,
  });
  expectIntact(report);
  expect(reader.closes).toEqual([]);
  // Reading normally after the resume, it was not cut off again during its replay.
  expect(cutsTotal).toBe(1);
  expect(consumer.closes).toHaveLength(1);
}, 60_000);
