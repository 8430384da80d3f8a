/** Database reachability, for the readiness probe. */
import { dsql, type Database } from '@chat/db';

/**
 * One round trip to the database through the data layer's pool. Raw SQL: `select 1` has
 * no table, and Drizzle's select builder needs one.
 */
export async function ping(db: Database): Promise<void> {
  await db.execute(dsql`select 1`);
}
