/**
 * Web Push rows (migration 0007): subscriptions per user and device, settings, and what was
 * sent to each device. The push job (push/notify.ts) reads a member's state here and sends
 * under a delivery row's lock.
 */
import { and, asc, desc, dsql, eq, gt, ne, schema, type Database, type Tx } from '@chat/db';

const { pushSubscriptions, pushSettings, pushDeliveries, members, conversations, messages, users, presenceSessions } = schema;

/** Devices per user; registering one more drops the one registered longest ago. */
export const MAX_SUBSCRIPTIONS_PER_USER = 10;
/** Unread counts in notifications stop here (shown as "99+"), like the conversation list's. */
export const PUSH_COUNT_CAP = 100;

export interface SubscriptionRow {
  id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  label: string | null;
  createdAt: Date;
  lastSentAt: Date | null;
}

const subscriptionColumns = {
  id: pushSubscriptions.id,
  endpoint: pushSubscriptions.endpoint,
  p256dh: pushSubscriptions.p256dh,
  auth: pushSubscriptions.auth,
  label: pushSubscriptions.label,
  createdAt: pushSubscriptions.createdAt,
  lastSentAt: pushSubscriptions.lastSentAt,
};

/**
 * Stores the browser's subscription for the user. An endpoint is one browser's: registered
 * again (by this user or by whoever signed in on that browser since), it moves to the caller
 * with its new keys. Returns the row and whether it is new to this user.
 */
export async function upsertSubscription(
  db: Database,
  input: { userId: string; endpoint: string; p256dh: string; auth: string; label: string | null },
): Promise<{ row: SubscriptionRow; created: boolean }> {
  return db.transaction(async (tx) => {
    const [previous] = await tx.select({ userId: pushSubscriptions.userId }).from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, input.endpoint)).for('update');
    const [row] = await tx
      .insert(pushSubscriptions)
      .values(input)
      .onConflictDoUpdate({
        target: pushSubscriptions.endpoint,
        set: { userId: input.userId, p256dh: input.p256dh, auth: input.auth, label: input.label, createdAt: dsql`now()` },
      })
      .returning(subscriptionColumns);
    if (previous && previous.userId !== input.userId) {
      // Another user's notifications must not follow the browser: forget what was sent there.
      await tx.delete(pushDeliveries).where(eq(pushDeliveries.subscriptionId, row!.id));
    }
    // Keep the newest MAX_SUBSCRIPTIONS_PER_USER devices.
    await tx.execute(dsql`
      delete from push_subscriptions where user_id = ${input.userId} and id in (
        select id from push_subscriptions where user_id = ${input.userId} order by created_at desc, id offset ${MAX_SUBSCRIPTIONS_PER_USER})`);
    return { row: row!, created: previous?.userId !== input.userId };
  });
}

export function listSubscriptions(db: Database | Tx, userId: string): Promise<SubscriptionRow[]> {
  return db.select(subscriptionColumns).from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId)).orderBy(desc(pushSubscriptions.createdAt), asc(pushSubscriptions.id));
}

/** Deletes the user's own subscription; false when the user has none with this id. */
export async function deleteSubscription(db: Database, userId: string, id: string): Promise<boolean> {
  const rows = await db.delete(pushSubscriptions).where(and(eq(pushSubscriptions.id, id), eq(pushSubscriptions.userId, userId))).returning({ id: pushSubscriptions.id });
  return rows.length > 0;
}

export interface PushSettingsRow {
  enabled: boolean;
  preview: 'sender' | 'message';
}

export async function getSettings(db: Database | Tx, userId: string): Promise<PushSettingsRow> {
  const [row] = await db.select({ enabled: pushSettings.enabled, preview: pushSettings.preview }).from(pushSettings).where(eq(pushSettings.userId, userId));
  return row ?? { enabled: true, preview: 'sender' };
}

export async function updateSettings(db: Database, userId: string, change: Partial<PushSettingsRow>): Promise<PushSettingsRow> {
  const [row] = await db
    .insert(pushSettings)
    .values({ userId, ...change })
    .onConflictDoUpdate({ target: pushSettings.userId, set: change })
    .returning({ enabled: pushSettings.enabled, preview: pushSettings.preview });
  return row!;
}

