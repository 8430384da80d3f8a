import { dsql, schema, type Database } from '@chat/db';

const { users } = schema;

export interface UserUpsert {
  id: string;
  name: string | null;
  image: string | null;
}

/**
 * Mirrors token claims into `users`; one statement for a whole batch. A row whose name
 * and image are unchanged is left alone (no new row version, no write).
 */
export async function upsertUsers(db: Database, batch: UserUpsert[]): Promise<void> {
  // One row per id: ON CONFLICT cannot touch the same row twice in one statement.
  const unique = [...new Map(batch.map((u) => [u.id, u])).values()];
  if (unique.length === 0) return;
  await db
    .insert(users)
    .values(unique.map(({ id, name, image }) => ({ id, name, image })))
    .onConflictDoUpdate({
      target: users.id,
      set: { name: dsql`excluded.name`, image: dsql`excluded.image` },
      setWhere: dsql`${users.name} is distinct from excluded.name or ${users.image} is distinct from excluded.image`,
    });
}
