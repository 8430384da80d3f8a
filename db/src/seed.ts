/** Demo data for the embedded default: the users the storefront's demo logins map to, and a public lobby. */
import { and, eq, type Database } from './index.ts';
import * as schema from './schema.ts';

export const DEMO_USERS = [
  { id: 'alice', name: 'Alice Shopper', image: null },
  { id: 'bob', name: 'Bob Buyer', image: null },
  { id: 'carol', name: 'Carol Seller', image: null },
  { id: 'support', name: 'Storefront Support', image: null },
] as const;

export const LOBBY_TITLE = 'Storefront lobby';

/** Idempotent: running it twice changes nothing. */
export async function seedDemo(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(schema.users).values([...DEMO_USERS]).onConflictDoNothing();
    const [lobby] = await tx
      .select({ id: schema.conversations.id })
      .from(schema.conversations)
      .where(and(eq(schema.conversations.title, LOBBY_TITLE), eq(schema.conversations.isPublic, true)));
    if (!lobby) {
      const [created] = await tx
        .insert(schema.conversations)
        .values({ kind: 'group', title: LOBBY_TITLE, creatorId: 'support', isPublic: true })
        .returning({ id: schema.conversations.id });
      await tx.insert(schema.members).values(
        DEMO_USERS.map((u) => ({ conversationId: created!.id, userId: u.id, role: u.id === 'support' ? ('owner' as const) : ('member' as const) })),
      );
    }
  });
}