/** What a push job needs about one member of one conversation, read when it runs. */
export interface PushState {
  settings: PushSettingsRow;
  muted: boolean;
  /** A presence row of the user is live on some instance: a socket delivers instead. */
  online: boolean;
  kind: 'direct' | 'group';
  /** End-to-end encrypted: the body is ciphertext, so a notification names the sender only. */
  encrypted: boolean;
  title: string | null;
  /** Unread messages from others (up to PUSH_COUNT_CAP) and the newest of them. */
  count: number;
  latest: { seq: number; senderName: string; body: string | null; attachments: number } | null;
}

/** The member's push state, or null when they are no longer a member or the conversation is gone. */
export async function pushState(db: Database, userId: string, conversationId: string): Promise<PushState | null> {
  const [member] = await db
    .select({ muted: members.muted, lastReadSeq: members.lastReadSeq, kind: conversations.kind, encrypted: conversations.encrypted, title: conversations.title, deletedAt: conversations.deletedAt })
    .from(members)
    .innerJoin(conversations, eq(conversations.id, members.conversationId))
    .where(and(eq(members.conversationId, conversationId), eq(members.userId, userId)));
  if (!member || member.deletedAt) return null;
  const unread = and(eq(messages.conversationId, conversationId), gt(messages.seq, member.lastReadSeq), ne(messages.senderId, userId), dsql`${messages.body} is not null`);
  const [latest] = await db
    .select({ seq: messages.seq, senderName: users.name, body: messages.body, attachments: dsql<number>`coalesce(jsonb_array_length(${messages.attachments}), 0)` })
    .from(messages)
    .innerJoin(users, eq(users.id, messages.senderId))
    .where(unread)
    .orderBy(desc(messages.seq))
    .limit(1);
  const [counted] = await db.execute<{ n: number }>(dsql`select count(*)::int as n from (select 1 from messages where ${unread} limit ${PUSH_COUNT_CAP}) u`);
  const [live] = await db.select({ one: dsql<number>`1` }).from(presenceSessions).where(and(eq(presenceSessions.userId, userId), dsql`${presenceSessions.expiresAt} > now()`)).limit(1);
  return {
    settings: await getSettings(db, userId),
    muted: member.muted,
    online: live !== undefined,
    kind: member.kind,
    encrypted: member.encrypted,
    title: member.title,
    count: counted?.n ?? 0,
    latest: latest ? { ...latest, senderName: latest.senderName ?? 'Someone' } : null,
  };
}

export type DeliveryOutcome = 'sent' | 'skipped' | 'gone' | 'failed' | 'rejected';

/**
 * Runs `send` for one device unless it was already notified of `seq` in this conversation,
 * holding the delivery row's lock meanwhile, so concurrent jobs for the same member never
 * send one message to one device twice. `send` says what the push service answered:
 * `sent` records seq; `gone` deletes the subscription; anything else records nothing.
 */
export async function deliverOnce(db: Database, subscriptionId: string, conversationId: string, seq: number, send: () => Promise<DeliveryOutcome>): Promise<DeliveryOutcome> {
  return db.transaction(async (tx) => {
    await tx.execute(dsql`
      insert into push_deliveries (subscription_id, conversation_id)
      select ${subscriptionId}, ${conversationId} where exists (select 1 from push_subscriptions where id = ${subscriptionId})
      on conflict do nothing`);
    const [row] = await tx
      .select({ lastSeq: pushDeliveries.lastSeq })
      .from(pushDeliveries)
      .where(and(eq(pushDeliveries.subscriptionId, subscriptionId), eq(pushDeliveries.conversationId, conversationId)))
      .for('update');
    // The subscription was deleted meanwhile (the insert found no parent row to keep).
    if (!row || row.lastSeq >= seq) return 'skipped';
    const outcome = await send();
    if (outcome === 'sent') {
      await tx.update(pushDeliveries).set({ lastSeq: seq, sentAt: dsql`now()` }).where(and(eq(pushDeliveries.subscriptionId, subscriptionId), eq(pushDeliveries.conversationId, conversationId)));
      await tx.update(pushSubscriptions).set({ lastSentAt: dsql`now()` }).where(eq(pushSubscriptions.id, subscriptionId));
    } else if (outcome === 'gone') {
      await tx.delete(pushSubscriptions).where(eq(pushSubscriptions.id, subscriptionId));
    }
    return outcome;
  });
}
