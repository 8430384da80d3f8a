/** The PostgreSQL LISTEN/NOTIFY bus passes the bus contract. */
import pino from 'pino';
import { PgBus } from '../src/fanout/pg-bus.ts';
import { busContract } from './contract/bus-contract.ts';
import { createTestDatabase } from './support/harness.ts';

busContract('PgBus (LISTEN/NOTIFY)', async () => {
  const db = await createTestDatabase();
  const bus = new PgBus({ url: db.url, log: pino({ level: 'silent' }), retryBaseMs: 10 });
  return {
    bus,
    sql: db.sql,
    async disrupt() {
      await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'chat-listener' and datname = current_database()`;
    },
    async close() {
      await bus.stop();
      await db.drop();
    },
  };
});
