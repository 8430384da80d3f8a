/** Conversations, memberships and the conversation list. */
import type { Conversation, Role } from '@chat/protocol';
import type { Sql } from 'postgres';
import { AppError } from '../errors.ts';
import { MESSAGE_COLUMNS, toMessage, type MessageRow } from './rows.ts';

/** Unread counts stop at this number (badges show "99+"): each count is one bounded index range scan. */
export const UNREAD_CAP = 100;
const LIST_MEMBERS = 50;

/** The conversation's kind and the user's role in it (null when not a member), or null when it does not exist. */
export async function access(sql: Sql, conversationId: string, userId: string): Promise<{ kind: 'direct' | 'group'; isPublic: boolean; role: Role | null } | null> {
  const [row] = await sql<{ kind: 'direct' | 'group'; is_public: boolean; role: Role | null }[]>`
    select c.kind, c.is_public, m.role from conversations c
    left join members m on m.conversation_id = c.id and m.user_id = ${userId}
    where c.id = ${conversationId} and c.deleted_at is null`;
  return row ? { kind: row.kind, isPublic: row.is_public, role: row.role } : null;
}

/** The ids of every live conversation the user belongs to. */
export async function membershipIds(sql: Sql, userId: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select c.id from members m join conversations c on c.id = m.conversation_id
    where m.user_id = ${userId} and c.deleted_at is null`;
  return rows.map((r) => r.id);
}

/**
 * Of `ids`, the live conversations the user is a member of, each with its stream's last
 * seq and the seq that began the membership. One statement, so one snapshot: a membership
 * change and the seq it took are seen together or not at all.
 */
export async function streamPositions(sql: Sql, userId: string, ids: string[]): Promise<Map<string, { lastSeq: number; joinedSeq: number }>> {
  const rows = await sql<{ id: string; last_seq: number; joined_seq: number }[]>`
    select c.id, c.last_seq, m.joined_seq from members m join conversations c on c.id = m.conversation_id
    where m.user_id = ${userId} and m.conversation_id = any(${ids}::uuid[]) and c.deleted_at is null`;
  return new Map(rows.map((r) => [r.id, { lastSeq: r.last_seq, joinedSeq: r.joined_seq }]));
}

export async function existingUserIds(sql: Sql, ids: string[]): Promise<Set<string>> {
  const rows = await sql<{ id: string }[]>`select id from users where id = any(${ids}::text[])`;
  return new Set(rows.map((r) => r.id));
}

interface ListRow {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  is_public: boolean;
  creator_id: string;
  last_seq: number;
  last_activity_at: Date;
  activity_cursor: string;
  created_at: Date;
  role: Role;
  muted: boolean;
  last_read_seq: number;
  unread: number;
  last_message: MessageRow | null;
  members: Conversation['members'];
}

/**
 * The conversation-list row. `from` is `members me join conversations c` (my conversations)
 * or `conversations c left join members me` (one conversation a system role may read).
 */
const conversationSelect = (sql: Sql, userId: string, single = false) => sql`
  select c.id, c.kind, c.title, c.is_public, c.creator_id, c.last_seq, c.last_activity_at,
         c.last_activity_at::text as activity_cursor, c.created_at,
         me.role, coalesce(me.muted, false) as muted, coalesce(me.last_read_seq, 0) as last_read_seq,
         (select count(*) from (
            select 1 from messages u
            where u.conversation_id = c.id and u.seq > me.last_read_seq
              and u.sender_id <> ${userId} and u.deleted_at is null
            limit ${UNREAD_CAP}) capped)::int * (me.user_id is not null)::int as unread,
         (select to_json(lm) from (
            select ${sql.unsafe(MESSAGE_COLUMNS)} from messages m left join messages p on p.id = m.reply_to_id
            where m.conversation_id = c.id order by m.seq desc limit 1) lm) as last_message,
         (select coalesce(json_agg(x), '[]') from (
            select mm.user_id as "userId", us.name, us.image, mm.role,
                   mm.last_read_seq as "lastReadSeq", mm.last_delivered_seq as "lastDeliveredSeq",
                   exists(select 1 from presence_sessions ps where ps.user_id = mm.user_id and ps.expires_at > now()) as online,
                   us.last_seen_at as "lastSeenAt"
            from members mm join users us on us.id = mm.user_id
            where mm.conversation_id = c.id order by mm.joined_at, mm.user_id limit ${LIST_MEMBERS}) x) as members
  ${
    single
      ? sql`from conversations c left join members me on me.conversation_id = c.id and me.user_id = ${userId} where c.deleted_at is null`
      : sql`from members me join conversations c on c.id = me.conversation_id where me.user_id = ${userId} and c.deleted_at is null`
  }`;

function toConversation(row: ListRow): Conversation {
  const last = row.last_message;
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    isPublic: row.is_public,
    creatorId: row.creator_id,
    lastSeq: row.last_seq,
    lastActivityAt: row.last_activity_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    role: row.role,
    muted: row.muted,
    lastReadSeq: row.last_read_seq,
    unreadCount: row.unread,
    // json rows carry timestamps as strings
    lastMessage: last
      ? toMessage({ ...last, created_at: new Date(last.created_at), edited_at: last.edited_at && new Date(last.edited_at), deleted_at: last.deleted_at && new Date(last.deleted_at) })
      : null,
    members: row.members,
  };
}

/** One conversation; `role` is the caller's effective role (a system role when not a member). */
export async function getConversation(sql: Sql, userId: string, conversationId: string, role?: Role): Promise<Conversation> {
  const [row] = await sql<ListRow[]>`${conversationSelect(sql, userId, true)} and c.id = ${conversationId}`;
  const effective = row?.role ?? role;
  if (!row || !effective) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
  return toConversation({ ...row, role: effective });
}

/** Most recent activity first; the cursor is the last row's (activity, id). */
export async function listConversations(
  sql: Sql,
  userId: string,
  options: { limit: number; cursor?: string },
): Promise<{ conversations: Conversation[]; nextCursor: string | null; totalUnread: number }> {
  const after = options.cursor ? decodeCursor(options.cursor) : null;
  const [rows, [total]] = await Promise.all([
    sql<ListRow[]>`${conversationSelect(sql, userId)}
      ${after ? sql`and (c.last_activity_at, c.id) < (${after.at}::text::timestamptz, ${after.id}::uuid)` : sql``}
      order by c.last_activity_at desc, c.id desc limit ${options.limit + 1}`,
    sql<{ total: number }[]>`
      select coalesce(sum((select count(*) from (
          select 1 from messages u
          where u.conversation_id = me.conversation_id and u.seq > me.last_read_seq
            and u.sender_id <> ${userId} and u.deleted_at is null
          limit ${UNREAD_CAP}) capped)), 0)::int as total
      from members me join conversations c on c.id = me.conversation_id
      where me.user_id = ${userId} and not me.muted and c.deleted_at is null`,
  ]);
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    conversations: page.map(toConversation),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.activity_cursor, last.id) : null,
    totalUnread: total?.total ?? 0,
  };
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!at || !id || !/^[0-9a-f-]{36}$/i.test(id) || !/^\d{4}-\d{2}-\d{2}[ T][\d:.+-]+$/.test(at)) {
    throw new AppError('VALIDATION_FAILED', 'cursor is not valid.');
  }
  return { at, id };
}

/** Public groups anyone signed in may join, most active first. */
export async function listPublic(sql: Sql, userId: string, options: { limit: number; cursor?: string }) {
  const after = options.cursor ? decodeCursor(options.cursor) : null;
  const rows = await sql<{ id: string; title: string | null; member_count: number; last_activity_at: Date; activity_cursor: string; joined: boolean }[]>`
    select c.id, c.title, c.last_activity_at, c.last_activity_at::text as activity_cursor,
           (select count(*)::int from members m where m.conversation_id = c.id) as member_count,
           exists(select 1 from members m where m.conversation_id = c.id and m.user_id = ${userId}) as joined
    from conversations c
    where c.is_public and c.deleted_at is null
      ${after ? sql`and (c.last_activity_at, c.id) < (${after.at}::text::timestamptz, ${after.id}::uuid)` : sql``}
    order by c.last_activity_at desc, c.id desc limit ${options.limit + 1}`;
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    conversations: page.map((r) => ({ id: r.id, title: r.title, memberCount: r.member_count, lastActivityAt: r.last_activity_at.toISOString(), joined: r.joined })),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.activity_cursor, last.id) : null,
  };
}
