/**
 * ChatClient: one connection to the chat service for one signed-in user. It owns the
 * connection state machine (see connection-state.ts), resumes with the last seq of
 * every tracked conversation, de-duplicates events, and sends through a persisted
 * outbox. When the socket cannot be established it falls back to HTTP polling.
 */
import { LIMITS, shouldReconnect, type ChangeResult, type ConversationEvent, type ReadyFrame, type ResumeResult, type SendResult, type Signal } from '@chat/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { errorFromClose } from './close-codes.ts';
import { canTransition, INITIAL_STATE, type ConnectionState } from './connection-state.ts';
import { Emitter } from './emitter.ts';
import { ChatError } from './errors.ts';
import { ChatHttp, type FetchLike } from './http.ts';
import { defaultOnlineEvents, NetworkWatcher } from './network.ts';
import { Outbox, type OutboxItem } from './outbox.ts';
import { OutboxSender, type SendInput } from './outbox-sender.ts';
import { Poller } from './polling.ts';
import type { RequestFrame, RequestResults, TypingResult } from './requests.ts';
import { SeqTracker } from './seqs.ts';
import { SessionRefresher } from './session-refresh.ts';
import { Socket, type SocketClose, type WebSocketConstructor } from './socket.ts';
import { defaultStorage, type StorageLike } from './storage.ts';

export interface ChatClientOptions {
  /** e.g. 'wss://chat.example.com/ws' */
  wsUrl: string;
  /** e.g. 'https://chat.example.com' */
  httpUrl: string;
  /** The storefront session token; called before each connect and for each HTTP call (so it may refresh). */
  getToken: () => Promise<string> | string;
  /** Where the outbox persists. Default: localStorage when present, else memory. */
  storage?: StorageLike;
  /** Default: the global WebSocket. In Node pass `ws`'s WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Timeout of each request (ack) and HTTP call, and of waiting for `ready`. Default 10000. */
  requestTimeoutMs?: number;
  /** Follow window online/offline events and navigator.onLine. Default: true in browsers. */
  onlineEvents?: boolean;
  /** The signed-in user's id, when known up front: lets outbox() read the user's queue before connecting. */
  userId?: string;
  /** Reconnect delays: random(0, min(maxMs, baseMs * 2^attempt)). Default base 1000, max 30000. */
  backoff?: BackoffOptions;
  /** Consecutive socket failures (never `ready`, HTTP working) before switching to polling. Default 3. */
  fallbackAfter?: number;
  /** Polling interval. Default 3000. */
  pollIntervalMs?: number;
  /** While polling, try the socket again this often. Default 30000. */
  socketRetryMs?: number;
}

/** Emitted after every resume (and, while polling, after each conversation list refresh). */
export interface ConversationsInfo {
  /** Every conversation of the user with its last seq. */
  conversations: { id: string; lastSeq: number }[];
  /** Ids the client did not track before: load their history (they are tracked from `lastSeq` on). */
  added: string[];
}

export interface ChatClientEvents {
  state: ConnectionState;
  event: ConversationEvent;
  signal: Signal;
  conversations: ConversationsInfo;
  outbox: OutboxItem[];
  /** Errors not tied to a call: an error frame without an id, a failed resume. */
  error: ChatError;
}

