/** Search, threads, edit history and receipts: query strings and responses under /v1. */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Seq, Timestamp, UserId, Uuid } from './common.ts';
import { Message } from './models.ts';
import { HistoryPage } from './http.ts';

export const SEARCH_LIMITS = {
  /** Longest search text, in characters. */
  maxQueryChars: 200,
  /** Search page size: default and maximum. */
  defaultPageSize: 20,
  maxPageSize: 50,
  /** Replies page size: default and maximum. */
  defaultRepliesPageSize: 50,
  maxRepliesPageSize: 100,
} as const;

// ---- search ----------------------------------------------------------------

export const SearchQuery = Type.Object({
  /** Web-search syntax (`websearch_to_tsquery('simple', q)`): words, "quoted phrases", `or`, `-excluded`. */
  q: Type.String({ minLength: 1, maxLength: SEARCH_LIMITS.maxQueryChars }),
  /** Only this conversation (the caller must be a member). */
  conversationId: Type.Optional(Uuid),
  limit: Type.Integer({ minimum: 1, maximum: SEARCH_LIMITS.maxPageSize, default: SEARCH_LIMITS.defaultPageSize }),
  /** Opaque cursor from a previous page's nextCursor. */
  before: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export type SearchQuery = Static<typeof SearchQuery>;

/**
 * One piece of a search snippet: plain text (never HTML), highlighted when `match`.
 * Concatenating the texts gives the snippet.
 */
export const SnippetSegment = Type.Object({ text: Type.String(), match: Type.Boolean() });
export type SnippetSegment = Static<typeof SnippetSegment>;

/** A matching message, with a snippet of its body around the matched words. */
export const SearchHit = Type.Composite([Message, Type.Object({ snippet: Type.Array(SnippetSegment) })]);
export type SearchHit = Static<typeof SearchHit>;

export const SearchPage = Type.Object({
  /** Newest first. */
  results: Type.Array(SearchHit),
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: Nullable(Type.String()),
});
export type SearchPage = Static<typeof SearchPage>;

// ---- threads, edit history, receipts ---------------------------------------

export const RepliesQuery = Type.Object({
  /** Replies with seq strictly above this. */
  after: Type.Optional(Seq),
  limit: Type.Integer({ minimum: 1, maximum: SEARCH_LIMITS.maxRepliesPageSize, default: SEARCH_LIMITS.defaultRepliesPageSize }),
});
export type RepliesQuery = Static<typeof RepliesQuery>;

/** A thread page has the history page's shape: ascending seq, hasMore in the paging direction. */
export const RepliesPage = HistoryPage;
export type RepliesPage = Static<typeof RepliesPage>;

export const MessageEdit = Type.Object({
  /** The text before this edit; null once the message was deleted. */
  previousBody: Nullable(Type.String()),
  editedAt: Timestamp,
});
export type MessageEdit = Static<typeof MessageEdit>;

export const EditHistory = Type.Object({
  /** Oldest first. */
  edits: Type.Array(MessageEdit),
});
export type EditHistory = Static<typeof EditHistory>;

export const MemberReceipt = Type.Object({ userId: UserId, delivered: Type.Boolean(), read: Type.Boolean() });
export type MemberReceipt = Static<typeof MemberReceipt>;

export const MessageReceipts = Type.Object({
  messageId: Uuid,
  seq: Seq,
  /** Every current member except the sender. */
  members: Type.Array(MemberReceipt),
});
export type MessageReceipts = Static<typeof MessageReceipts>;
