/** The PostgreSQL LISTEN/NOTIFY bus passes the bus contract. */
import { connect } from '@chat/db';
import pino from 'pino';
import { PgBus } from '../src/fanout/pg-bus.ts';
import { busContract } from './contract/bus-contract.ts';
import { createTestDatabase } from '@chat/test-support/harness';

busContract('PgBus (LISTEN/NOTIFY)', async () => {
  const db = await createTestDatabase();
  const bus = new PgBus({ url: db.url, log: pino({ level: 'silent' }), retryBaseMs: 10 });
  const handles = connect(db.url, { max: 2 });
  return {
    bus,
    db: handles.db,
    async disrupt() {
      await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'chat-listener' and datname = current_database()`;
    },
    async close() {
      await bus.stop();
      await handles.end();
      await db.drop();
    },
  };
});
