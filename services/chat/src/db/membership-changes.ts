/**
 * Membership and conversation changes. Each is a stream event. An added user's sockets
 * also get a control signal in the same transaction, so every instance subscribes them
 * right after the event; a removal or deletion ends subscriptions through the stream
 * event itself (its `access`, see db/events.ts).
 */
import type { Member, Role } from '@chat/protocol';
import type { Sql, TransactionSql } from 'postgres';
import { AppError } from '../errors.ts';
import type { Bus, Signal } from '../fanout/bus.ts';
import { nextSeq, recordEvent } from './events.ts';
import { Unchanged } from './message-changes.ts';

const toUser = (userId: string) => (frame: string): Signal[] => [{ target: `u:${userId}`, exclude: null, frame }];

async function memberSnapshot(tx: TransactionSql, conversationId: string, userId: string): Promise<Member> {
  const [row] = await tx<Member[]>`
    select m.user_id as "userId", u.name, u.image, m.role, m.last_read_seq as "lastReadSeq",
           m.last_delivered_seq as "lastDeliveredSeq",
           exists(select 1 from presence_sessions ps where ps.user_id = m.user_id and ps.expires_at > now()) as online,
           u.last_seen_at as "lastSeenAt"
    from members m join users u on u.id = m.user_id
    where m.conversation_id = ${conversationId} and m.user_id = ${userId}`;
  return { ...row!, lastSeenAt: row!.lastSeenAt ? new Date(row!.lastSeenAt).toISOString() : null };
}

/**
 * Creates a conversation with its members. Each member's joining is a member.added
 * event (seqs 1..n) with a control signal, so their open sockets start streaming it.
 * A direct conversation is unique per pair: the existing one is returned instead.
 */
export async function createConversation(
  sql: Sql,
  bus: Bus,
  input: { kind: 'direct' | 'group'; title: string | null; isPublic: boolean; creatorId: string; members: { userId: string; role: Role }[] },
): Promise<{ id: string; created: boolean }> {
  const directKey = input.kind === 'direct' ? input.members.map((m) => m.userId).sort().join(' ') : null;
  return sql.begin(async (tx) => {
    const [row] = await tx<{ id: string }[]>`
      insert into conversations (kind, title, creator_id, is_public, direct_key)
      values (${input.kind}, ${input.title}, ${input.creatorId}, ${input.isPublic}, ${directKey})
      on conflict (direct_key) do nothing returning id`;
    if (!row) {
      const [existing] = await tx<{ id: string }[]>`select id from conversations where direct_key = ${directKey}`;
      return { id: existing!.id, created: false };
    }
    await tx`insert into members (conversation_id, user_id, role)
             select ${row.id}, * from unnest(${input.members.map((m) => m.userId)}::text[], ${input.members.map((m) => m.role)}::text[])`;
    for (const { userId } of input.members) {
      const member = await memberSnapshot(tx, row.id, userId);
      await recordEvent(tx, bus, { conversationId: row.id, type: 'member.added', actorId: input.creatorId, data: { member } }, await nextSeq(tx, row.id), toUser(userId));
    }
    return { id: row.id, created: true };
  });
}

