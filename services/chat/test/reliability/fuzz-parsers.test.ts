/**
 * Direct fuzzing of the parsers that read what a client or a peer controls, at CI size:
 * the fan-out bus codec (payload text, through a real pg_notify too), the credential and
 * cookie parser, and the session-token verifier. `pnpm fuzz:long` (fuzz-long.ts) runs the
 * same fuzzers (support/fuzz-bus-codec.ts, fuzz-credentials.ts, fuzz-session-tokens.ts)
 * hundreds of times longer.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@chat/test-support/harness';
import { printSummary } from './support/checker.ts';
import { BusCodecFuzzer } from './support/fuzz-bus-codec.ts';
import { CredentialFuzzer } from './support/fuzz-credentials.ts';
import { SessionTokenFuzzer } from './support/fuzz-session-tokens.ts';

const CI_SIZE = { busPayloads: 3000, busRoundTrips: 600, busThroughPostgres: 60, credentials: 2000, sessionTokens: 400 };

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it('bus codec: arbitrary payloads never throw and deliver only valid records; events and signals round-trip, through Postgres too', async () => {
  const bus = new BusCodecFuzzer();
  await bus.payloads({ runs: CI_SIZE.busPayloads });
  await bus.roundTrips({ runs: CI_SIZE.busRoundTrips });
  await bus.throughPostgres(db.url, { runs: CI_SIZE.busThroughPostgres });
  printSummary({ scenario: 'fuzz: bus codec', ...bus.counts });
  expect(bus.counts.recordsRefused).toBeGreaterThan(0);
  expect(bus.counts.byReference).toBeGreaterThan(0);
}, 60_000);

it('credential parser: arbitrary headers, cookies and queries never throw, keep the order of sources; planted tokens come back exactly', async () => {
  const credentials = new CredentialFuzzer();
  await credentials.run({ runs: CI_SIZE.credentials });
  printSummary({ scenario: 'fuzz: credential parser', ...credentials.counts });
  expect(credentials.counts.bySource.cookie).toBeGreaterThan(0);
}, 60_000);

it('session-token verifier: arbitrary strings, mutated real tokens and arbitrary sealed claims only ever get a typed refusal or a valid identity', async () => {
  const tokens = await SessionTokenFuzzer.create();
  await tokens.run({ runs: CI_SIZE.sessionTokens });
  printSummary({ scenario: 'fuzz: session-token verifier', ...tokens.counts });
  expect(tokens.counts.accepted).toBeGreaterThan(0);
}, 60_000);
