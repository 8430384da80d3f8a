/**
 * Bad input 6 (WebSocket): property-based fuzzing with fast-check against a real instance,
 * at CI size (about 3,300 frames). The fuzzer (support/fuzz-ws.ts) takes its size as a
 * parameter; `pnpm fuzz:long` (fuzz-long.ts) runs the same code for 100,000+ frames.
 *  - Hostile batches (garbage, wrong shapes, deep nesting, huge strings, unknown types,
 *    binary frames, well-formed frames aimed at another user's conversation and messages),
 *    sent concurrently: every frame gets exactly one answer and it is a typed error; a ping
 *    after each batch is answered; the database is exactly as before.
 *  - Random plausible frames of every ClientFrame type (random field values drawn from the
 *    user's own ids, foreign ids and junk), one at a time: exactly one ack or typed error
 *    each; when the answer is an error, the database is exactly as before.
 *  - Invalid UTF-8 closes that socket with 1007; an oversize frame closes it with 1009.
 * The instance never crashes (no INTERNAL error, no dropped socket, /healthz answers).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { TestClient } from '@chat/test-support/ws-client';
import { printSummary } from './support/checker.ts';
import { WsFuzzer } from './support/fuzz-ws.ts';
import { seedWorld } from './support/fuzz-world.ts';

/** The CI size; fuzz-long.ts passes its own. */
const CI_SIZE = { hostileBatches: 80, plausibleFrames: 500, invalidUtf8: 20, oversize: 8 };

let db: TestDatabase;
let main: Instance;
let client: TestClient;
let fuzzer: WsFuzzer;

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  const world = await seedWorld(main);
  client = await TestClient.live(main.ws, world.tokens.alice);
  fuzzer = new WsFuzzer(client, db.sql, world, main.ws);
});

afterAll(async () => {
  await client?.close();
  await main?.close();
  await db?.drop();
});

it('hostile frames in concurrent batches: one typed error each, a live socket, an unchanged database', async () => {
  await fuzzer.hostile({ runs: CI_SIZE.hostileBatches });
}, 50_000);

it('random plausible frames of every type, one at a time: one ack or typed error each; errors change nothing', async () => {
  await fuzzer.plausible({ runs: CI_SIZE.plausibleFrames });
}, 50_000);

it('invalid UTF-8 closes with 1007 and an oversize frame with 1009; the instance and the data survive', async () => {
  await fuzzer.encodings({ invalidUtf8: CI_SIZE.invalidUtf8, oversize: CI_SIZE.oversize });
  expect((await fetch(`${main.http}/healthz`)).status).toBe(200);

  const counts = fuzzer.counts;
  printSummary({
    scenario: 'fuzz: WebSocket frames',
    framesTried: counts.frames,
    acks: counts.acks,
    typedErrors: counts.errors,
    closes1007: counts.closes1007,
    closes1009: counts.closes1009,
    crashes: counts.crashes,
    errorsByCode: counts.byCode,
  });
  expect(counts.crashes).toBe(0);
  expect(counts.frames).toBeGreaterThan(3000);
}, 30_000);
