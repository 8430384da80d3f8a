/**
 * SWR cache keys and the pure functions that fold socket events into cached data.
 * The socket's events arrive in seq order per conversation; history pages and the
 * conversation list come over HTTP. Everything here is idempotent: applying an event
 * twice, or an event already reflected in a fetched page, changes nothing.
 */
import type {
  Conversation,
  ConversationEvent,
  ConversationList,
  HistoryPage,
  Member,
  Message,
  ReactionSummary,
} from '@chat/protocol';
import { unstable_serialize } from 'swr/infinite';

export const CONVERSATIONS_KEY = 'chat:conversations';
export const HISTORY_PAGE_SIZE = 30;

export type HistoryKey = readonly ['chat:history', string, number | null];

/** useSWRInfinite key: page 0 is the newest; each next page ends below the previous page's oldest seq. */
export function historyGetKey(conversationId: string) {
  return (index: number, previous: HistoryPage | null): HistoryKey | null => {
    if (index === 0) return ['chat:history', conversationId, null];
    if (!previous || !previous.hasMore) return null;
    const oldest = previous.messages[0]?.seq;
    return oldest === undefined ? null : ['chat:history', conversationId, oldest];
  };
}

/** The cache key of a conversation's whole infinite history (for a global mutate). */
export function historyCacheKey(conversationId: string): string {
  return unstable_serialize(historyGetKey(conversationId));
}

/** Pages (newest first) → messages in ascending seq. */
export function flattenPages(pages: HistoryPage[] | undefined): Message[] {
  if (!pages) return [];
  const out: Message[] = [];
  const seen = new Set<string>();
  for (let i = pages.length - 1; i >= 0; i--) {
    for (const message of pages[i]!.messages) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      out.push(message);
    }
  }
  return out;
}

// ---- messages known outside the history pages ------------------------------
//
// A history page is a snapshot from when the service answered. A send's ack or a live
// message.created can arrive while a page is still on its way (the first page of a
// conversation just opened, or a refresh), and the page then lacks the message although
// the outbox has already let go of it. So the messages this page learned from acks and
// events are kept on their own, per conversation, and merged with the pages when shown.

/** Messages kept per conversation (the newest): more than a page, so a fresh first page always overlaps them. */
export const KNOWN_LIMIT = 4 * HISTORY_PAGE_SIZE;

/** The known messages of one conversation (ascending seq) after an event; the same array when it changes nothing. */
export function applyEventToKnown(known: readonly Message[], event: ConversationEvent): readonly Message[] {
  if (event.type === 'message.created') {
    const index = known.findIndex((m) => m.id === event.message.id);
    if (index >= 0) {
      // The same message again (its ack and its event): keep the copy held, unless this one is newer.
      const merged = newestCopy(event.message, known[index]!);
      return merged === known[index] ? known : known.map((m, i) => (i === index ? merged : m));
    }
    const next = [...known, event.message].sort((a, b) => a.seq - b.seq);
    return next.length > KNOWN_LIMIT ? next.slice(next.length - KNOWN_LIMIT) : next;
  }
  if (event.type !== 'message.edited' && event.type !== 'message.deleted' && event.type !== 'reaction.added' && event.type !== 'reaction.removed') return known;
  if (!known.some((m) => m.id === event.messageId)) return known;
  return applyEventToHistory([{ messages: [...known], hasMore: false }], event)![0]!.messages;
}

/**
 * The messages to show: the loaded pages merged with the known ones, each message once
 * (by id), in seq order. A known message the pages lack is shown when it is within the
 * loaded range (or nothing older is left to load); while no page has arrived, the newest
 * page's worth of known messages stands in.
 */
export function mergeHistory(pages: HistoryPage[] | undefined, known: readonly Message[]): Message[] {
  const loaded = flattenPages(pages);
  if (known.length === 0) return loaded;
  if (!pages || pages.length === 0) return known.slice(-HISTORY_PAGE_SIZE);
  const byId = new Map(known.map((m) => [m.id, m]));
  const out = loaded.map((m) => {
    const other = byId.get(m.id);
    if (!other) return m;
    byId.delete(m.id);
    return newestCopy(m, other);
  });
  const complete = !(pages[pages.length - 1]?.hasMore ?? false);
  const oldest = loaded[0]?.seq;
  let added = false;
  for (const m of byId.values()) {
    if (complete || oldest === undefined || m.seq >= oldest) {
      out.push(m);
      added = true;
    }
  }
  return added ? out.sort((a, b) => a.seq - b.seq) : out;
}

