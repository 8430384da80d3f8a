/** The pieces of the panel that need no browser: cache folding, ticks, identicons, the shared dev secret, chat credentials. */
import type { ConversationList, HistoryPage, Member, Message } from '@chat/protocol';
import { DEV_AUTH_SECRET as SERVICE_DEV_SECRET } from '@chat/service/config';
import { describe, expect, it, vi } from 'vitest';
import { addMessage, applyEventToHistory, applyEventToKnown, applyEventToList, flattenPages, HISTORY_PAGE_SIZE, KNOWN_LIMIT, mergeHistory, tickFor } from '../components/chat/cache.ts';
import { identicon } from '../components/chat/identicon.tsx';
import { describeConnection } from '../components/chat/connection-status.tsx';
import { DEV_AUTH_SECRET } from '../lib/auth.ts';
import { TypingStore } from '../components/chat/typing-store.ts';
import { createTokenSource, SignedOutError } from '../components/chat/token.ts';
import { chatCredentialTtlSec, mintChatCredential } from '../lib/chat-credential.ts';
import { createSessionTokenVerifier } from '../../services/chat/src/auth/session-token.ts';

const at = '2025-01-01T00:00:00.000Z';
const cid = '00000000-0000-4000-8000-000000000001';

function message(seq: number, senderId = 'bob', body = `m${seq}`): Message {
  return { id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, conversationId: cid, seq, senderId, clientMsgId: `c${seq}`, body, replyToId: null, attachments: [], createdAt: at, editedAt: null, deletedAt: null };
}

function member(userId: string, lastReadSeq = 0, lastDeliveredSeq = 0): Member {
  return { userId, name: userId, image: null, role: 'member', lastReadSeq, lastDeliveredSeq, online: true, lastSeenAt: null };
}

function list(unreadCount = 0): ConversationList {
  return {
    conversations: [
      { id: cid, kind: 'direct', title: null, isPublic: false, encrypted: false, creatorId: 'alice', lastSeq: 2, lastActivityAt: at, createdAt: at, role: 'member', muted: false, lastReadSeq: 2, unreadCount, lastMessage: message(2), members: [member('alice', 2, 2), member('bob', 2, 2)] },
    ],
    nextCursor: null,
    totalUnread: unreadCount,
  };
}

describe('development secret', () => {
  it('is the one the chat service uses without configuration', () => {
    expect(DEV_AUTH_SECRET).toBe(SERVICE_DEV_SECRET);
  });
});

