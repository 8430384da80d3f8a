'use client';
import type { OutboxItem } from '@chat/client';
import type { Conversation, HistoryPage, Message } from '@chat/protocol';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import useSWRInfinite from 'swr/infinite';
import { Avatar } from './avatar';
import { BackIcon, LockIcon } from './icons';
import { conversationTitle, DELETED_TEXT, historyGetKey, HISTORY_PAGE_SIZE, memberName, mergeHistory, otherMember, seenBy, tickFor, type HistoryKey } from './cache';
import { useChat } from './chat-provider';
import { Composer, type ComposerHandle, type ReplyTarget } from './composer';
import { MessageItem, type DisplayMessage, type MessageActions } from './message-item';
import { currentOrigin, ProductCard, splitProduct } from './product-context';
import { findProduct } from '@/lib/products';
import { useConversationKeys } from './e2e/conversation-keys';
import { EncryptionBar } from './e2e/encryption-bar';
import { LockBadge } from './e2e/lock-badge';
import { e2eStateOf } from './e2e/message-states';
import { editSealed } from './e2e/sealed-send';

/** Within this many pixels of the bottom counts as "at the bottom" (new messages keep it there). */
const STICKY_PX = 80;

function useTypists(conversationId: string): readonly string[] {
  const { typing } = useChat();
  return useSyncExternalStore(
    (listener) => typing.subscribe(listener),
    () => typing.typing(conversationId),
    () => typing.typing(conversationId),
  );
}

/** Messages of this conversation learned from acks and live events (chat-provider.tsx). */
function useKnown(conversationId: string): readonly Message[] {
  const { known } = useChat();
  return useSyncExternalStore(
    (listener) => known.subscribe(listener),
    () => known.get(conversationId),
    () => known.get(conversationId),
  );
}

