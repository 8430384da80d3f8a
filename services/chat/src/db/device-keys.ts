/**
 * The end-to-end encryption key directory (migration 0009, docs/e2e.md): one signed device
 * bundle per (user, device), stored verbatim. The service checks bundles before they get
 * here (domain/keys.ts); this module only reads and writes rows.
 */
import { and, asc, dsql, eq, isNull, schema, type Database, type Tx } from '@chat/db';
import type { DeviceBundle } from '@chat/protocol';
import { prepared } from './prepared.ts';

const { conversations, deviceKeys, members, users } = schema;

export interface DeviceRow {
  userId: string;
  deviceId: string;
  identityKey: string;
  encryptionKeyId: number;
  bundle: DeviceBundle;
}

const deviceColumns = {
  userId: deviceKeys.userId,
  deviceId: deviceKeys.deviceId,
  identityKey: deviceKeys.identityKey,
  encryptionKeyId: deviceKeys.encryptionKeyId,
  bundle: dsql<DeviceBundle>`${deviceKeys.bundle}`,
};

/** The user's devices, oldest first, with the user's row locked until the transaction ends (one publish at a time per user). */
export async function lockUserDevices(tx: Tx, userId: string): Promise<DeviceRow[]> {
  await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('update');
  return tx.select(deviceColumns).from(deviceKeys).where(eq(deviceKeys.userId, userId)).orderBy(asc(deviceKeys.createdAt), asc(deviceKeys.deviceId));
}

export async function insertDevice(tx: Tx, bundle: DeviceBundle): Promise<void> {
  await tx.insert(deviceKeys).values({
    userId: bundle.userId,
    deviceId: bundle.deviceId,
    identityKey: bundle.identityKey,
    encryptionKeyId: bundle.encryptionKey.id,
    bundle,
  });
}

export async function updateDevice(tx: Tx, bundle: DeviceBundle): Promise<void> {
  await tx
    .update(deviceKeys)
    .set({ encryptionKeyId: bundle.encryptionKey.id, bundle, updatedAt: dsql`now()` })
    .where(and(eq(deviceKeys.userId, bundle.userId), eq(deviceKeys.deviceId, bundle.deviceId)));
}

/** True when the device existed (and is now gone). */
export async function deleteDevice(tx: Tx, userId: string, deviceId: string): Promise<boolean> {
  const rows = await tx.delete(deviceKeys).where(and(eq(deviceKeys.userId, userId), eq(deviceKeys.deviceId, deviceId))).returning({ deviceId: deviceKeys.deviceId });
  return rows.length > 0;
}

/** The user's bundles, oldest first. */
export async function userBundles(db: Database, userId: string): Promise<DeviceBundle[]> {
  const rows = await prepared(db, 'userBundles', () =>
    db
      .select({ bundle: deviceColumns.bundle })
      .from(deviceKeys)
      .where(eq(deviceKeys.userId, dsql.placeholder('userId')))
      .orderBy(asc(deviceKeys.createdAt), asc(deviceKeys.deviceId))
      .prepare('user_bundles'),
  ).execute({ userId });
  return rows.map((r) => r.bundle);
}

/** True when the two users are members of one live conversation. */
export async function shareConversation(db: Database, userId: string, otherId: string): Promise<boolean> {
  const [row] = await prepared(db, 'shareConversation', () =>
    db
      .select({ one: dsql<number>`1` })
      .from(members)
      .innerJoin(conversations, and(eq(conversations.id, members.conversationId), isNull(conversations.deletedAt)))
      .where(
        and(
          eq(members.userId, dsql.placeholder('userId')),
          dsql`exists(select 1 from ${members} o where o.conversation_id = ${members.conversationId} and o.user_id = ${dsql.placeholder('otherId')})`,
        ),
      )
      .limit(1)
      .prepare('share_conversation'),
  ).execute({ userId, otherId });
  return row !== undefined;
}

/**
 * One read for an encrypted send: the conversation's members (in join order) and each
 * member's devices. A member with no device has one row with null device fields.
 */
export async function conversationDevices(db: Database, conversationId: string): Promise<{ members: string[]; devices: DeviceRow[] }> {
  const rows = await prepared(db, 'conversationDevices', () =>
    db
      .select({
        memberId: members.userId,
        userId: deviceKeys.userId,
        deviceId: deviceKeys.deviceId,
        identityKey: deviceKeys.identityKey,
        encryptionKeyId: deviceKeys.encryptionKeyId,
        bundle: dsql<DeviceBundle | null>`${deviceKeys.bundle}`,
      })
      .from(members)
      .leftJoin(deviceKeys, eq(deviceKeys.userId, members.userId))
      .where(eq(members.conversationId, dsql.placeholder('conversationId')))
      .orderBy(asc(members.joinedAt), asc(members.userId), asc(deviceKeys.createdAt), asc(deviceKeys.deviceId))
      .prepare('conversation_devices'),
  ).execute({ conversationId });
  const memberIds: string[] = [];
  const devices: DeviceRow[] = [];
  for (const row of rows) {
    if (!memberIds.includes(row.memberId)) memberIds.push(row.memberId);
    if (row.deviceId !== null) devices.push(row as DeviceRow);
  }
  return { members: memberIds, devices };
}

/** The user's live encrypted conversations (a key change is announced in each). */
export async function encryptedConversationIds(executor: Database | Tx, userId: string): Promise<string[]> {
  const rows = await executor
    .select({ id: conversations.id })
    .from(members)
    .innerJoin(conversations, eq(conversations.id, members.conversationId))
    .where(and(eq(members.userId, userId), dsql`${conversations.encrypted}`, isNull(conversations.deletedAt)));
  return rows.map((r) => r.id);
}

/** Whether the conversation is encrypted, or null when it does not exist (deleted ones included: the flag never changes). */
export async function isEncrypted(db: Database, conversationId: string): Promise<boolean | null> {
  const [row] = await prepared(db, 'isEncrypted', () =>
    db.select({ encrypted: conversations.encrypted }).from(conversations).where(eq(conversations.id, dsql.placeholder('conversationId'))).prepare('is_encrypted'),
  ).execute({ conversationId });
  return row?.encrypted ?? null;
}