/** Adds users as members; returns the seqs of the member.added events (existing members are skipped). */
export async function addMembers(sql: Sql, bus: Bus, input: { conversationId: string; actorId: string; userIds: string[]; role?: Role }): Promise<number[]> {
  return sql.begin(async (tx) => {
    const known = await tx<{ id: string }[]>`select id from users where id = any(${input.userIds}::text[])`;
    const unknown = input.userIds.filter((id) => !known.some((k) => k.id === id));
    if (unknown.length > 0) throw new AppError('NOT_FOUND', 'Some users do not exist.', { userIds: unknown });
    const [live] = await tx`select 1 from conversations where id = ${input.conversationId} and deleted_at is null for update`;
    if (!live) throw new AppError('NOT_FOUND', 'Conversation not found.');
    const existing = await tx<{ user_id: string }[]>`
      select user_id from members where conversation_id = ${input.conversationId} and user_id = any(${input.userIds}::text[])`;
    const seqs: number[] = [];
    for (const userId of input.userIds.filter((id) => !existing.some((e) => e.user_id === id))) {
      const at = await nextSeq(tx, input.conversationId);
      await tx`insert into members (conversation_id, user_id, role, joined_seq)
               values (${input.conversationId}, ${userId}, ${input.role ?? 'member'}, ${at.seq})`;
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

export async function removeMember(
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; actorId: string; userId: string; reason: 'removed' | 'left'; canRemove: (targetRole: Role) => boolean },
): Promise<number> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const [target] = await tx<{ role: Role }[]>`
      select role from members where conversation_id = ${input.conversationId} and user_id = ${input.userId} for update`;
    if (!target) throw new AppError('NOT_FOUND', 'That user is not a member.');
    if (!input.canRemove(target.role)) throw new AppError('FORBIDDEN', `You may not remove a member with the role ${target.role}.`);
    if (target.role === 'owner') {
      const [{ owners }] = await tx<[{ owners: number }]>`
        select count(*)::int as owners from members where conversation_id = ${input.conversationId} and role = 'owner'`;
      const [{ members }] = await tx<[{ members: number }]>`
        select count(*)::int as members from members where conversation_id = ${input.conversationId}`;
      if (owners === 1 && members > 1) throw new AppError('CONFLICT', 'The last owner must hand ownership to someone first.');
    }
    await tx`delete from members where conversation_id = ${input.conversationId} and user_id = ${input.userId}`;
    const event = await recordEvent(
      tx,
      bus,
      { conversationId: input.conversationId, type: 'member.removed', actorId: input.actorId, data: { userId: input.userId, reason: input.reason } },
      at,
    );
    return event.seq;
  });
}

export async function changeRole(sql: Sql, bus: Bus, input: { conversationId: string; actorId: string; userId: string; role: Role }): Promise<{ seq: number | null }> {
  return sql
    .begin(async (tx) => {
      const at = await nextSeq(tx, input.conversationId);
      const [before] = await tx<{ role: Role }[]>`
        select role from members where conversation_id = ${input.conversationId} and user_id = ${input.userId} for update`;
      if (!before) throw new AppError('NOT_FOUND', 'That user is not a member.');
      if (before.role === input.role) throw new Unchanged();
      if (before.role === 'owner') {
        const [{ owners }] = await tx<[{ owners: number }]>`
          select count(*)::int as owners from members where conversation_id = ${input.conversationId} and role = 'owner'`;
        if (owners === 1) throw new AppError('CONFLICT', 'A conversation keeps at least one owner.');
      }
      await tx`update members set role = ${input.role} where conversation_id = ${input.conversationId} and user_id = ${input.userId}`;
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
  sql: Sql,
  bus: Bus,
  input: { conversationId: string; actorId: string; title?: string | undefined; isPublic?: boolean | undefined },
): Promise<number> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    const [row] = await tx<{ title: string | null; is_public: boolean }[]>`
      update conversations set
        title = coalesce(${input.title ?? null}, title),
        is_public = coalesce(${input.isPublic ?? null}::boolean, is_public)
      where id = ${input.conversationId} returning title, is_public`;
    const event = await recordEvent(
      tx,
      bus,
      { conversationId: input.conversationId, type: 'conversation.updated', actorId: input.actorId, data: { title: row!.title, isPublic: row!.is_public } },
      at,
    );
    return event.seq;
  });
}

export async function deleteConversation(sql: Sql, bus: Bus, input: { conversationId: string; actorId: string }): Promise<number> {
  return sql.begin(async (tx) => {
    const at = await nextSeq(tx, input.conversationId);
    await tx`update conversations set deleted_at = ${at.now} where id = ${input.conversationId}`;
    const event = await recordEvent(tx, bus, { conversationId: input.conversationId, type: 'conversation.deleted', actorId: input.actorId, data: {} }, at);
    return event.seq;
  });
}
