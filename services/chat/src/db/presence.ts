/**
 * presence_sessions: one row per (instance, user) with open sockets, refreshed by the
 * instance's heartbeat (domain/presence.ts decides what to announce). Times come from the
 * database's clock, the one clock every instance shares.
 */
import { and, dsql, eq, schema, type Database } from '@chat/db';

const { presenceSessions, users } = schema;

const expiresIn = (ttlSec: number) => dsql`now() + make_interval(secs => ${ttlSec})`;

/** A live session of the user held by another instance. */
const liveElsewhere = (instanceId: string, userId: string) =>
  and(
    eq(presenceSessions.userId, userId),
    dsql`${presenceSessions.instanceId} <> ${instanceId}`,
    dsql`${presenceSessions.expiresAt} > now()`,
  )!;

/**
 * Creates or refreshes the instance's session of the user; true when another instance
 * already had the user online. One statement: RETURNING's subquery reads the snapshot
 * the upsert started from, as the CTE this replaced did.
 */
export async function openSession(db: Database, instanceId: string, userId: string, ttlSec: number): Promise<boolean> {
  const [row] = await db
    .insert(presenceSessions)
    .values({ instanceId, userId, expiresAt: expiresIn(ttlSec) })
    .onConflictDoUpdate({ target: [presenceSessions.instanceId, presenceSessions.userId], set: { expiresAt: dsql`excluded.expires_at` } })
    .returning({ onlineElsewhere: dsql<boolean>`exists(select 1 from ${presenceSessions} where ${liveElsewhere(instanceId, userId)})` });
  return row!.onlineElsewhere;
}

/**
 * Removes the instance's session of the user (if still there); true when another instance
 * still has the user online. Two statements: the check runs after the delete committed,
 * so of two instances closing the user's last sessions at once, at least one sees none
 * left (in one statement, each could still see the other's row and neither report).
 */
export async function closeSession(db: Database, instanceId: string, userId: string): Promise<boolean> {
  await db.delete(presenceSessions).where(and(eq(presenceSessions.instanceId, instanceId), eq(presenceSessions.userId, userId)));
  const others = await db
    .select({ instanceId: presenceSessions.instanceId })
    .from(presenceSessions)
    .where(liveElsewhere(instanceId, userId))
    .limit(1);
  return others.length > 0;
}

/** Stamps the user's last_seen_at with the database's now(); returns it as ISO 8601. */
export async function markLastSeen(db: Database, userId: string): Promise<string> {
  const [row] = await db.update(users).set({ lastSeenAt: dsql`now()` }).where(eq(users.id, userId)).returning({ lastSeenAt: users.lastSeenAt });
  return (row?.lastSeenAt ?? new Date()).toISOString();
}

/** Pushes the expiry of every session of this instance a TTL ahead (the heartbeat). */
export async function refreshSessions(db: Database, instanceId: string, ttlSec: number): Promise<void> {
  await db.update(presenceSessions).set({ expiresAt: expiresIn(ttlSec) }).where(eq(presenceSessions.instanceId, instanceId));
}

/**
 * Deletes every expired session (of any instance: one whose instance stopped refreshing)
 * and returns the users who thereby went offline everywhere, each with the conversations
 * they belong to.
 *
 * Raw SQL, the documented exception: a data-modifying CTE (DELETE … RETURNING feeding a
 * SELECT), which Drizzle's builder cannot express (its `$with` takes only selects). One
 * statement, one round trip per heartbeat: only the instance whose DELETE removed a row
 * reports that user, and the "no live session left" check and the membership lookup read
 * the snapshot the delete ran in.
 */
export async function expireSessions(db: Database): Promise<{ userId: string; conversationIds: string[] }[]> {
  const rows = await db.execute<{ user_id: string; conversation_ids: string[] }>(dsql`
    with gone as (delete from presence_sessions where expires_at < now() returning user_id)
    select g.user_id, array(select conversation_id from members where user_id = g.user_id) as conversation_ids
    from (select distinct user_id from gone) g
    where not exists (select 1 from presence_sessions p where p.user_id = g.user_id and p.expires_at > now())`);
  return rows.map((row) => ({ userId: row.user_id, conversationIds: row.conversation_ids }));
}

/** Removes every session of the instance (graceful stop). */
export async function closeInstanceSessions(db: Database, instanceId: string): Promise<void> {
  await db.delete(presenceSessions).where(eq(presenceSessions.instanceId, instanceId));
}