/** An encrypted message this device tried and failed to open (the panel's `e2e` state). */
function notOpened(m: Message): boolean {
  const state = (m as { e2e?: unknown }).e2e;
  return typeof state === 'string' && state !== 'ok';
}

/**
 * Two copies of one message (a page's and an event's): a deletion wins, then one that opened
 * over one that did not (encrypted), then the later edit, then `b`; the reaction summary and reply preview come from whichever copy has them.
 */
function newestCopy(a: Message, b: Message): Message {
  let base: Message;
  let other: Message;
  if (!!a.deletedAt !== !!b.deletedAt) [base, other] = a.deletedAt ? [a, b] : [b, a];
  // Of one version of an encrypted message, the copy that opened beats one that did not (a live
  // copy from a contact's new device fails until "Accept new keys"; the page fetched since opens).
  else if ((a.editedAt ?? '') === (b.editedAt ?? '') && notOpened(a) !== notOpened(b)) [base, other] = notOpened(a) ? [b, a] : [a, b];
  else if ((a.editedAt ?? '') > (b.editedAt ?? '')) [base, other] = [a, b];
  else [base, other] = [b, a];
  // The optional parts (a live copy may come without them) from whichever copy has them.
  if ((base.reactions !== undefined || other.reactions === undefined) && (base.replyTo !== undefined || other.replyTo === undefined)) return base;
  return { ...base, reactions: base.reactions ?? other.reactions, replyTo: base.replyTo ?? other.replyTo };
}

// ---- history ---------------------------------------------------------------

/** Adds (or refreshes) a message; new messages go into the newest page in seq order. */
export function addMessage(pages: HistoryPage[] | undefined, message: Message): HistoryPage[] | undefined {
  if (!pages || pages.length === 0) return pages;
  for (let i = 0; i < pages.length; i++) {
    const index = pages[i]!.messages.findIndex((m) => m.id === message.id);
    if (index >= 0) {
      const existing = pages[i]!.messages[index]!;
      // A live copy has no reaction summary; keep what the cache already knows.
      const merged = { ...existing, ...message, reactions: message.reactions ?? existing.reactions };
      return replacePage(pages, i, { ...pages[i]!, messages: pages[i]!.messages.map((m, j) => (j === index ? merged : m)) });
    }
  }
  const newest = pages[0]!;
  const oldestLoaded = newest.messages[0]?.seq;
  // Older than the newest page and not in any loaded page: it belongs to a page not loaded yet.
  if (oldestLoaded !== undefined && message.seq < oldestLoaded && pages.length > 1) return pages;
  const messages = [...newest.messages, message].sort((a, b) => a.seq - b.seq);
  return replacePage(pages, 0, { ...newest, messages });
}

export function patchMessage(pages: HistoryPage[] | undefined, messageId: string, patch: (m: Message) => Message): HistoryPage[] | undefined {
  if (!pages) return pages;
  for (let i = 0; i < pages.length; i++) {
    const index = pages[i]!.messages.findIndex((m) => m.id === messageId);
    if (index < 0) continue;
    const updated = patch(pages[i]!.messages[index]!);
    return replacePage(pages, i, { ...pages[i]!, messages: pages[i]!.messages.map((m, j) => (j === index ? updated : m)) });
  }
  return pages;
}

function replacePage(pages: HistoryPage[], index: number, page: HistoryPage): HistoryPage[] {
  return pages.map((p, i) => (i === index ? page : p));
}

/** Applies one reaction event to a message's summary (idempotent per user and emoji). */
export function applyReaction(message: Message, userId: string, emoji: string, add: boolean): Message {
  const reactions: ReactionSummary[] = (message.reactions ?? []).map((r) => ({ ...r, userIds: [...r.userIds] }));
  const existing = reactions.find((r) => r.emoji === emoji);
  if (add) {
    if (existing?.userIds.includes(userId)) return message;
    if (existing) {
      existing.userIds.push(userId);
      existing.count += 1;
    } else {
      reactions.push({ emoji, count: 1, userIds: [userId] });
    }
  } else {
    if (!existing || !existing.userIds.includes(userId)) return message;
    existing.userIds = existing.userIds.filter((u) => u !== userId);
    existing.count -= 1;
  }
  return { ...message, reactions: reactions.filter((r) => r.count > 0) };
}

