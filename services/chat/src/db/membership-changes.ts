/**
 * Membership and conversation changes. Each is a stream event. An added user's sockets
 * also get a control signal in the same transaction, so every instance subscribes them
 * right after the event; a removal or deletion ends subscriptions through the stream
 * event itself (its `access`, see db/events.ts).
 */
import { and, count, dsql, eq, inArray, schema, type Database, type Tx } from '@chat/db';
import type { Member, Role } from '@chat/protocol';
import { AppError } from '../errors.ts';
import type { Bus, Signal } from '../fanout/bus.ts';
import { nextSeq, recordEvent } from './events.ts';
import { Unchanged } from './message-changes.ts';

const { conversations, members, presenceSessions, users } = schema;

const toUser = (userId: string) => (frame: string): Signal[] => [{ target: `u:${userId}`, exclude: null, frame }];

async function memberSnapshot(tx: Tx, conversationId: string, userId: string): Promise<Member> {
  const [row] = await tx
    .select({
      userId: members.userId,
      name: users.name,
      image: users.image,
      role: members.role,
      lastReadSeq: members.lastReadSeq,
      lastDeliveredSeq: members.lastDeliveredSeq,
      online: dsql<boolean>`exists(select 1 from ${presenceSessions} ps where ps.user_id = ${members.userId} and ps.expires_at > now())`,
      lastSeenAt: users.lastSeenAt,
    })
    .from(members)
    .innerJoin(users, eq(users.id, members.userId))
    .where(and(eq(members.conversationId, conversationId), eq(members.userId, userId)));
  return { ...row!, lastSeenAt: row!.lastSeenAt ? row!.lastSeenAt.toISOString() : null };
}

/**
 * Creates a conversation with its members. Each member's joining is a member.added
 * event (seqs 1..n) with a control signal, so their open sockets start streaming it.
 * A direct conversation is unique per pair: the existing one is returned instead.
 */
export async function createConversation(
  db: Database,
  bus: Bus,
  input: { kind: 'direct' | 'group'; title: string | null; isPublic: boolean; creatorId: string; members: { userId: string; role: Role }[]; encrypted?: boolean },
): Promise<{ id: string; created: boolean }> {
  const directKey = input.kind === 'direct' ? input.members.map((m) => m.userId).sort().join(' ') : null;
  const encrypted = input.encrypted ?? false;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(conversations)
      .values({ kind: input.kind, title: input.title, creatorId: input.creatorId, isPublic: input.isPublic, directKey, encrypted })
      .onConflictDoNothing({ target: [conversations.directKey, conversations.encrypted] })
      .returning({ id: conversations.id });
    if (!row) {
      const [existing] = await tx.select({ id: conversations.id }).from(conversations).where(and(eq(conversations.directKey, directKey!), eq(conversations.encrypted, encrypted)));
      return { id: existing!.id, created: false };
    }
    // The members a conversation is created with see its stream from seq 1 (joined_seq 0).
    await tx.insert(members).values(input.members.map((m) => ({ conversationId: row.id, userId: m.userId, role: m.role })));
    for (const { userId } of input.members) {
      const member = await memberSnapshot(tx, row.id, userId);
      await recordEvent(tx, bus, { conversationId: row.id, type: 'member.added', actorId: input.creatorId, data: { member } }, await nextSeq(tx, row.id), toUser(userId));
    }
    return { id: row.id, created: true };
  });
}

/** Adds users as members; returns the seqs of the member.added events (existing members are skipped). */
export async function addMembers(db: Database, bus: Bus, input: { conversationId: string; actorId: string; userIds: string[]; role?: Role }): Promise<number[]> {
  return db.transaction(async (tx) => {
    const known = await tx.select({ id: users.id }).from(users).where(inArray(users.id, input.userIds));
    const unknown = input.userIds.filter((id) => !known.some((k) => k.id === id));
    if (unknown.length > 0) throw new AppError('NOT_FOUND', 'Some users do not exist.', { userIds: unknown });
    const [live] = await tx
      .select({ id: conversations.id })
      .from(conversations)
      .where(and(eq(conversations.id, input.conversationId), dsql`${conversations.deletedAt} is null`))
      .for('update');
    if (!live) throw new AppError('NOT_FOUND', 'Conversation not found.');
    const existing = await tx
      .select({ userId: members.userId })
      .from(members)
      .where(and(eq(members.conversationId, input.conversationId), inArray(members.userId, input.userIds)));
    const seqs: number[] = [];
    for (const userId of input.userIds.filter((id) => !existing.some((e) => e.userId === id))) {
      const at = await nextSeq(tx, input.conversationId);
      // The membership begins at its own member.added event: its sockets stream from there.
      await tx.insert(members).values({ conversationId: input.conversationId, userId, role: input.role ?? 'member', joinedSeq: at.seq });
      const member = await memberSnapshot(tx, input.conversationId, userId);
      const event = await recordEvent(
        tx,
        bus,
        { conversationId: input.conversationId, type: 'member.added', actorId: input.actorId, data: { member } },
        at,
        toUser(userId),
      );
      seqs.push(event.seq);
    }
    return seqs;
  });
}