describe('history cache', () => {
  const pages: HistoryPage[] = [
    { messages: [message(3), message(4)], hasMore: true },
    { messages: [message(1), message(2)], hasMore: false },
  ];

  it('appends new messages to the newest page once, however often they arrive', () => {
    const once = addMessage(pages, message(5));
    const twice = addMessage(once, message(5));
    expect(flattenPages(twice).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('applies edits, deletes and reactions idempotently', () => {
    let next = applyEventToHistory(pages, { type: 'reaction.added', conversationId: cid, seq: 6, actorId: 'bob', at, messageId: message(1).id, userId: 'bob', emoji: '👍' });
    next = applyEventToHistory(next, { type: 'reaction.added', conversationId: cid, seq: 6, actorId: 'bob', at, messageId: message(1).id, userId: 'bob', emoji: '👍' });
    expect(flattenPages(next)[0]!.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['bob'] }]);
    next = applyEventToHistory(next, { type: 'message.deleted', conversationId: cid, seq: 7, actorId: 'bob', at, messageId: message(1).id, deletedAt: at });
    expect(flattenPages(next)[0]).toMatchObject({ body: null, deletedAt: at, reactions: [] });
  });
});

describe('history pages merged with messages known from acks and live events', () => {
  const created = (m: Message) => ({ type: 'message.created' as const, conversationId: cid, seq: m.seq, message: m });
  const members = [member('alice', 2, 2), member('bob', 2, 2)];

  it('keeps an acknowledged message that the first page, answered before it, lacks', () => {
    const mine = message(3, 'alice');
    // The ack came while the first page was loading: shown from what is known, ticked "sent".
    const known = applyEventToKnown([], created(mine));
    expect(mergeHistory(undefined, known).map((m) => m.seq)).toEqual([3]);
    // Then the page arrives, from before the send: both, once each, in order.
    const stale: HistoryPage[] = [{ messages: [message(1), message(2)], hasMore: false }];
    const shown = mergeHistory(stale, known);
    expect(shown.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(tickFor(shown[2]!, members)).toBe('sent');
    // A page that has it too (a later refresh, the event applied twice): still once.
    const fresh: HistoryPage[] = [{ messages: [message(1), message(2), mine], hasMore: false }];
    expect(mergeHistory(fresh, applyEventToKnown(known, created(mine))).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(mergeHistory(addMessage(stale, mine), known).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('keeps the newer copy: a deletion or a later edit wins, reactions come from the page', () => {
    const known = applyEventToKnown(applyEventToKnown([], created(message(3))), { type: 'message.edited', conversationId: cid, seq: 4, actorId: 'bob', at, messageId: message(3).id, body: 'edited', editedAt: '2025-01-01T00:01:00.000Z' });
    expect(known[0]).toMatchObject({ body: 'edited' });
    const stale: HistoryPage[] = [{ messages: [{ ...message(3), reactions: [{ emoji: '👍', count: 1, userIds: ['alice'] }] }], hasMore: false }];
    expect(mergeHistory(stale, known)[0]).toMatchObject({ body: 'edited', reactions: [{ emoji: '👍', count: 1, userIds: ['alice'] }] });
    const deleted: HistoryPage[] = [{ messages: [{ ...message(3), body: null, deletedAt: at }], hasMore: false }];
    expect(mergeHistory(deleted, known)[0]).toMatchObject({ body: null, deletedAt: at });
  });

  it('leaves known messages older than the loaded pages to the pages not loaded yet', () => {
    let known: readonly Message[] = [];
    for (let seq = 1; seq <= KNOWN_LIMIT + 10; seq++) known = applyEventToKnown(known, created(message(seq)));
    expect(known).toHaveLength(KNOWN_LIMIT);
    expect(known[0]!.seq).toBe(11);
    const newest: HistoryPage[] = [{ messages: [message(KNOWN_LIMIT + 9)], hasMore: true }];
    expect(mergeHistory(newest, known).map((m) => m.seq)).toEqual([KNOWN_LIMIT + 9, KNOWN_LIMIT + 10]);
    expect(mergeHistory(undefined, known)).toHaveLength(HISTORY_PAGE_SIZE);
    // Unchanged input, unchanged output (a stable snapshot for useSyncExternalStore).
    expect(applyEventToKnown(known, created(message(KNOWN_LIMIT + 10)))).toBe(known);
  });
});

describe('conversation list', () => {
  const context = { me: 'alice', isViewing: () => false };

  it('counts an unread message once, even when it is replayed', () => {
    const event = { type: 'message.created' as const, conversationId: cid, seq: 3, message: message(3) };
    const first = applyEventToList(list(), event, context).list;
    const again = applyEventToList(first, event, context).list;
    expect(again!.totalUnread).toBe(1);
    expect(again!.conversations[0]!.lastMessage!.seq).toBe(3);
  });

  it('does not count messages in the conversation being viewed, nor my own', () => {
    const viewed = applyEventToList(list(), { type: 'message.created', conversationId: cid, seq: 3, message: message(3) }, { me: 'alice', isViewing: () => true });
    expect(viewed.list!.totalUnread).toBe(0);
    const mine = applyEventToList(list(), { type: 'message.created', conversationId: cid, seq: 3, message: message(3, 'alice') }, context);
    expect(mine.list!.totalUnread).toBe(0);
  });

  it('asks for a refetch for conversations it does not know', () => {
    const other = { ...message(1), conversationId: '00000000-0000-4000-8000-000000000009' };
    expect(applyEventToList(list(), { type: 'message.created', conversationId: other.conversationId, seq: 1, message: other }, context).revalidate).toBe(true);
  });
});

describe('ticks', () => {
  it('go sent → delivered → read from the other members\' receipts', () => {
    const mine = message(5, 'alice');
    expect(tickFor(mine, [member('alice', 5, 5), member('bob', 4, 4)])).toBe('sent');
    expect(tickFor(mine, [member('alice', 5, 5), member('bob', 4, 5)])).toBe('delivered');
    expect(tickFor(mine, [member('alice', 5, 5), member('bob', 5, 5)])).toBe('read');
    expect(tickFor(mine, [member('alice'), member('bob', 5, 5), member('carol', 0, 5)])).toBe('delivered');
  });
});

describe('identicons', () => {
  it('are deterministic, symmetric and differ between users', () => {
    const a = identicon('alice');
    expect(identicon('alice')).toEqual(a);
    expect(identicon('bob')).not.toEqual(a);
    for (const [x, y] of a.cells) expect(a.cells).toContainEqual([4 - x, y]);
  });
});

describe('connection banner', () => {
  const base = { status: 'connected' as const, nextAttemptAt: null, attempt: 0, queued: 0, transport: 'websocket' as const, lastError: null };
  it('says nothing while live and counts down while reconnecting', () => {
    expect(describeConnection(base, 0)).toBeNull();
    expect(describeConnection({ ...base, status: 'reconnecting', nextAttemptAt: 2500, queued: 2 }, 0)!.text).toBe('Reconnecting in 3 s — 2 messages queued');
    expect(describeConnection({ ...base, status: 'offline', queued: 1 }, 0)!.text).toBe('Offline — 1 message queued');
    expect(describeConnection({ ...base, status: 'offline', queued: 0 }, 0)!.text).toBe('Offline');
    expect(describeConnection({ ...base, transport: 'polling' }, 0)!.text).toBe('Live updates unavailable — polling');
  });
});

describe('typing indicator', () => {
  it('shows a typist until stop, or until expiresInMs passes without a new start', () => {
    vi.useFakeTimers();
    try {
      const store = new TypingStore();
      const start = { type: 'typing' as const, conversationId: cid, state: 'start' as const, expiresInMs: 5000 };
      store.apply({ ...start, userId: 'bob' });
      store.apply({ ...start, userId: 'carol' });
      expect(store.typing(cid)).toEqual(['bob', 'carol']);
      store.apply({ ...start, userId: 'carol', state: 'stop', expiresInMs: 0 });
      expect(store.typing(cid)).toEqual(['bob']);
      vi.advanceTimersByTime(4000);
      store.apply({ ...start, userId: 'bob' }); // a refresh extends it
      vi.advanceTimersByTime(4000);
      expect(store.typing(cid)).toEqual(['bob']);
      vi.advanceTimersByTime(1100);
      expect(store.typing(cid)).toEqual([]);
      store.dispose();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('chat credentials', () => {
  const secret = 'unit-secret-0123456789abcdef0123456789abcdef';
  const verifier = () =>
    createSessionTokenVerifier({ secrets: [secret], clockToleranceSec: 0, systemRoleClaim: 'chatRole', maxSessionAgeSec: 30 * 24 * 3600, chatCredentialMaxTtlSec: 3600 });

  it('minted by the storefront are what the chat service verifies (same key, issuer and audience)', async () => {
    const { token, expiresAt } = await mintChatCredential({ id: 'alice', name: 'Alice', picture: 'https://img.example/a.png', role: 'admin' }, { secret, ttlSec: 600 });
    expect(expiresAt - Date.now() / 1000).toBeGreaterThan(598);
    expect(await (await verifier()).verify(token)).toEqual({ userId: 'alice', name: 'Alice', image: 'https://img.example/a.png', systemRole: 'admin', expiresAt });
    // Never from a cookie, and never under another secret.
    await expect((await verifier()).verify(token, 'next-auth.session-token')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const { token: other } = await mintChatCredential({ id: 'alice' }, { secret: `${secret}-other`, ttlSec: 600 });
    await expect((await verifier()).verify(other)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('live CHAT_CREDENTIAL_TTL_SEC seconds: ten minutes unless set, within 30 s to an hour', () => {
    expect(chatCredentialTtlSec({})).toBe(600);
    expect(chatCredentialTtlSec({ CHAT_CREDENTIAL_TTL_SEC: '120' })).toBe(120);
    for (const bad of ['10', '3601', '1.5', 'ten']) expect(() => chatCredentialTtlSec({ CHAT_CREDENTIAL_TTL_SEC: bad })).toThrow(/CHAT_CREDENTIAL_TTL_SEC/);
  });

  it('are reused by the panel while more than half their lifetime is left, then fetched anew', async () => {
    let clock = 1_000_000;
    let served = 0;
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ token: `t${++served}`, expiresIn: 60 }), { headers: { 'content-type': 'application/json' } }));
    vi.stubGlobal('fetch', fetchMock);
    try {
      const getToken = createTokenSource('/api/chat-token', () => clock);
      expect(await Promise.all([getToken(), getToken()])).toEqual(['t1', 't1']); // one request for concurrent callers
      clock += 29_000;
      expect(await getToken()).toBe('t1');
      clock += 1_000; // half of 60 s
      expect(await getToken()).toBe('t2');
      expect(await getToken({ refresh: true })).toBe('t3');
      expect(fetchMock).toHaveBeenCalledTimes(3);
      fetchMock.mockImplementationOnce(async () => new Response('{}', { status: 401 }));
      await expect(getToken({ refresh: true })).rejects.toBeInstanceOf(SignedOutError);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('product context and voice captions (the conventions in docs/protocol.md)', () => {
  const origin = 'https://shop.example';
  it("turns only this storefront's product URL on the last line into a product", async () => {
    const { splitProduct } = await import('../components/chat/product-context.tsx');
    expect(splitProduct(`Is it washable?\n\n${origin}/products/linen-tote`, origin)).toMatchObject({ text: 'Is it washable?', product: { id: 'linen-tote', priceCents: 3400 } });
    expect(splitProduct(`${origin}/products/linen-tote`, origin)).toMatchObject({ text: '', product: { id: 'linen-tote' } });
    for (const body of [
      'https://evil.example/products/linen-tote', // another origin
      `${origin}/products/no-such-thing`, // not in the catalogue
      `${origin}/products/linen-tote?price=1`, // a query
      `${origin}/products/linen-tote#x`,
      `${origin}/products/linen-tote/../../admin`,
      `${origin}/products/linen-tote\nand more text after`, // not the last line
      `see ${origin}/products/linen-tote`, // not a line of its own
    ]) {
      expect(splitProduct(body, origin), body).toBeNull();
    }
    expect(splitProduct(null, origin)).toBeNull();
    expect(splitProduct(`${origin}/products/linen-tote`, null)).toBeNull();
  });

  it('recognises exactly the voice caption the recorder writes', async () => {
    const { formatDuration, isVoiceCaption, voiceCaption } = await import('../components/chat/voice.tsx');
    expect(voiceCaption(7.4)).toBe('🎤 Voice message (0:07)');
    expect(voiceCaption(125)).toBe('🎤 Voice message (2:05)');
    expect(isVoiceCaption(voiceCaption(59.6))).toBe(true);
    expect(isVoiceCaption('🎤 Voice message (0:07) and more')).toBe(false);
    expect(isVoiceCaption('Voice message (0:07)')).toBe(false);
    expect(isVoiceCaption(null)).toBe(false);
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('0:00');
  });
});

describe('group receipts', () => {
  it('"seen by" lists the other members whose read mark covers the message', async () => {
    const { seenBy } = await import('../components/chat/cache.ts');
    const members = [member('bob', 9), member('alice', 5), member('carol', 4, 9), member('support', 0)];
    expect(seenBy({ seq: 5, senderId: 'bob' }, members).map((m) => m.userId)).toEqual(['alice']);
    expect(seenBy({ seq: 3, senderId: 'bob' }, members).map((m) => m.userId)).toEqual(['alice', 'carol']);
    expect(tickFor({ seq: 3, senderId: 'bob' }, members)).toBe('sent'); // support has not read it: no "read" tick yet
  });
});
