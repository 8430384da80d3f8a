/**
 * Full-text search over the messages of the caller's conversations, newest first,
 * with highlighted snippets as plain-text segments (never HTML).
 */
import { and, desc, dsql, eq, isNull, not, schema, type Database } from '@chat/db';
import type { SearchPage, SnippetSegment } from '@chat/protocol';
import { AppError } from '../errors.ts';
import { prepared } from './prepared.ts';
import { m, messageColumns, p, replyParent, toMessage } from './rows.ts';

const { conversations, members } = schema;

/** ts_headline markers around matched words: control characters, removed from bodies first. */
const START = '\u0002';
const STOP = '\u0003';
/**
 * Stands in for `<` while ts_headline runs: its parser treats `<…>` as an HTML tag and
 * leaves tags out of headlines, and the user's text must come back as typed.
 */
const LT = '\u0001';
/** translate(body, FROM, TO): the markers become spaces, `<` becomes LT. */
const TRANSLATE_FROM = `${LT}${START}${STOP}<`;
const TRANSLATE_TO = `   ${LT}`;

/** Bodies up to this length come back whole, highlighted; longer ones as up to two fragments. */
export const SNIPPET_WHOLE_CHARS = 160;
const WHOLE_OPTIONS = `StartSel=${START}, StopSel=${STOP}, HighlightAll=true`;
const FRAGMENT_OPTIONS = `StartSel=${START}, StopSel=${STOP}, MaxFragments=2, MaxWords=20, MinWords=5`;

export interface SearchCursor {
  /** created_at in UTC with microseconds: `2026-01-02T03:04:05.123456Z`. */
  at: string;
  id: string;
}

export interface SearchOptions {
  userId: string;
  q: string;
  conversationId?: string | undefined;
  limit: number;
  before?: SearchCursor | null | undefined;
}

/**
 * One page of matches, newest first, keyset-paged on (created_at, id). Only messages of
 * live conversations the user is a member of; deleted messages never match. A query
 * with no searchable word (empty, or only excluded words) matches nothing.
 */
export async function searchMessages(db: Database, options: SearchOptions): Promise<SearchPage> {
  const { userId, q, conversationId, limit, before } = options;
  const inOne = conversationId !== undefined;
  const statement = prepared(db, `search:${inOne}:${Boolean(before)}`, () => {
    // The query is parsed once and its page of ids found before any headline is built.
    const query = db.$with('query', { tsq: dsql<string>`tsq`.as('tsq') }).as(dsql`select websearch_to_tsquery('simple', ${dsql.placeholder('q')}) as tsq`);
    const hits = db.$with('hits').as(
      db
        .select({ id: m.id })
        .from(query)
        .crossJoin(m)
        .innerJoin(members, and(eq(members.conversationId, m.conversationId), eq(members.userId, dsql.placeholder('userId'))))
        // Encrypted conversations' bodies are ciphertext: clients search their own decrypted cache.
        .innerJoin(conversations, and(eq(conversations.id, m.conversationId), isNull(conversations.deletedAt), not(conversations.encrypted)))
        .where(
          and(
            dsql`querytree(${query.tsq}) not in ('', 'T')`,
            dsql`${m.searchVector} @@ ${query.tsq}`,
            isNull(m.deletedAt),
            inOne ? eq(m.conversationId, dsql.placeholder('conversationId')) : undefined,
            // The cursor's time goes in as text: a timestamptz parameter would pass through a
            // JS Date and lose its microseconds.
            before ? dsql`(${m.createdAt}, ${m.id}) < (${dsql.placeholder('beforeAt')}::text::timestamptz, ${dsql.placeholder('beforeId')}::uuid)` : undefined,
          ),
        )
        .orderBy(desc(m.createdAt), desc(m.id))
        .limit(dsql.placeholder('take')),
    );
    return db
      .with(query, hits)
      .select({
        ...messageColumns,
        cursorAt: dsql<string>`to_char(${m.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
        headline: dsql<string | null>`ts_headline('simple', translate(${m.body}, ${TRANSLATE_FROM}, ${TRANSLATE_TO}), ${query.tsq},
          case when length(${m.body}) <= ${SNIPPET_WHOLE_CHARS} then ${WHOLE_OPTIONS} else ${FRAGMENT_OPTIONS} end)`,
      })
      .from(hits)
      .crossJoin(query)
      .innerJoin(m, eq(m.id, hits.id))
      .leftJoin(p, replyParent)
      .orderBy(desc(m.createdAt), desc(m.id))
      .prepare('search_messages');
  });
  const rows = await statement.execute({ q, userId, conversationId, beforeAt: before?.at, beforeId: before?.id, take: limit + 1 });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    results: page.map((row) => ({ ...toMessage(row), snippet: toSnippet(row.headline) })),
    nextCursor: rows.length > limit && last ? encodeSearchCursor({ at: last.cursorAt, id: last.id }) : null,
  };
}

/** Splits a ts_headline result on its markers into plain-text segments. */
export function toSnippet(headline: string | null): SnippetSegment[] {
  const segments: SnippetSegment[] = [];
  if (!headline) return segments;
  let match = false;
  for (const part of headline.split(/([\u0002\u0003])/)) {
    if (part === START) match = true;
    else if (part === STOP) match = false;
    else if (part) {
      const text = part.replaceAll(LT, '<');
      const previous = segments[segments.length - 1];
      if (previous && previous.match === match) previous.text += text;
      else segments.push({ text, match });
    }
  }
  return segments;
}

const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeSearchCursor(cursor: SearchCursor): string {
  return Buffer.from(`${cursor.at}|${cursor.id}`).toString('base64url');
}

export function decodeSearchCursor(cursor: string): SearchCursor {
  const [at, id, extra] = Buffer.from(cursor, 'base64url').toString().split('|');
  // A real calendar time (no 30 February), so the database never sees an invalid one.
  const millis = at && CURSOR_AT.test(at) ? new Date(`${at.slice(0, 23)}Z`) : null;
  const valid = millis && !Number.isNaN(millis.getTime()) && millis.toISOString().slice(0, 23) === at!.slice(0, 23);
  if (!valid || !id || !UUID.test(id) || extra !== undefined) throw new AppError('VALIDATION_FAILED', 'before is not a valid cursor.');
  return { at: at!, id };
}
