'use client';
/**
 * One ChatClient per signed-in page, shared by the floating panel and the full-page
 * view. Socket events are folded into the SWR caches (conversation list, history
 * pages) here, once, whichever views are mounted.
 */
import { ChatClient, type ConnectionState } from '@chat/client';
import type { ConversationEvent, ConversationList, Message, Signal } from '@chat/protocol';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import useSWR, { useSWRConfig } from 'swr';
import { CHAT_URL, CHAT_WS_URL } from '@/lib/chat-url';
import type { SessionUser } from '@/lib/session';
import {
  applyEventToHistory,
  applyEventToList,
  CONVERSATIONS_KEY,
  historyCacheKey,
  markReadLocally,
  memberName,
  setPresence,
  upsertConversation,
} from './cache';
import { currentOrigin, splitProduct } from './product-context';
import { KnownMessages } from './known-messages';
import { PanelE2E } from './e2e/panel-e2e';
import { createTokenSource } from './token';
import { TypingStore } from './typing-store';

export interface ChatContextValue {
  me: SessionUser | null;
  client: ChatClient | null;
  state: ConnectionState | null;
  /** Changes whenever the outbox may have changed (re-read client.outbox()). */
  outboxVersion: number;
  bumpOutbox(): void;
  /** The saved panel state has been applied (after hydration): the launcher reflects it. */
  ready: boolean;
  open: boolean;
  /** True when the panel is open because a reload restored it (focus stays where the page put it). */
  openRestored: boolean;
  setOpen(open: boolean): void;
  activeId: string | null;
  setActiveId(id: string | null): void;
  /**
   * Opens (creating if needed) the direct conversation with a user in the panel; `productId`:
   * started from that product's page, so the next message carries it (product-context.tsx).
   */
  openDirect(userId: string, options?: { productId?: string; encrypted?: boolean }): Promise<void>;
  /** End-to-end encryption for the signed-in user (this browser's keys, decryption, key warnings). */
  e2e: PanelE2E | null;
  /** conversationId → the product the next message there is about (until sent or dismissed). */
  productDrafts: Readonly<Record<string, string>>;
  setProductDraft(conversationId: string, productId: string | null): void;
  typing: TypingStore;
  /** Messages learned from acks and live events, merged with the history pages when shown. */
  known: KnownMessages;
  getToken(): Promise<string>;
  /** Registers a view showing a conversation (it gets marked read as messages arrive). */
  registerViewing(conversationId: string): () => void;
  /** Folds a message the client got outside the event stream (a send's ack) into the caches. */
  applyMessage(message: Message): void;
  markRead(conversationId: string, upTo: number): void;
  announcement: string;
  /**
   * True while presence is current: the socket is connected (presence signals flow). While it
   * is down, or events come by polling, the last known online flags may be stale.
   */
  presenceKnown: boolean;
}

const ChatContext = createContext<ChatContextValue | null>(null);

const HISTORY_EVENTS = new Set<ConversationEvent['type']>(['message.created', 'message.edited', 'message.deleted', 'reaction.added', 'reaction.removed']);

export function useChat(): ChatContextValue {
  const value = useContext(ChatContext);
  if (!value) throw new Error('useChat() outside <ChatProvider>');
  return value;
}

/** The conversation list (SWR), shared by every view. */
export function useConversations() {
  const { client, e2e } = useChat();
  return useSWR<ConversationList>(client ? CONVERSATIONS_KEY : null, async () => {
    const list = await client!.http.conversations({ limit: 100 });
    // Last messages of encrypted conversations are opened here, before any view sees them.
    return e2e ? e2e.decryptor.list(list) : list;
  }, {
    revalidateOnFocus: false,
    // The socket keeps it current; a reconnect revalidates explicitly.
    revalidateOnReconnect: false,
  });
}