/** The member's role, locked until the transaction ends, or null when not a member. */
async function lockMember(tx: Tx, conversationId: string, userId: string): Promise<Role | null> {
  const [row] = await tx
    .select({ role: members.role })
    .from(members)
    .where(and(eq(members.conversationId, conversationId), eq(members.userId, userId)))
    .for('update');
  return row?.role ?? null;
}

async function countMembers(tx: Tx, conversationId: string, role?: Role): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(members)
    .where(and(eq(members.conversationId, conversationId), role ? eq(members.role, role) : undefined));
  return row!.n;
}

export async function removeMember(
  db: Database,
  bus: Bus,
  input: { conversationId: string; actorId: string; userId: string; reason: 'removed' | 'left'; canRemove: (targetRole: Role) => boolean },
): Promise<number> {
  return db.transaction(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const role = await lockMember(tx, input.conversationId, input.userId);
    if (!role) throw new AppError('NOT_FOUND', 'That user is not a member.');
    if (!input.canRemove(role)) throw new AppError('FORBIDDEN', `You may not remove a member with the role ${role}.`);
    if (role === 'owner') {
      const [owners, all] = [await countMembers(tx, input.conversationId, 'owner'), await countMembers(tx, input.conversationId)];
      if (owners === 1 && all > 1) throw new AppError('CONFLICT', 'The last owner must hand ownership to someone first.');
    }
    await tx.delete(members).where(and(eq(members.conversationId, input.conversationId), eq(members.userId, input.userId)));
    const event = await recordEvent(
      tx,
      bus,
      { conversationId: input.conversationId, type: 'member.removed', actorId: input.actorId, data: { userId: input.userId, reason: input.reason } },
      at,
    );
    return event.seq;
  });
}

export async function changeRole(db: Database, bus: Bus, input: { conversationId: string; actorId: string; userId: string; role: Role }): Promise<{ seq: number | null }> {
  return db
    .transaction(async (tx) => {
      const at = await nextSeq(tx, input.conversationId);
      const before = await lockMember(tx, input.conversationId, input.userId);
      if (!before) throw new AppError('NOT_FOUND', 'That user is not a member.');
      if (before === input.role) throw new Unchanged();
      if (before === 'owner' && (await countMembers(tx, input.conversationId, 'owner')) === 1) {
        throw new AppError('CONFLICT', 'A conversation keeps at least one owner.');
      }
      await tx
        .update(members)
        .set({ role: input.role })
        .where(and(eq(members.conversationId, input.conversationId), eq(members.userId, input.userId)));
      const event = await recordEvent(
        tx,
        bus,
        { conversationId: input.conversationId, type: 'member.role_changed', actorId: input.actorId, data: { userId: input.userId, role: input.role } },
        at,
      );
      return { seq: event.seq as number | null };
    })
    .catch((error: unknown) => {
      if (error instanceof Unchanged) return { seq: null };
      throw error;
    });
}

export async function updateConversation(
  db: Database,
  bus: Bus,
  input: { conversationId: string; actorId: string; title?: string | undefined; isPublic?: boolean | undefined },
): Promise<number> {
  return db.transaction(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const [row] = await tx
      .update(conversations)
      .set({ title: input.title ?? dsql`${conversations.title}`, isPublic: input.isPublic ?? dsql`${conversations.isPublic}` })
      .where(eq(conversations.id, input.conversationId))
      .returning({ title: conversations.title, isPublic: conversations.isPublic });
    const event = await recordEvent(
      tx,
      bus,
      { conversationId: input.conversationId, type: 'conversation.updated', actorId: input.actorId, data: { title: row!.title, isPublic: row!.isPublic } },
      at,
    );
    return event.seq;
  });
}

export async function deleteConversation(db: Database, bus: Bus, input: { conversationId: string; actorId: string }): Promise<number> {
  return db.transaction(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    await tx.update(conversations).set({ deletedAt: at.now }).where(eq(conversations.id, input.conversationId));
    const event = await recordEvent(tx, bus, { conversationId: input.conversationId, type: 'conversation.deleted', actorId: input.actorId, data: {} }, at);
    return event.seq;
  });
}

/** Mutes or unmutes the conversation for one member; false when they are not a member. */
export async function setMuted(db: Database, input: { conversationId: string; userId: string; muted: boolean }): Promise<boolean> {
  const updated = await db
    .update(members)
    .set({ muted: input.muted })
    .where(and(eq(members.conversationId, input.conversationId), eq(members.userId, input.userId)))
    .returning({ userId: members.userId });
  return updated.length > 0;
}
