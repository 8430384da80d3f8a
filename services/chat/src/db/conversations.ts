/** Conversations, memberships and the conversation list. */
import { alias, and, desc, dsql, eq, isNull, not, schema, type Database, type SQL } from '@chat/db';
import type { Conversation, Role } from '@chat/protocol';
import { AppError } from '../errors.ts';
import { prepared } from './prepared.ts';
import { fromJson, messageColumnList, toMessage, type MessageJson } from './rows.ts';

const { conversations, members, users } = schema;
/** The caller's own membership row in the conversation list. */
const me = alias(members, 'me');

/** Unread counts stop at this number (badges show "99+"): each count is one bounded index range scan. */
export const UNREAD_CAP = 100;
const LIST_MEMBERS = 50;

/** The conversation's kind and the user's role in it (null when not a member), or null when it does not exist. */
export async function access(
  db: Database,
  conversationId: string,
  userId: string,
): Promise<{ kind: 'direct' | 'group'; isPublic: boolean; encrypted: boolean; role: Role | null } | null> {
  const [row] = await prepared(db, 'access', () =>
    db
      .select({ kind: conversations.kind, isPublic: conversations.isPublic, encrypted: conversations.encrypted, role: members.role })
      .from(conversations)
      .leftJoin(members, and(eq(members.conversationId, conversations.id), eq(members.userId, dsql.placeholder('userId'))))
      .where(and(eq(conversations.id, dsql.placeholder('conversationId')), isNull(conversations.deletedAt)))
      .prepare('access'),
  ).execute({ conversationId, userId });
  return row ?? null;
}

/** The ids of every live conversation the user belongs to. */
export async function membershipIds(db: Database, userId: string): Promise<string[]> {
  const rows = await prepared(db, 'membershipIds', () =>
    db
      .select({ id: conversations.id })
      .from(members)
      .innerJoin(conversations, eq(conversations.id, members.conversationId))
      .where(and(eq(members.userId, dsql.placeholder('userId')), isNull(conversations.deletedAt)))
      .prepare('membership_ids'),
  ).execute({ userId });
  return rows.map((r) => r.id);
}

/**
 * Of `ids`, the live conversations the user is a member of, each with its stream's last
 * seq and the seq that began the membership. One statement, so one snapshot: a membership
 * change and the seq it took are seen together or not at all.
 */
export async function streamPositions(db: Database, userId: string, ids: string[]): Promise<Map<string, { lastSeq: number; joinedSeq: number }>> {
  const rows = await prepared(db, 'streamPositions', () =>
    db
      .select({ id: conversations.id, lastSeq: conversations.lastSeq, joinedSeq: members.joinedSeq })
      .from(members)
      .innerJoin(conversations, eq(conversations.id, members.conversationId))
      .where(and(eq(members.userId, dsql.placeholder('userId')), anyOf(members.conversationId, 'ids', 'uuid'), isNull(conversations.deletedAt)))
      .prepare('stream_positions'),
  ).execute({ userId, ids });
  return new Map(rows.map((r) => [r.id, { lastSeq: r.lastSeq, joinedSeq: r.joinedSeq }]));
}

export async function existingUserIds(db: Database, ids: string[]): Promise<Set<string>> {
  const rows = await prepared(db, 'existingUserIds', () =>
    db.select({ id: users.id }).from(users).where(anyOf(users.id, 'ids', 'text')).prepare('existing_user_ids'),
  ).execute({ ids });
  return new Set(rows.map((r) => r.id));
}

/**
 * `column = any($n::type[])` with the ids in one array parameter, so one statement
 * whatever their number (inArray writes a parameter per id).
 */
function anyOf(column: Parameters<typeof eq>[0], placeholder: string, type: 'uuid' | 'text'): SQL {
  return dsql`${column} = any(${dsql.placeholder(placeholder)}::${dsql.raw(type)}[])`;
}

/** Messages of the conversation not sent by the user and after their read mark, counted up to UNREAD_CAP. */
const unreadCapped = dsql<number>`(select count(*) from (
  select 1 from messages u
  where u.conversation_id = ${conversations.id} and u.seq > ${me.lastReadSeq}
    and u.sender_id <> ${dsql.placeholder('userId')} and u.deleted_at is null
  limit ${UNREAD_CAP}) capped)`;

/**
 * The conversation-list row: columns of `conversations` and of the caller's membership
 * `me`, with three correlated subqueries the builder has no words for (a capped count,
 * the newest message as JSON, the first members as a JSON array).
 */
const listFields = {
  id: conversations.id,
  kind: conversations.kind,
  title: conversations.title,
  isPublic: conversations.isPublic,
  encrypted: conversations.encrypted,
  creatorId: conversations.creatorId,
  lastSeq: conversations.lastSeq,
  lastActivityAt: conversations.lastActivityAt,
  activityCursor: dsql<string>`${conversations.lastActivityAt}::text`,
  createdAt: conversations.createdAt,
  role: me.role,
  muted: dsql<boolean>`coalesce(${me.muted}, false)`,
  lastReadSeq: dsql<number>`coalesce(${me.lastReadSeq}, 0)`,
  unread: dsql<number>`${unreadCapped}::int * (${me.userId} is not null)::int`,
  lastMessage: dsql<MessageJson | null>`(select to_json(lm) from (
    select ${messageColumnList} from messages m left join messages p on p.id = m.reply_to_id
    where m.conversation_id = ${conversations.id} order by m.seq desc limit 1) lm)`,
  members: dsql<Conversation['members']>`(select coalesce(json_agg(x), '[]') from (
    select mm.user_id as "userId", us.name, us.image, mm.role,
           mm.last_read_seq as "lastReadSeq", mm.last_delivered_seq as "lastDeliveredSeq",
           exists(select 1 from presence_sessions ps where ps.user_id = mm.user_id and ps.expires_at > now()) as online,
           us.last_seen_at as "lastSeenAt"
    from members mm join users us on us.id = mm.user_id
    where mm.conversation_id = ${conversations.id} order by mm.joined_at, mm.user_id limit ${LIST_MEMBERS}) x)`,
};