export function ChatProvider({ me: meProp, children }: { me: SessionUser | null; children: ReactNode }) {
  const { mutate, cache } = useSWRConfig();
  // Server re-renders hand a new object for the same user: keep one per user id.
  const meId = meProp?.id ?? null;
  const me = useMemo(() => meProp, [meId]);
  const [client, setClient] = useState<ChatClient | null>(null);
  const [e2e, setE2E] = useState<PanelE2E | null>(null);
  const e2eRef = useRef<PanelE2E | null>(null);
  const [state, setState] = useState<ConnectionState | null>(null);
  const [outboxVersion, setOutboxVersion] = useState(0);
  const [open, setOpenState] = useState(false);
  const [openRestored, setOpenRestored] = useState(false);
  const [activeId, setActiveIdState] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const [productDrafts, setProductDrafts] = useState<Record<string, string>>({});
  const setProductDraft = useCallback((conversationId: string, productId: string | null) => {
    setProductDrafts((drafts) => {
      if ((drafts[conversationId] ?? null) === productId) return drafts;
      const next = { ...drafts };
      if (productId === null) delete next[conversationId];
      else next[conversationId] = productId;
      return next;
    });
  }, []);
  const typing = useMemo(() => new TypingStore(), []);
  const known = useMemo(() => new KnownMessages(), []);
  const getToken = useMemo(() => createTokenSource(), []);
  const viewing = useRef(new Map<string, number>());
  const receiptTimers = useRef(new Map<string, { timer: ReturnType<typeof setTimeout>; upTo: number; read: boolean }>());
  const clientRef = useRef<ChatClient | null>(null);

  const bumpOutbox = useCallback(() => setOutboxVersion((v) => v + 1), []);

  // The panel's open state and conversation survive a reload (per tab, like scroll position).
  const restored = useRef(false);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    setReady(true);
    if (!meId || restored.current) return;
    restored.current = true;
    const saved = readPanelState(meId);
    if (saved) {
      setOpenState(saved.open);
      setOpenRestored(saved.open);
      setActiveIdState(saved.activeId);
    }
  }, [meId]);
  const persist = useCallback(
    (next: Partial<PanelState>) => {
      if (!meId) return;
      const current = readPanelState(meId) ?? { open: false, activeId: null };
      writePanelState(meId, { ...current, ...next });
    },
    [meId],
  );
  const setOpen = useCallback(
    (next: boolean) => {
      setOpenState(next);
      setOpenRestored(false);
      persist({ open: next });
    },
    [persist],
  );
  const setActiveId = useCallback(
    (next: string | null) => {
      setActiveIdState(next);
      persist({ activeId: next });
    },
    [persist],
  );

  const isViewing = useCallback(
    (conversationId: string) => (viewing.current.get(conversationId) ?? 0) > 0 && typeof document !== 'undefined' && document.visibilityState === 'visible',
    [],
  );

  /** Debounced receipts: one read.mark / delivered.mark per conversation per burst. */
  const scheduleReceipt = useCallback((conversationId: string, upTo: number, read: boolean) => {
    const timers = receiptTimers.current;
    const current = timers.get(conversationId);
    if (current) clearTimeout(current.timer);
    const next = { upTo: Math.max(upTo, current?.upTo ?? 0), read: read || (current?.read ?? false) };
    const timer = setTimeout(() => {
      timers.delete(conversationId);
      const c = clientRef.current;
      if (!c) return;
      const done = next.read ? c.markRead(conversationId, next.upTo) : c.markDelivered(conversationId, next.upTo);
      // Receipts are best effort: the next one covers a lost one.
      Promise.resolve(done).catch(() => {});
    }, 250);
    timers.set(conversationId, { ...next, timer });
  }, []);

  const markRead = useCallback(
    (conversationId: string, upTo: number) => {
      void mutate(CONVERSATIONS_KEY, (list?: ConversationList) => markReadLocally(list, conversationId, upTo), { revalidate: false });
      scheduleReceipt(conversationId, upTo, true);
    },
    [mutate, scheduleReceipt],
  );

  const registerViewing = useCallback((conversationId: string) => {
    const map = viewing.current;
    map.set(conversationId, (map.get(conversationId) ?? 0) + 1);
    return () => {
      const n = (map.get(conversationId) ?? 1) - 1;
      if (n <= 0) map.delete(conversationId);
      else map.set(conversationId, n);
    };
  }, []);

  const hasData = useCallback((key: string) => cache.get(key)?.data !== undefined, [cache]);

  // Folding events into caches: refs keep the socket handlers stable across renders.
  const handlers = useRef({
    event: (_event: ConversationEvent) => {},
    signal: (_signal: Signal) => {},
  });
  handlers.current.event = (event) => {
    const meId = me?.id;
    if (!meId) return;
    const conversationId = event.conversationId;
    const historyKey = historyCacheKey(conversationId);
    // Only events that change messages touch the history cache: any mutate there makes SWR drop a
    // page fetch in flight, so receipts and membership changes stay out of it.
    if (HISTORY_EVENTS.has(event.type) || event.type === 'conversation.deleted') known.apply(event);
    if (HISTORY_EVENTS.has(event.type)) {
      if (hasData(historyKey)) {
        void mutate(historyKey, (pages?: Parameters<typeof applyEventToHistory>[0]) => applyEventToHistory(pages, event), { revalidate: false });
      } else if ((viewing.current.get(conversationId) ?? 0) > 0) {
        // Its first page is still loading and may predate this event: load it again (for edits,
        // deletions and reactions of older messages; new messages are kept in `known` meanwhile).
        void mutate(historyKey);
      }
    }
    if (hasData(CONVERSATIONS_KEY)) {
      let revalidate = false;
      void mutate(
        CONVERSATIONS_KEY,
        (list?: ConversationList) => {
          const result = applyEventToList(list, event, { me: meId, isViewing });
          revalidate = result.revalidate;
          return result.list;
        },
        { revalidate: false },
      ).then(() => {
        if (revalidate) void mutate(CONVERSATIONS_KEY);
      });
    }
    if (event.type === 'message.created' && event.message.senderId !== meId) {
      typing.clear(conversationId, event.message.senderId);
      const list = cache.get(CONVERSATIONS_KEY)?.data as ConversationList | undefined;
      const conversation = list?.conversations.find((c) => c.id === conversationId);
      const name = memberName(conversation, event.message.senderId);
      // A product link is announced as the product's name, not read out as a URL.
      const product = splitProduct(event.message.body, currentOrigin());
      const text = product ? [product.text, product.product.name].filter(Boolean).join(' · ') : (event.message.body ?? 'a message');
      setAnnouncement(`New message from ${name}: ${text.length > 140 ? `${text.slice(0, 139)}…` : text}`);
      scheduleReceipt(conversationId, event.message.seq, isViewing(conversationId));
    }
    if (event.type === 'message.created' && event.message.senderId === meId) bumpOutbox();
    if (event.type === 'keys.changed') void mutate(['e2e-keys', conversationId]);
    if ((event.type === 'conversation.deleted' || (event.type === 'member.removed' && event.userId === meId)) && conversationId === activeRef.current) {
      setActiveId(null);
    }
  };
  handlers.current.signal = (signal) => {
    if (signal.type === 'typing') {
      if (signal.userId !== me?.id) typing.apply(signal);
    } else if (signal.type === 'presence') {
      if (hasData(CONVERSATIONS_KEY)) {
        void mutate(CONVERSATIONS_KEY, (list?: ConversationList) => setPresence(list, signal.userId, signal.online, signal.lastSeenAt), { revalidate: false });
      }
    } else if (signal.type === 'membership.settings') {
      void mutate(CONVERSATIONS_KEY);
    }
  };
  const activeRef = useRef(activeId);
  activeRef.current = activeId;

  useEffect(() => {
    if (!me) return;
    const chat = new ChatClient({ wsUrl: CHAT_WS_URL, httpUrl: CHAT_URL, getToken: () => getToken(), userId: me.id });
    clientRef.current = chat;
    // This browser's device keys are created (first time) and published on sign-in.
    const panelE2E = new PanelE2E(chat, me.id);
    void panelE2E.session().catch(() => {});
    e2eRef.current = panelE2E;
    setE2E(panelE2E);
    setClient(chat);
    setState(chat.state);
    let wasConnected = false;
    const offs = [
      chat.on('outbox', () => setOutboxVersion((v) => v + 1)),
      chat.on('state', (next: ConnectionState) => {
        setState(next);
        // After a (re)connection the resume replayed what was missed; the list's counts may still
        // lag (conversations created while away), so refresh it once.
        if (next.status === 'connected' && !wasConnected) void mutate(CONVERSATIONS_KEY);
        wasConnected = next.status === 'connected';
      }),
      chat.on('event', (event: ConversationEvent) => routeEvent(event)),
      chat.on('signal', (signal: Signal) => handlers.current.signal(signal)),
      chat.on('conversations', () => void mutate(CONVERSATIONS_KEY)),
    ];
    chat.connect();
    const timers = receiptTimers.current;
    return () => {
      for (const off of offs) off();
      for (const { timer } of timers.values()) clearTimeout(timer);
      timers.clear();
      chat.disconnect();
      clientRef.current = null;
      e2eRef.current = null;
      setE2E(null);
      setClient(null);
      setState(null);
    };
  }, [me, getToken, mutate]);

  useEffect(() => () => typing.dispose(), [typing]);

  /** Events of encrypted conversations are opened first, in order per conversation; others go straight in. */
  const routeEvent = useCallback((event: ConversationEvent) => {
    const panelE2E = e2eRef.current;
    if (panelE2E?.decryptor.isEncrypted(event)) panelE2E.enqueue(event, (opened) => handlers.current.event(opened));
    else handlers.current.event(event);
  }, []);

  const openDirect = useCallback(
    async (userId: string, options: { productId?: string; encrypted?: boolean } = {}) => {
      const c = clientRef.current;
      if (!c) throw new Error('Sign in to chat.');
      const conversation = options.encrypted
        ? await (await e2eRef.current!.session()).directory.createEncryptedDirect(userId)
        : await c.http.createDirect(userId);
      e2eRef.current?.decryptor.note(conversation);
      const list = cache.get(CONVERSATIONS_KEY)?.data as ConversationList | undefined;
      const known = list?.conversations.some((x) => x.id === conversation.id);
      // Not loaded yet: load it (an update of nothing would also drop the fetch in flight).
      if (list) await mutate(CONVERSATIONS_KEY, (current?: ConversationList) => upsertConversation(current, conversation), { revalidate: false });
      else await mutate(CONVERSATIONS_KEY);
      // A conversation new to this page: follow it from its current seq (a known one is followed already,
      // and moving its seq forward could skip events still on their way).
      if (!known) c.track(conversation.id, conversation.lastSeq);
      if (options.productId) setProductDraft(conversation.id, options.productId);
      setActiveId(conversation.id);
      setOpen(true);
    },
    [mutate, cache, setActiveId, setOpen, setProductDraft],
  );

  const value = useMemo<ChatContextValue>(
    () => ({
      me,
      client,
      state,
      outboxVersion,
      bumpOutbox,
      ready,
      open,
      openRestored,
      setOpen,
      activeId,
      setActiveId,
      openDirect,
      productDrafts,
      setProductDraft,
      typing,
      known,
      getToken: () => getToken(),
      registerViewing,
      applyMessage: (message: Message) => routeEvent({ type: 'message.created', conversationId: message.conversationId, seq: message.seq, message }),
      e2e,
      markRead,
      announcement,
      presenceKnown: state?.status === 'connected' && state.transport === 'websocket',
    }),
    [me, client, state, outboxVersion, bumpOutbox, ready, open, openRestored, setOpen, activeId, setActiveId, openDirect, productDrafts, setProductDraft, typing, known, getToken, registerViewing, markRead, announcement, e2e, routeEvent],
  );

  return (
    <ChatContext.Provider value={value}>
      {client && me && <CatchUpReceipts me={me.id} schedule={scheduleReceipt} />}
      {client && me && <UnreadTitle />}
      {children}
      {/* New messages are announced politely, wherever focus is. */}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="chat-announcer">
        {announcement}
      </div>
    </ChatContext.Provider>
  );
}