const SIGNAL_TYPES = new Set(['typing', 'presence', 'membership.settings']);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export class ChatClient {
  /** The HTTP API (history, conversations, uploads, …) with the same token. */
  readonly http: ChatHttp;
  private readonly emitter = new Emitter<ChatClientEvents>();
  private readonly seqs = new SeqTracker();
  private readonly sender: OutboxSender;
  private readonly network: NetworkWatcher;
  private readonly poller: Poller;
  private readonly refresher: SessionRefresher;
  private readonly timeoutMs: number;
  private current: ConnectionState = INITIAL_STATE;
  private socket: Socket | null = null;
  /** The current socket has resumed: events flow and sends keep their order. */
  private live = false;
  private wanted = false;
  /** Bumped whenever pending async work of earlier attempts must be ignored. */
  private generation = 0;
  private userId: string | null;
  private failuresBeforeReady = 0;
  private authRetried = false;
  private resuming: Promise<void> | null = null;
  private resumeAgain = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @example
   * const client = new ChatClient({ wsUrl: 'ws://127.0.0.1:4000/ws', httpUrl: 'http://127.0.0.1:4000', getToken: async () => session.token });
   * client.on('event', (e) => apply(e));
   * client.connect();
   */
  constructor(private readonly options: ChatClientOptions) {
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.userId = options.userId ?? null;
    this.http = new ChatHttp({ httpUrl: options.httpUrl, getToken: options.getToken, fetch: options.fetch, timeoutMs: this.timeoutMs });
    const site = safeHost(options.httpUrl);
    this.sender = new OutboxSender(new Outbox(options.storage ?? defaultStorage(), site, this.userId), () => this.onOutboxChange());
    this.current = Object.freeze({ ...INITIAL_STATE, queued: this.sender.store.pendingCount() });
    this.network = new NetworkWatcher(options.onlineEvents ?? defaultOnlineEvents(), () => this.onOnline(), () => this.onOffline());
    this.refresher = new SessionRefresher(options.getToken, (token) => this.request({ type: 'auth.refresh', token }));
    this.poller = new Poller({
      http: this.http,
      seqs: this.seqs,
      intervalMs: options.pollIntervalMs ?? 3000,
      onEvent: (event) => this.onEvent(event),
      onConversations: (list) => this.applyConversations(list, new Set(this.seqs.ids())),
      flush: () => this.flushOutbox(),
      onPolled: (result) => this.onPolled(result),
    });
  }

  /** The connection state; a new frozen object after every change. @example if (client.state.status === 'offline') showBanner(); */
  get state(): ConnectionState {
    return this.current;
  }

  /**
   * Subscribes to 'state', 'event', 'signal', 'conversations', 'outbox' or 'error'; returns the unsubscribe function.
   * @example const off = client.on('event', (e) => e.type === 'message.created' && render(e.message)); off();
   */
  on<K extends keyof ChatClientEvents>(event: K, listener: (value: ChatClientEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Starts connecting (and keeps reconnecting until disconnect()). @example client.connect(); */
  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.authRetried = false;
    this.failuresBeforeReady = 0;
    this.network.start();
    if (this.network.offline) return this.setState({ status: 'offline', nextAttemptAt: null, attempt: 0, transport: 'websocket' });
    this.setState({ status: 'connecting', nextAttemptAt: null, attempt: 0, transport: 'websocket', lastError: null });
    void this.openSocket();
  }

  /** Closes the connection and stops reconnecting; the outbox keeps its items. @example client.disconnect(); */
  disconnect(): void {
    this.halt();
    this.setState({ status: 'closed', nextAttemptAt: null, transport: 'websocket' });
  }

  /**
   * Sets the last seq you have of a conversation (e.g. from history); resume and polling
   * continue from it. Seqs never move backwards. Tracking a new conversation while
   * connected resumes again so its live events flow.
   * @example const page = await client.http.history(id); client.track(id, page.messages.at(-1)?.seq ?? 0);
   */
  track(conversationId: string, lastSeq: number): void {
    const known = this.seqs.has(conversationId);
    this.seqs.track(conversationId, lastSeq);
    if (!known && this.live) void this.resume();
  }

  /**
   * Queues a message (persisted) and sends it when connected, retrying with the same
   * clientMsgId after reconnects. `done` resolves with the ack, or rejects when it failed for good.
   * @example const { clientMsgId, done } = client.send({ conversationId, body: 'Hello' }); await done;
   */
  send(message: SendInput): { clientMsgId: string; done: Promise<SendResult> } {
    const queued = this.sender.add(message);
    void this.flushOutbox();
    return queued;
  }

  /** Items not yet acknowledged, oldest first. @example client.outbox(conversationId).filter((i) => i.status === 'failed'); */
  outbox(conversationId?: string): OutboxItem[] {
    return this.sender.store.list(conversationId);
  }

  /** Sends a failed (or pending) item again, with its clientMsgId. @example await client.retry(item.clientMsgId); */
  retry(clientMsgId: string): Promise<SendResult> {
    const done = this.sender.retry(clientMsgId);
    void this.flushOutbox();
    return done;
  }

  /** Removes an item from the outbox; returns false when there was none. @example client.discard(item.clientMsgId); */
  discard(clientMsgId: string): boolean {
    return this.sender.discard(clientMsgId);
  }

  /**
   * Sends any request frame (the id is added) and resolves with its ack's result;
   * rejects with ChatError (the server's code, or TIMEOUT / DISCONNECTED).
   * @example const { time } = await client.request({ type: 'ping' });
   */
  request<F extends RequestFrame>(frame: F): Promise<RequestResults[F['type']]> {
    const socket = this.socket;
    if (!socket?.isReady) return Promise.reject(new ChatError('DISCONNECTED'));
    return socket.request(frame);
  }

  /** Edits your message (over the socket, or HTTP without one). @example await client.edit(conversationId, messageId, 'fixed typo'); */
  edit(conversationId: string, messageId: string, body: string): Promise<ChangeResult> {
    return this.viaSocketOrHttp({ type: 'message.edit', conversationId, messageId, body }, () => this.http.edit(conversationId, messageId, body));
  }

  /** Deletes a message. @example await client.remove(conversationId, messageId); */
  remove(conversationId: string, messageId: string): Promise<ChangeResult> {
    return this.viaSocketOrHttp({ type: 'message.delete', conversationId, messageId }, () => this.http.remove(conversationId, messageId));
  }

  /** Adds (add = true) or removes a reaction. @example await client.react(conversationId, messageId, '👍', true); */
  react(conversationId: string, messageId: string, emoji: string, add: boolean): Promise<ChangeResult> {
    const type = add ? 'reaction.add' : 'reaction.remove';
    return this.viaSocketOrHttp({ type, conversationId, messageId, emoji }, () => this.http.react(conversationId, messageId, emoji, add));
  }

  /** Marks everything up to `upTo` as read. @example await client.markRead(conversationId, lastSeq); */
  markRead(conversationId: string, upTo: number): Promise<ChangeResult> {
    return this.viaSocketOrHttp({ type: 'read.mark', conversationId, upTo }, () => this.http.markRead(conversationId, upTo));
  }

  /** Marks everything up to `upTo` as delivered (debounce it). @example await client.markDelivered(conversationId, lastSeq); */
  markDelivered(conversationId: string, upTo: number): Promise<ChangeResult> {
    return this.viaSocketOrHttp({ type: 'delivered.mark', conversationId, upTo }, () => this.http.markDelivered(conversationId, upTo));
  }

  /** Shows or hides your typing indicator. @example input.oninput = () => client.typing(conversationId, 'start'); */
  typing(conversationId: string, state: 'start' | 'stop'): Promise<TypingResult> {
    const type = state === 'start' ? 'typing.start' : 'typing.stop';
    return this.viaSocketOrHttp({ type, conversationId }, () => this.http.typing(conversationId, state));
  }

  // ---- connection lifecycle -------------------------------------------------

  private async openSocket(): Promise<void> {
    const generation = ++this.generation;
    let socket: Socket;
    try {
      const token = await this.options.getToken();
      if (generation !== this.generation || !this.wanted) return;
      // A newer attempt supersedes a socket still opening.
      const previous = this.socket;
      this.socket = null;
      previous?.close(1000, 'superseded');
      const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
      if (!WebSocketImpl) throw new ChatError('NETWORK', 'No WebSocket implementation: pass options.WebSocket.');
      socket = new Socket(
        { url: this.options.wsUrl, token, WebSocket: WebSocketImpl, requestTimeoutMs: this.timeoutMs },
        {
          onReady: (ready) => this.onReady(socket, ready, token),
          onFrame: (frame) => socket === this.socket && this.onFrame(frame),
          onClose: (close) => this.onSocketClose(socket, close),
        },
      );
    } catch (thrown) {
      if (generation !== this.generation || !this.wanted) return;
      return this.onSocketFailed(ChatError.from(thrown), generation);
    }
    this.socket = socket;
  }

  private onReady(socket: Socket, ready: ReadyFrame, token: string): void {
    if (socket !== this.socket) return;
    this.setUser(ready.userId);
    this.failuresBeforeReady = 0;
    this.authRetried = false;
    this.poller.stop();
    this.clearTimer('probeTimer');
    this.setState({ status: 'connected', nextAttemptAt: null, transport: 'websocket', lastError: null });
    this.refresher.start(ready.sessionExpiresAt, token);
    void this.resume();
  }

  /** Resumes the current socket with every tracked seq; one at a time (the server refuses overlaps). */
  private resume(): Promise<void> {
    if (this.resuming) {
      this.resumeAgain = true;
      return this.resuming;
    }
    const socket = this.socket;
    if (!socket?.isReady) return Promise.resolve();
    this.resuming = (async () => {
      do {
        this.resumeAgain = false;
        const named = this.seqs.snapshot();
        const conversations = Object.fromEntries(
          Object.entries(named).filter(([id]) => UUID.test(id)).slice(0, LIMITS.maxResumeConversations),
        );
        let result: ResumeResult;
        try {
          result = await socket.request<ResumeResult>({ type: 'resume', conversations });
        } catch (thrown) {
          if (socket !== this.socket) return;
          const error = ChatError.from(thrown);
          this.emitter.emit('error', error);
          // Without a resume no events flow: start over on a new socket.
          return socket.close(4000, 'resume failed', error);
        }
        if (socket !== this.socket) return;
        this.applyConversations(result.conversations, new Set(Object.keys(conversations)));
        this.live = true;
        this.setState({ attempt: 0 });
      } while (this.resumeAgain && socket === this.socket);
      await this.flushOutbox();
    })().finally(() => {
      this.resuming = null;
    });
    return this.resuming;
  }

  private onSocketClose(socket: Socket, close: SocketClose): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.live = false;
    this.refresher.stop();
    this.clearTimer('retryTimer');
    if (!this.wanted) return;
    const error = close.error ?? errorFromClose(close.code, close.reason);
    if (this.current.transport === 'polling') return this.scheduleProbe(); // a probe failed; keep polling
    if (close.code === 4401) return this.onAuthFailed(error, () => void this.openSocket());
    if (!shouldReconnect(close.code)) return this.stop(error);
    if (close.wasReady) {
      this.failuresBeforeReady = 0;
      return this.scheduleReconnect(error);
    }
    this.onSocketFailed(error, this.generation);
  }

  /**
   * The socket never got to `ready`. A browser cannot read why (a refused upgrade looks
   * like 1006), so ask the HTTP API: an auth error there means the token, success means
   * the socket path itself is blocked (count towards polling), a failure means we are cut off.
   */
  private async onSocketFailed(error: ChatError, generation: number): Promise<void> {
    let httpWorks = false;
    try {
      this.setUser((await this.http.me()).id);
      httpWorks = true;
    } catch (thrown) {
      const httpError = ChatError.from(thrown);
      if (generation !== this.generation || !this.wanted) return;
      if (httpError.isAuth) return this.onAuthFailed(httpError, () => void this.openSocket());
    }
    if (generation !== this.generation || !this.wanted) return;
    this.failuresBeforeReady++;
    if (httpWorks && this.failuresBeforeReady >= (this.options.fallbackAfter ?? 3)) return this.startPolling(error);
    this.scheduleReconnect(error);
  }

  /** Tokens refresh: on the first auth failure get a new one and try once more; then give up. */
  private onAuthFailed(error: ChatError, retry: () => void): void {
    if (this.authRetried) return this.stop(error);
    this.authRetried = true;
    this.setState({ status: 'reconnecting', nextAttemptAt: null, lastError: error.toJSON() });
    retry();
  }

  private scheduleReconnect(error: ChatError): void {
    const delay = backoffDelay(this.current.attempt, this.options.backoff);
    this.setState({ status: 'reconnecting', nextAttemptAt: Date.now() + delay, attempt: this.current.attempt + 1, lastError: error.toJSON() });
    this.clearTimer('reconnectTimer');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.setState({ nextAttemptAt: null });
      void this.openSocket();
    }, delay);
  }

  /** Ends the session for good (until connect()), keeping the reason in lastError. */
  private stop(error: ChatError): void {
    this.halt();
    this.setState({ status: 'closed', nextAttemptAt: null, lastError: error.toJSON() });
  }

  private halt(): void {
    this.wanted = false;
    this.generation++;
    this.network.stop();
    this.poller.stop();
    this.refresher.stop();
    for (const timer of ['reconnectTimer', 'probeTimer', 'retryTimer'] as const) this.clearTimer(timer);
    const socket = this.socket;
    this.socket = null;
    this.live = false;
    socket?.close(1000, 'client disconnect');
  }

  // ---- polling fallback -----------------------------------------------------

  private startPolling(error: ChatError): void {
    this.setState({ status: 'reconnecting', nextAttemptAt: null, transport: 'polling', lastError: error.toJSON() });
    this.poller.start();
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.clearTimer('probeTimer');
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.openSocket();
    }, this.options.socketRetryMs ?? 30_000);
  }

  private onPolled(result: { ok: true } | { ok: false; error: ChatError; nextAt: number }): void {
    if (result.ok) {
      this.authRetried = false;
      return this.setState({ status: 'connected', nextAttemptAt: null, attempt: 0, lastError: null });
    }
    // The next poll calls getToken again: that is the one retry with a fresh token.
    if (result.error.isAuth) return this.onAuthFailed(result.error, () => {});
    this.setState({ status: 'reconnecting', nextAttemptAt: result.nextAt, attempt: this.current.attempt + 1, lastError: result.error.toJSON() });
  }

  // ---- network --------------------------------------------------------------

  private onOnline(): void {
    if (!this.wanted) return;
    const { status, transport } = this.current;
    if (status === 'connected' && transport === 'websocket') return;
    if (this.socket && !this.socket.isReady) return; // an attempt is under way
    this.clearTimer('reconnectTimer');
    this.clearTimer('probeTimer');
    if (status === 'offline' || status === 'reconnecting') {
      this.failuresBeforeReady = 0;
      this.poller.stop();
      this.setState({ status: 'reconnecting', nextAttemptAt: null, attempt: 0, transport: 'websocket' });
    }
    void this.openSocket();
  }

  private onOffline(): void {
    if (!this.wanted) return;
    this.generation++;
    this.poller.stop();
    this.refresher.stop();
    for (const timer of ['reconnectTimer', 'probeTimer', 'retryTimer'] as const) this.clearTimer(timer);
    const socket = this.socket;
    this.socket = null;
    this.live = false;
    socket?.close(1000, 'offline');
    this.setState({ status: 'offline', nextAttemptAt: null, transport: 'websocket' });
  }

  // ---- frames, events, outbox -----------------------------------------------

  private onFrame(frame: { type: string; [key: string]: unknown }): void {
    if (SIGNAL_TYPES.has(frame.type)) return this.emitter.emit('signal', frame as unknown as Signal);
    if (frame.type === 'error') return this.emitter.emit('error', ChatError.fromBody(frame));
    if (typeof frame.conversationId === 'string' && typeof frame.seq === 'number') this.onEvent(frame as unknown as ConversationEvent);
  }

  private onEvent(event: ConversationEvent): void {
    if (!this.seqs.accept(event.conversationId, event.seq)) return;
    if (event.type === 'message.created' && event.message.senderId === this.userId) this.sender.confirm(event.message);
    if (event.type === 'conversation.deleted' || (event.type === 'member.removed' && event.userId === this.userId)) {
      this.seqs.retire(event.conversationId);
    }
    this.emitter.emit('event', event);
  }

  private applyConversations(list: { id: string; lastSeq: number }[], named: Set<string>): void {
    const added = list.filter((c) => !named.has(c.id)).map((c) => c.id);
    // Unnamed conversations start live at their current seq (the resume rules).
    for (const c of list) if (!named.has(c.id)) this.seqs.track(c.id, c.lastSeq);
    this.emitter.emit('conversations', { conversations: list, added });
  }

  private async flushOutbox(): Promise<void> {
    const socket = this.socket;
    if (this.live && socket?.isReady) {
      const { retryAfterMs } = await this.sender.flush((item) => socket.request<SendResult>(sendFrame(item)), { sequential: false });
      if (retryAfterMs !== null && socket === this.socket && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.flushOutbox();
        }, retryAfterMs);
      }
    } else if (this.current.transport === 'polling' && this.poller.active) {
      await this.sender.flush(
        (item) => this.http.send(item.conversationId, { clientMsgId: item.clientMsgId, body: item.body, replyToId: item.replyToId }),
        // The HTTP send takes no attachments: those wait for the socket.
        { sequential: true, skip: (item) => item.attachmentIds.length > 0 },
      );
    }
  }

  private onOutboxChange(): void {
    this.setState({ queued: this.sender.store.pendingCount() });
    this.emitter.emit('outbox', this.sender.store.list());
  }

  private setUser(userId: string): void {
    this.userId = userId;
    this.sender.store.setUser(userId);
    this.onOutboxChange();
  }

  private viaSocketOrHttp<F extends RequestFrame, R>(frame: F, http: () => Promise<R>): Promise<RequestResults[F['type']] | R> {
    return this.socket?.isReady ? this.request(frame) : http();
  }

  private setState(patch: Partial<ConnectionState>): void {
    const next = { ...this.current, ...patch };
    const keys = Object.keys(next) as (keyof ConnectionState)[];
    if (keys.every((k) => next[k] === this.current[k])) return;
    if (!canTransition(this.current.status, next.status)) {
      console.warn(`[chat-client] unexpected transition ${this.current.status} → ${next.status}`);
    }
    this.current = Object.freeze(next);
    this.emitter.emit('state', this.current);
  }

  private clearTimer(name: 'reconnectTimer' | 'probeTimer' | 'retryTimer'): void {
    const timer = this[name];
    if (timer) clearTimeout(timer);
    this[name] = null;
  }
}

function sendFrame(item: OutboxItem): RequestFrame {
  return {
    type: 'message.send',
    conversationId: item.conversationId,
    clientMsgId: item.clientMsgId,
    body: item.body,
    ...(item.replyToId ? { replyToId: item.replyToId } : {}),
    ...(item.attachmentIds.length ? { attachmentIds: item.attachmentIds } : {}),
  };
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
