/**
 * Bad input 6 (HTTP): property-based fuzzing of every /v1 route, read from the running
 * app's own route table (app.printRoutes()), so a new route is fuzzed without editing this
 * file. Random methods, path params, query strings, bodies, content types and credentials.
 * Every answer is 2xx or 4xx, never 5xx; every 4xx has the JSON error shape
 * {code, message, retryable}; a refused request leaves the database exactly as it was.
 * CI size here (1,200 requests); the fuzzer (support/fuzz-http.ts) takes its size as a
 * parameter, and `pnpm fuzz:long` (fuzz-long.ts) runs the same code for 100,000+ requests.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, startInstance, type Instance, type TestDatabase } from '@chat/test-support/harness';
import { printSummary } from './support/checker.ts';
import { HttpFuzzer, parseRoutes } from './support/fuzz-http.ts';
import { seedWorld } from './support/fuzz-world.ts';

const CI_SIZE = { requests: 1200 };

let db: TestDatabase;
let main: Instance;
let fuzzer: HttpFuzzer;
let routes: ReturnType<typeof parseRoutes>;

beforeAll(async () => {
  db = await createTestDatabase();
  main = await startInstance(db.url);
  routes = parseRoutes(main.chat.app.printRoutes({ commonPrefix: false }));
  fuzzer = new HttpFuzzer([main], db.sql, await seedWorld(main), routes);
});

afterAll(async () => {
  await main?.close();
  await db?.drop();
});

it('router-level refusals (malformed percent-encoding, a path parameter over 100 characters) get the typed error shape too', async () => {
  await fuzzer.routerRefusals();
});

it('every /v1 route under random input: only 2xx/4xx, typed errors, no change on refusal', async () => {
  expect(routes.length).toBeGreaterThanOrEqual(25);
  await fuzzer.run({ runs: CI_SIZE.requests });
  const counts = fuzzer.counts;
  printSummary({
    scenario: 'fuzz: HTTP /v1 routes',
    routes: routes.length,
    requestsTried: counts.requests,
    byStatus: counts.byStatus,
    serverErrors: counts.serverErrors,
    malformedErrorBodies: counts.badShape,
  });
  expect(counts.serverErrors).toBe(0);
}, 55_000);
