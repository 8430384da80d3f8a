/**
 * Finding 5's INTERNALs: postgres.js 3.4.9 marks a pool connection as a transaction's only
 * when the BEGIN's execute() gets to its `onexecute` hook, at the end of an `&&` chain that
 * stops when the connection already has max_pipeline (100) queries in flight or its socket
 * is backed up. Under pool saturation a BEGIN pipelined as the 100th query on a busy
 * connection then completed on an unreserved connection: the driver threw
 * UNSAFE_TRANSACTION (answered INTERNAL) and handed the connection back to the pool idle
 * in transaction, so later autocommit queries ran, and held their locks, inside it.
 * patches/postgres@3.4.9.patch reserves the connection whenever a BEGIN is sent.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@chat/test-support/harness';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it('a transaction begun behind a full pipeline on a busy pool connection reserves it (no UNSAFE_TRANSACTION, nothing left idle in transaction)', async () => {
  const name = 'pool-transactions-test';
  const sql = postgres(db.url, { max: 2, onnotice: () => {}, connection: { application_name: name } });
  try {
    await Promise.all([sql`select 1`, sql`select 1`]);
    const failures: string[] = [];
    // Both connections busy, then k queries round-robin onto them and a BEGIN: some k put the
    // BEGIN exactly at a connection's 100th pipelined query. (execute() sends now, in this
    // order, rather than when the query is first awaited.)
    for (let k = 170; k <= 230; k++) {
      const queries: Promise<unknown>[] = [sql`select pg_sleep(0.02)`.execute(), sql`select pg_sleep(0.02)`.execute()];
      for (let i = 0; i < k; i++) queries.push(sql`select 1`.execute());
      const transaction = sql.begin(async (tx) => (await tx`select txid_current() as id`)[0]!.id).then(
        () => null,
        (error: { code?: string }) => `k=${k}: ${error.code}`,
      );
      await Promise.all(queries);
      const failure = await transaction;
      if (failure) failures.push(failure);
    }
    const [{ stuck }] = await db.sql<[{ stuck: number }]>`
      select count(*)::int as stuck from pg_stat_activity where application_name = ${name} and state = 'idle in transaction'`;
    expect({ failures, stuck }).toEqual({ failures: [], stuck: 0 });
  } finally {
    await sql.end({ timeout: 1 });
  }
});