/**
 * Messages that arrived while this user was away are delivered now: once the list
 * shows a newer message from someone else than this user's own delivered mark.
 */
function CatchUpReceipts({ me, schedule }: { me: string; schedule: (conversationId: string, upTo: number, read: boolean) => void }) {
  const { data } = useConversations();
  const sent = useRef(new Map<string, number>());
  useEffect(() => {
    for (const c of data?.conversations ?? []) {
      const last = c.lastMessage;
      if (!last || last.senderId === me) continue;
      const mine = c.members.find((m) => m.userId === me);
      const delivered = Math.max(mine?.lastDeliveredSeq ?? 0, mine?.lastReadSeq ?? 0, c.lastReadSeq, sent.current.get(c.id) ?? 0);
      if (last.seq <= delivered) continue;
      sent.current.set(c.id, last.seq);
      schedule(c.id, last.seq, false);
    }
  }, [data, me, schedule]);
  return null;
}

interface PanelState {
  open: boolean;
  activeId: string | null;
}

/** Per tab and per user: another account signing in on this tab starts closed. */
function panelStateKey(userId: string): string {
  return `chat:panel:${userId}`;
}

function readPanelState(userId: string): PanelState | null {
  try {
    const raw = JSON.parse(sessionStorage.getItem(panelStateKey(userId)) ?? 'null') as unknown;
    if (!raw || typeof raw !== 'object') return null;
    const { open, activeId } = raw as Record<string, unknown>;
    return { open: open === true, activeId: typeof activeId === 'string' && activeId.length <= 64 ? activeId : null };
  } catch {
    return null; // storage disabled or junk: start closed
  }
}

function writePanelState(userId: string, state: PanelState): void {
  try {
    sessionStorage.setItem(panelStateKey(userId), JSON.stringify(state));
  } catch {
    // storage full or disabled: the state just does not survive a reload
  }
}

const TITLE_PREFIX = /^\(\d+\+?\) /;

/** "(3) Page title" while messages are unread; the page's own title otherwise. */
function UnreadTitle() {
  const { data } = useConversations();
  const unread = data?.totalUnread ?? 0;
  useEffect(() => {
    const apply = () => {
      const base = document.title.replace(TITLE_PREFIX, '');
      const next = unread > 0 ? `(${unread > 99 ? '99+' : unread}) ${base}` : base;
      if (document.title !== next) document.title = next;
    };
    apply();
    // Client-side navigation sets a new title: prefix it again.
    const observer = new MutationObserver(apply);
    observer.observe(document.head, { subtree: true, childList: true, characterData: true });
    return () => {
      observer.disconnect();
      document.title = document.title.replace(TITLE_PREFIX, '');
    };
  }, [unread]);
  return null;
}