/** The history-side effect of a stream event. */
export function applyEventToHistory(pages: HistoryPage[] | undefined, event: ConversationEvent): HistoryPage[] | undefined {
  switch (event.type) {
    case 'message.created':
      return addMessage(pages, event.message);
    case 'message.edited':
      return patchMessage(pages, event.messageId, (m) => ({ ...m, body: m.deletedAt ? null : event.body, editedAt: event.editedAt }));
    case 'message.deleted':
      return patchMessage(pages, event.messageId, (m) => ({ ...m, body: null, deletedAt: event.deletedAt, attachments: [], reactions: [] }));
    case 'reaction.added':
    case 'reaction.removed':
      return patchMessage(pages, event.messageId, (m) => applyReaction(m, event.userId, event.emoji, event.type === 'reaction.added'));
    default:
      return pages;
  }
}

// ---- conversation list -----------------------------------------------------

export interface ListContext {
  me: string;
  /** True when the user is looking at this conversation right now (it will be marked read). */
  isViewing: (conversationId: string) => boolean;
}

/**
 * The list-side effect of a stream event. Returns `revalidate: true` when the change
 * cannot be folded locally (membership, a conversation the list does not have yet).
 */
export function applyEventToList(
  list: ConversationList | undefined,
  event: ConversationEvent,
  context: ListContext,
): { list: ConversationList | undefined; revalidate: boolean } {
  if (!list) return { list, revalidate: false };
  const index = list.conversations.findIndex((c) => c.id === event.conversationId);
  if (index < 0) return { list, revalidate: event.type !== 'conversation.deleted' };
  const conversation = list.conversations[index]!;
  if (event.seq <= conversation.lastSeq && event.type === 'message.created') {
    // Already reflected (a replay overlapping the fetched list).
    return { list, revalidate: false };
  }
  let next: Conversation = { ...conversation, lastSeq: Math.max(conversation.lastSeq, event.seq) };
  let revalidate = false;
  let moveToTop = false;

  switch (event.type) {
    case 'message.created': {
      const message = event.message;
      next.lastMessage = message;
      next.lastActivityAt = message.createdAt;
      moveToTop = true;
      if (message.senderId === context.me) {
        // Sending implies having read everything before it.
        next.lastReadSeq = Math.max(next.lastReadSeq, message.seq);
        next.unreadCount = 0;
      } else if (context.isViewing(conversation.id)) {
        next.lastReadSeq = Math.max(next.lastReadSeq, message.seq);
        next.unreadCount = 0;
      } else {
        next.unreadCount += 1;
      }
      break;
    }
    case 'message.edited':
      if (next.lastMessage?.id === event.messageId) next.lastMessage = { ...next.lastMessage, body: event.body, editedAt: event.editedAt };
      break;
    case 'message.deleted':
      if (next.lastMessage?.id === event.messageId) next.lastMessage = { ...next.lastMessage, body: null, deletedAt: event.deletedAt };
      break;
    case 'read':
    case 'delivered': {
      next.members = next.members.map((m) => (m.userId === event.userId ? receipt(m, event.type, event.upTo) : m));
      if (event.type === 'read' && event.userId === context.me) {
        next.lastReadSeq = Math.max(next.lastReadSeq, event.upTo);
        if (next.lastReadSeq >= (next.lastMessage?.seq ?? 0)) next.unreadCount = 0;
        else revalidate = true; // read up to the middle (another tab): let the server count
      }
      break;
    }
    case 'conversation.updated':
      next = { ...next, title: event.title, isPublic: event.isPublic };
      break;
    case 'conversation.deleted':
      return { list: { ...list, conversations: list.conversations.filter((c) => c.id !== conversation.id) }, revalidate: false };
    case 'member.removed':
      if (event.userId === context.me) {
        return { list: { ...list, conversations: list.conversations.filter((c) => c.id !== conversation.id) }, revalidate: false };
      }
      next.members = next.members.filter((m) => m.userId !== event.userId);
      break;
    case 'member.added':
      if (!next.members.some((m) => m.userId === event.member.userId)) next.members = [...next.members, event.member];
      break;
    case 'member.role_changed':
      next.members = next.members.map((m) => (m.userId === event.userId ? { ...m, role: event.role } : m));
      if (event.userId === context.me) next.role = event.role;
      break;
    default:
      break;
  }

  const others = list.conversations.filter((_, i) => i !== index);
  const conversations = moveToTop ? [next, ...others] : list.conversations.map((c, i) => (i === index ? next : c));
  return { list: withTotal({ ...list, conversations }), revalidate };
}