/** Keyset condition: conversations after the cursor (afterAt, afterId) in (last activity, id) descending order. */
const afterCursor = dsql`(${conversations.lastActivityAt}, ${conversations.id}) < (${dsql.placeholder('afterAt')}::text::timestamptz, ${dsql.placeholder('afterId')}::uuid)`;

/** A page of my conversations (the caller's memberships and their live conversations), most recent activity first. */
const listPage = (db: Database, paged: boolean) =>
  db
    .select(listFields)
    .from(me)
    .innerJoin(conversations, eq(conversations.id, me.conversationId))
    .where(and(eq(me.userId, dsql.placeholder('userId')), isNull(conversations.deletedAt), paged ? afterCursor : undefined))
    .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
    .limit(dsql.placeholder('take'))
    .prepare('conversation_list');

type ListRow = Awaited<ReturnType<ReturnType<typeof listPage>['execute']>>[number];

function toConversation(row: ListRow): Conversation {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    isPublic: row.isPublic,
    encrypted: row.encrypted,
    creatorId: row.creatorId,
    lastSeq: row.lastSeq,
    lastActivityAt: row.lastActivityAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    role: row.role,
    muted: row.muted,
    lastReadSeq: row.lastReadSeq,
    unreadCount: row.unread,
    lastMessage: row.lastMessage ? toMessage(fromJson(row.lastMessage)) : null,
    members: row.members,
  };
}

/** One conversation; `role` is the caller's effective role (a system role when not a member). */
export async function getConversation(db: Database, userId: string, conversationId: string, role?: Role): Promise<Conversation> {
  // A system role may read a conversation it is not a member of: `me` is left joined.
  const [row] = await prepared(db, 'getConversation', () =>
    db
      .select(listFields)
      .from(conversations)
      .leftJoin(me, and(eq(me.conversationId, conversations.id), eq(me.userId, dsql.placeholder('userId'))))
      .where(and(isNull(conversations.deletedAt), eq(conversations.id, dsql.placeholder('conversationId'))))
      .prepare('get_conversation'),
  ).execute({ userId, conversationId });
  const effective = row?.role ?? role;
  if (!row || !effective) throw new AppError('FORBIDDEN', 'You are not a member of this conversation.');
  return toConversation({ ...row, role: effective });
}

/** Most recent activity first; the cursor is the last row's (activity, id). */
export async function listConversations(
  db: Database,
  userId: string,
  options: { limit: number; cursor?: string },
): Promise<{ conversations: Conversation[]; nextCursor: string | null; totalUnread: number }> {
  const after = options.cursor ? decodeCursor(options.cursor) : null;
  const list = prepared(db, `conversationList:${after !== null}`, () => listPage(db, after !== null));
  const unread = prepared(db, 'totalUnread', () =>
    db
      .select({ total: dsql<number>`coalesce(sum(${unreadCapped}), 0)::int` })
      .from(me)
      .innerJoin(conversations, eq(conversations.id, me.conversationId))
      .where(and(eq(me.userId, dsql.placeholder('userId')), not(me.muted), isNull(conversations.deletedAt)))
      .prepare('total_unread'),
  );
  const [rows, [total]] = await Promise.all([
    list.execute({ userId, take: options.limit + 1, afterAt: after?.at, afterId: after?.id }),
    unread.execute({ userId }),
  ]);
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    conversations: page.map(toConversation),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.activityCursor, last.id) : null,
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
export async function listPublic(db: Database, userId: string, options: { limit: number; cursor?: string }) {
  const after = options.cursor ? decodeCursor(options.cursor) : null;
  const rows = await prepared(db, `listPublic:${after !== null}`, () =>
    db
      .select({
        id: conversations.id,
        title: conversations.title,
        lastActivityAt: conversations.lastActivityAt,
        activityCursor: dsql<string>`${conversations.lastActivityAt}::text`,
        memberCount: dsql<number>`(select count(*)::int from members m where m.conversation_id = ${conversations.id})`,
        joined: dsql<boolean>`exists(select 1 from members m where m.conversation_id = ${conversations.id} and m.user_id = ${dsql.placeholder('userId')})`,
      })
      .from(conversations)
      // is_public as a bare predicate (not `= $1`), so conversations_public_idx's predicate matches.
      .where(and(dsql`${conversations.isPublic}`, isNull(conversations.deletedAt), after ? afterCursor : undefined))
      .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
      .limit(dsql.placeholder('take'))
      .prepare('public_conversations'),
  ).execute({ userId, take: options.limit + 1, afterAt: after?.at, afterId: after?.id });
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    conversations: page.map((r) => ({ id: r.id, title: r.title, memberCount: r.memberCount, lastActivityAt: r.lastActivityAt.toISOString(), joined: r.joined })),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.activityCursor, last.id) : null,
  };
}