function typingText(names: string[]): string {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** Messages of one sender closer than this form a run: only its last shows the time. */
const RUN_GAP_MS = 5 * 60_000;

function endsRun(m: DisplayMessage, next: DisplayMessage | undefined): boolean {
  if (!next || next.senderId !== m.senderId || next.tick === 'failed' || m.tick === 'failed' || m.tick === 'pending') return true;
  return Date.parse(next.createdAt) - Date.parse(m.createdAt) > RUN_GAP_MS;
}

function preview(body: string | null): string {
  if (body === null) return DELETED_TEXT;
  return body.length > 100 ? `${body.slice(0, 99)}…` : body;
}

export function ConversationView({ conversation, onBack, backOnNarrowOnly, autoFocus }: { conversation: Conversation; onBack?: () => void; backOnNarrowOnly?: boolean; autoFocus?: boolean }) {
  const { client, me, outboxVersion, bumpOutbox, registerViewing, markRead, presenceKnown, productDrafts, e2e, openDirect } = useChat();
  const encrypted = conversation.encrypted === true;
  const keys = useConversationKeys(e2e, conversation.id, encrypted);
  const [showMembers, setShowMembers] = useState(false);
  const origin = currentOrigin();
  const meId = me!.id;
  const id = conversation.id;
  const [replyTo, setReplyTo] = useState<ReplyTarget | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const topSentinel = useRef<HTMLDivElement>(null);
  const composer = useRef<ComposerHandle>(null);
  const atBottom = useRef(true);
  const typists = useTypists(id);

  const history = useSWRInfinite<HistoryPage, Error, (index: number, previous: HistoryPage | null) => HistoryKey | null>(
    historyGetKey(id),
    async ([, conversationId, before]) => {
      const page = await client!.http.history(conversationId, { ...(before !== null ? { before } : {}), limit: HISTORY_PAGE_SIZE });
      // Sealed bodies are opened here, before the cache: views only ever see plaintext or a failure.
      return encrypted && e2e ? e2e.decryptor.page(page) : page;
    },
    { revalidateOnFocus: false, revalidateFirstPage: true, revalidateAll: false, revalidateOnReconnect: false },
  );
  const { data: pages, size, setSize, isLoading, isValidating, error } = history;
  const known = useKnown(id);
  // A page may have been answered before an ack or event this page already has: show both.
  const messages = useMemo(() => mergeHistory(pages, known), [pages, known]);
  const hasMore = pages ? (pages[pages.length - 1]?.hasMore ?? false) : false;
  const loadingOlder = isValidating && !!pages && size > pages.length;

  // This view is showing the conversation: new messages are read as they arrive.
  useEffect(() => registerViewing(id), [id, registerViewing]);
  useEffect(() => {
    const latest = Math.max(conversation.lastSeq, messages[messages.length - 1]?.seq ?? 0);
    if (latest > conversation.lastReadSeq || conversation.unreadCount > 0) markRead(id, latest);
  }, [id, conversation.lastSeq, conversation.lastReadSeq, conversation.unreadCount, messages, markRead]);

  useEffect(() => {
    if (autoFocus) composer.current?.focus();
  }, [id, autoFocus]);

  const byId = useMemo(() => new Map(messages.map((m) => [m.id, m])), [messages]);
  const member = useCallback((userId: string) => conversation.members.find((m) => m.userId === userId), [conversation.members]);

  const display = useMemo<DisplayMessage[]>(() => {
    const toDisplay = (m: Message): DisplayMessage => {
      const parent = m.replyToId ? (m.replyTo ?? (byId.get(m.replyToId) ? { id: m.replyToId, senderId: byId.get(m.replyToId)!.senderId, preview: byId.get(m.replyToId)!.body } : null)) : null;
      const mine = m.senderId === meId;
      const withProduct = m.deletedAt ? null : splitProduct(m.body, origin);
      return {
        key: m.clientMsgId || m.id,
        id: m.id,
        clientMsgId: m.clientMsgId,
        seq: m.seq,
        senderId: m.senderId,
        senderName: memberName(conversation, m.senderId),
        senderImage: member(m.senderId)?.image ?? null,
        body: m.deletedAt ? null : (withProduct?.text ?? m.body),
        product: withProduct?.product ?? null,
        deleted: m.deletedAt !== null || m.body === null,
        edited: m.editedAt !== null,
        createdAt: m.createdAt,
        replyTo: parent ? { id: parent.id, senderName: memberName(conversation, parent.senderId), preview: parent.preview === null ? null : preview(parent.preview) } : null,
        attachments: m.attachments,
        reactions: m.reactions ?? [],
        e2e: e2eStateOf(m),
        mine,
        tick: mine ? tickFor(m, conversation.members) : null,
        seen: mine && conversation.kind === 'group' ? { names: seenBy(m, conversation.members).map((x) => x.name || x.userId), of: conversation.members.length - 1 } : null,
        error: null,
      };
    };
    const shown = messages.map(toDisplay);
    const sentIds = new Set(messages.map((m) => m.clientMsgId));
    // Not yet acknowledged: the outbox, in send order, after everything the server has.
    const outbox: OutboxItem[] = client ? client.outbox(id) : [];
    for (const item of outbox) {
      if (sentIds.has(item.clientMsgId)) continue;
      const parent = item.replyToId ? byId.get(item.replyToId) : undefined;
      shown.push({
        key: item.clientMsgId,
        id: null,
        clientMsgId: item.clientMsgId,
        seq: null,
        senderId: meId,
        senderName: me?.name ?? meId,
        senderImage: me?.image ?? null,
        // A sealed item holds an envelope: show what was typed on this device, never the envelope.
        ...(encrypted ? { body: e2e?.decryptor.pending.get(item.clientMsgId) ?? 'Encrypted message', product: null } : { body: splitProduct(item.body, origin)?.text ?? item.body, product: splitProduct(item.body, origin)?.product ?? null }),
        deleted: false,
        edited: false,
        createdAt: item.createdAt,
        replyTo: parent ? { id: parent.id, senderName: memberName(conversation, parent.senderId), preview: preview(parent.body) } : null,
        attachments: [],
        reactions: [],
        mine: true,
        tick: item.status === 'failed' ? 'failed' : 'pending',
        seen: null,
        error: item.status === 'failed' ? (item.error?.message ?? 'Not sent.') : null,
        e2e: null,
      });
    }
    return shown;
    // outboxVersion: the outbox lives in the client; re-read it when it changes.
  }, [messages, client, id, outboxVersion, conversation, byId, meId, me, member, origin, encrypted, e2e]);

  // The product this conversation is about: the one the chat was just started from (until its
  // message is sent), else the latest one a message carries.
  const draftId = productDrafts[id];
  const topic = useMemo(() => {
    const draft = draftId ? findProduct(draftId) : undefined;
    if (draft) return draft;
    for (let i = display.length - 1; i >= 0; i--) if (display[i]!.product && !display[i]!.deleted) return display[i]!.product;
    return null;
  }, [display, draftId]);

  // Keep the view pinned to the bottom when it was there; keep the reading position when older pages load above.
  const firstKey = display[0]?.key;
  const lastKey = display[display.length - 1]?.key;
  const previous = useRef<{ firstKey?: string; lastKey?: string; height: number; top: number }>({ height: 0, top: 0 });
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const before = previous.current;
    if (before.firstKey !== undefined && firstKey !== before.firstKey && lastKey === before.lastKey) {
      el.scrollTop = before.top + (el.scrollHeight - before.height); // older messages were prepended
    } else if (atBottom.current || before.lastKey === undefined) {
      el.scrollTop = el.scrollHeight;
    }
    previous.current = { firstKey, lastKey, height: el.scrollHeight, top: el.scrollTop };
  }, [firstKey, lastKey, display.length, typists.length]);

  // Content that grows on its own (an image preview loading, the actions row) keeps a pinned view pinned.
  useEffect(() => {
    const el = scroller.current;
    const content = el?.querySelector('.messages');
    if (!el || !content || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(content);
    return () => observer.disconnect();
  }, []);

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICKY_PX;
    previous.current = { ...previous.current, height: el.scrollHeight, top: el.scrollTop };
    // The observer reports only changes; a jump back to the top between two of its checks is caught here.
    if (el.scrollTop < 120) loadOlder();
  }

  // Infinite scroll upwards: one observer on the sentinel above the oldest message. A page at a
  // time: the next one only once the previous arrived (and the view kept its place).
  const pageCount = pages?.length ?? 0;
  /** The page count being waited for, or null. */
  const loading = useRef<number | null>(null);
  const state = useRef({ hasMore, pageCount });
  state.current = { hasMore, pageCount };
  const loadOlder = useCallback(() => {
    const { hasMore: more, pageCount: count } = state.current;
    if (!more || count === 0 || loading.current !== null) return;
    loading.current = count + 1;
    void setSize(count + 1);
  }, [setSize]);
  useEffect(() => {
    const el = topSentinel.current;
    const root = scroller.current;
    if (!el || !root) return;
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadOlder(), { root, rootMargin: '120px 0px 0px 0px' });
    observer.observe(el);
    return () => observer.disconnect();
  }, [loadOlder]);
  const retries = useRef(0);
  useEffect(() => {
    if (loading.current === null || isValidating) return;
    if (pageCount < loading.current && !error && hasMore && retries.current < 3) {
      // The page's fetch was dropped (SWR discards a fetch that a live update overtook): ask again.
      retries.current += 1;
      void setSize(loading.current);
      return;
    }
    loading.current = null;
    retries.current = 0;
    if (error) return;
    // Still at the top (short pages): keep filling.
    const root = scroller.current;
    if (root && root.scrollTop < 120) loadOlder();
  }, [pageCount, isValidating, error, hasMore, setSize, loadOlder]);

  const run = useCallback(
    (action: Promise<unknown> | unknown) => {
      setActionError(null);
      Promise.resolve(action).catch((e: unknown) => setActionError(e instanceof Error ? e.message : 'That did not work.'));
    },
    [],
  );

  const actions: MessageActions = {
    reply: (m) => {
      if (!m.id) return;
      setReplyTo({ id: m.id, senderId: m.senderId, senderName: m.mine ? 'yourself' : m.senderName, preview: preview(m.body) });
      composer.current?.focus();
    },
    edit: (m, body) => {
      if (!m.id || !client) return;
      const original = byId.get(m.id);
      run(encrypted && e2e && original ? editSealed(e2e, id, { id: m.id, clientMsgId: m.clientMsgId, replyToId: original.replyToId }, body) : client.edit(id, m.id, body));
    },
    remove: (m) => {
      if (!m.id || !client) return;
      run(client.remove(id, m.id));
      // Its toolbar goes with it: keep focus in the conversation (Escape still closes the panel).
      composer.current?.focus();
    },
    react: (m, emoji, add) => m.id && client && run(client.react(id, m.id, emoji, add)),
    retry: (m) => {
      if (!client) return;
      run(client.retry(m.clientMsgId));
      bumpOutbox();
    },
    discard: (m) => {
      client?.discard(m.clientMsgId);
      bumpOutbox();
    },
    jumpTo: (messageId) => {
      const target = document.getElementById(`message-${messageId}`);
      if (target) {
        target.scrollIntoView({ block: 'center', behavior: 'smooth' });
        target.classList.add('message-flash');
        setTimeout(() => target.classList.remove('message-flash'), 1200);
      }
    },
  };

  const other = otherMember(conversation, meId);
  const title = conversationTitle(conversation, meId);
  const typingNames = typists.map((u) => memberName(conversation, u));
  // Counted like the member list: everyone online, me included (I am, while connected).
  const onlineCount = conversation.members.filter((m) => m.online || m.userId === meId).length;
  const otherOnline = other && presenceKnown ? other.online : undefined;
  const subtitle = other
    ? otherOnline === undefined ? 'Connecting…' : otherOnline ? 'Online' : 'Offline'
    : `${conversation.members.length} members${presenceKnown ? ` · ${onlineCount} online` : ''}`;

  return (
    <section className="conversation" aria-label={`Conversation with ${title}`} data-testid="conversation" data-conversation-id={id}>
      <header className="conversation-header">
        {onBack && (
          <button type="button" className={`icon-button${backOnNarrowOnly ? ' back-narrow-only' : ''}`} onClick={onBack} aria-label="Back to conversations">
            <BackIcon />
          </button>
        )}
        <Avatar userId={other?.userId ?? id} image={other?.image} size={32} online={otherOnline} />
        <div className="conversation-heading">
          <div className="conversation-title-row">
            <h2 className="conversation-title">{title}</h2>
            {encrypted && <LockBadge />}
          </div>
          {other ? (
            <p className="muted conversation-subtitle" data-testid="conversation-subtitle">
              {subtitle}
            </p>
          ) : (
            <button
              type="button"
              className="link-button muted conversation-subtitle"
              aria-expanded={showMembers}
              aria-controls={`members-${id}`}
              onClick={() => setShowMembers((v) => !v)}
              onKeyDown={(event) => {
                if (event.key === 'Escape' && showMembers) {
                  event.preventDefault();
                  setShowMembers(false);
                }
              }}
              data-testid="conversation-subtitle"
            >
              {subtitle}
            </button>
          )}
        </div>
        {other && !encrypted && e2e && (
          <button type="button" className="icon-button" aria-label={`Start an encrypted chat with ${title}`} title="Start an encrypted chat" onClick={() => run(openDirect(other.userId, { encrypted: true }))}>
            <LockIcon />
          </button>
        )}
      </header>
      {encrypted && e2e && (
        <EncryptionBar
          e2e={e2e}
          conversation={conversation}
          me={meId}
          keys={keys.data}
          onAccepted={() => {
            void keys.mutate();
            void history.mutate();
          }}
        />
      )}
      {topic && (
        <div className="conversation-product" data-testid="conversation-product">
          <span className="muted small">About</span>
          <ProductCard product={topic} compact testId="conversation-product-card" />
        </div>
      )}
      {showMembers && !other && (
        <ul
          className="member-list"
          id={`members-${id}`}
          aria-label="Members"
          data-testid="member-list"
        >
          {conversation.members.map((m) => {
            const online = presenceKnown ? m.online || m.userId === meId : undefined;
            return (
              <li key={m.userId}>
                <Avatar userId={m.userId} image={m.image} size={24} online={online} />
                <span>{m.userId === meId ? `${m.name || m.userId} (you)` : m.name || m.userId}</span>
                <span className="muted">{online === undefined ? 'unknown' : online ? 'online' : 'offline'}</span>
              </li>
            );
          })}
        </ul>
      )}
      <div className="history" ref={scroller} onScroll={onScroll} data-testid="history" data-loaded={pages ? 'true' : 'false'}>
        <div ref={topSentinel} className="history-top">
          {hasMore ? (
            <button type="button" className="link-button" onClick={loadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
          ) : pages ? (
            <p className="muted history-start">Start of the conversation</p>
          ) : null}
        </div>
        {isLoading && <p className="muted center">Loading messages…</p>}
        {error && !pages && (
          <p className="error-text center" role="alert">
            Could not load messages: {error.message}{' '}
            <button type="button" className="link-button" onClick={() => void history.mutate()}>
              Try again
            </button>
          </p>
        )}
        <ol className="messages" aria-label="Messages">
          {display.map((m, i) => (
            <MessageItem key={m.key} message={m} me={meId} showSender={i === 0 || display[i - 1]!.senderId !== m.senderId} showMeta={endsRun(m, display[i + 1])} actions={actions} />
          ))}
        </ol>
      </div>
      <div className="typing" data-testid="typing-indicator">
        {typingNames.length > 0 && (
          <>
            <span className="typing-dots" aria-hidden="true">
              <span />
              <span />
              <span />
            </span>
            {typingText(typingNames)}
          </>
        )}
      </div>
      {actionError && (
        <p className="error-text action-error" role="alert">
          {actionError}
        </p>
      )}
      <Composer
        ref={composer}
        conversationId={id}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onSent={() => {
          atBottom.current = true;
        }}
        encrypted={encrypted}
        blocked={encrypted && other && keys.data && !keys.data.devices.some((d) => d.userId === other.userId) ? `Waiting for ${title}’s keys` : null}
      />
    </section>
  );
}