function receipt(member: Member, kind: 'read' | 'delivered', upTo: number): Member {
  if (kind === 'read') return { ...member, lastReadSeq: Math.max(member.lastReadSeq, upTo), lastDeliveredSeq: Math.max(member.lastDeliveredSeq, upTo) };
  return { ...member, lastDeliveredSeq: Math.max(member.lastDeliveredSeq, upTo) };
}

/** Keeps totalUnread equal to the sum over non-muted conversations. */
export function withTotal(list: ConversationList): ConversationList {
  const totalUnread = list.conversations.reduce((sum, c) => sum + (c.muted ? 0 : c.unreadCount), 0);
  return totalUnread === list.totalUnread ? list : { ...list, totalUnread };
}

/** Marks a conversation read locally (before the server's read event comes back). */
export function markReadLocally(list: ConversationList | undefined, conversationId: string, upTo: number): ConversationList | undefined {
  if (!list) return list;
  return withTotal({
    ...list,
    conversations: list.conversations.map((c) =>
      c.id === conversationId ? { ...c, unreadCount: 0, lastReadSeq: Math.max(c.lastReadSeq, upTo) } : c,
    ),
  });
}

export function setPresence(list: ConversationList | undefined, userId: string, online: boolean, lastSeenAt: string | null): ConversationList | undefined {
  if (!list) return list;
  let changed = false;
  const conversations = list.conversations.map((c) => {
    if (!c.members.some((m) => m.userId === userId && m.online !== online)) return c;
    changed = true;
    return { ...c, members: c.members.map((m) => (m.userId === userId ? { ...m, online, lastSeenAt } : m)) };
  });
  return changed ? { ...list, conversations } : list;
}

/** Adds a conversation fetched on its own (a new direct chat) to the top of the list. */
export function upsertConversation(list: ConversationList | undefined, conversation: Conversation): ConversationList | undefined {
  if (!list) return list;
  const rest = list.conversations.filter((c) => c.id !== conversation.id);
  return withTotal({ ...list, conversations: [conversation, ...rest] });
}

// ---- receipts --------------------------------------------------------------

export type Tick = 'pending' | 'failed' | 'sent' | 'delivered' | 'read';

/** For one of my messages: read/delivered once every other member has read/received it. */
export function tickFor(message: Pick<Message, 'seq' | 'senderId'>, members: Member[]): Tick {
  const others = members.filter((m) => m.userId !== message.senderId);
  if (others.length === 0) return 'sent';
  if (others.every((m) => m.lastReadSeq >= message.seq)) return 'read';
  if (others.every((m) => Math.max(m.lastDeliveredSeq, m.lastReadSeq) >= message.seq)) return 'delivered';
  return 'sent';
}

/** The other members who have read a message (per-member read receipts), in member order. */
export function seenBy(message: Pick<Message, 'seq' | 'senderId'>, members: Member[]): Member[] {
  return members.filter((m) => m.userId !== message.senderId && m.lastReadSeq >= message.seq);
}

// ---- names -----------------------------------------------------------------

export function memberName(conversation: Pick<Conversation, 'members'> | undefined, userId: string): string {
  const member = conversation?.members.find((m) => m.userId === userId);
  return member?.name || userId;
}

/** A direct conversation is named for the other person; a group by its title. */
export function conversationTitle(conversation: Conversation, me: string): string {
  if (conversation.kind === 'direct') {
    const other = conversation.members.find((m) => m.userId !== me);
    return other?.name || other?.userId || 'Direct message';
  }
  return conversation.title || 'Untitled group';
}

export function otherMember(conversation: Conversation, me: string): Member | undefined {
  return conversation.kind === 'direct' ? conversation.members.find((m) => m.userId !== me) : undefined;
}

/** The one wording of a deleted message, everywhere. */
export const DELETED_TEXT = 'Message deleted';

export function firstName(name: string): string {
  return name.split(/\s+/)[0] || name;
}

export function previewText(message: Message | null): string {
  if (!message) return 'No messages yet';
  if (message.deletedAt || message.body === null) return DELETED_TEXT;
  return message.body.length > 80 ? `${message.body.slice(0, 79)}…` : message.body;
}
