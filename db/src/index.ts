import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import * as schema from './schema.ts';

export * as schema from './schema.ts';
export { and, asc, count, desc, eq, gt, inArray, isNull, lt, ne, not, sql as dsql, type SQL } from 'drizzle-orm';
export { alias, PgDialect } from 'drizzle-orm/pg-core';
export type Database = PostgresJsDatabase<typeof schema>;
/** A transaction on the Drizzle handle. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Where a statement runs: the database, or a transaction on it. */
export type Executor = Database | Tx;
export type Sql = postgres.Sql;

export const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url));

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Session settings for every connection, sent at connect (e.g. `chat.bus_outbox: 'on'`,
   * which makes the send statement write the NATS bus's outbox: migration 0006).
   */
  settings?: Record<string, string>;
}

/**
 * Opens the service's database handles:
 * - `db`: Drizzle over a postgres.js pool of `max` connections, the data layer's handle
 *   for every read and write (row types inferred from ./schema.ts);
 * - `writer`: one postgres.js connection for the message-send statements, the documented
 *   SQL exception (services/chat/src/db/message-writes.ts): postgres.js pipelines them on
 *   it and the server runs them in the order they were sent.
 * (The fan-out listener opens its own connection: services/chat/src/fanout/pg-bus.ts.)
 */
export function connect(url: string, options: ConnectOptions = {}): { writer: Sql; db: Database; end(): Promise<void> } {
  const name = options.applicationName ?? 'chat';
  const client = pool(url, options.max ?? 10, name, options.settings);
  const writer = pool(url, 1, `${name}-send`, options.settings);
  return {
    writer,
    db: drizzle(client, { schema }),
    end: async () => {
      await Promise.all([client.end({ timeout: 2 }), writer.end({ timeout: 2 })]);
    },
  };
}

function pool(url: string, max: number, applicationName: string, settings: Record<string, string> = {}): Sql {
  return postgres(url, {
    max,
    onnotice: () => {},
    // Sequences and counts are int8; every value we store fits a JS number exactly.
    types: { int8: { to: 20, from: [20], serialize: (n: number) => String(n), parse: (s: string) => Number(s) } },
    connection: { ...settings, application_name: applicationName },
  });
}

/** Applies the committed SQL migrations; safe to run from several processes at once. */
export async function migrate(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // Serialise concurrent migrators (several instances starting together).
    await sql`select pg_advisory_lock(7355608)`;
    await drizzleMigrate(drizzle(sql), { migrationsFolder });
  } finally {
    await sql.end();
  }
}
