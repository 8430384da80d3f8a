/**
 * Read statements built once per Drizzle handle and kept prepared on the server.
 *
 * Drizzle's postgres-js driver sends a statement unprepared unless it was made with
 * `.prepare(name)`: postgres.js then describes it first (one more round trip), the server
 * parses and plans it every time, and Drizzle rebuilds its SQL text on every call. On the
 * paths that run per socket and per request (resume, history, access checks) that made a
 * 2,000-socket reconnect storm about three times slower than the tagged templates it
 * replaced. A statement built here, with `dsql.placeholder(...)` for its values, is built
 * once; postgres.js prepares it once per connection.
 */
import type { Database } from '@chat/db';

const statements = new WeakMap<Database, Map<string, unknown>>();

/** The statement `key` of this handle, built by `build` on first use. Keys name one statement shape each. */
export function prepared<T>(db: Database, key: string, build: () => T): T {
  let built = statements.get(db);
  if (!built) statements.set(db, (built = new Map()));
  let statement = built.get(key) as T | undefined;
  if (statement === undefined) built.set(key, (statement = build()));
  return statement;
}
