/**
 * The connection state machine (see connection-state.ts): opens sockets, resumes,
 * reconnects with backoff, follows online/offline, retries once on 4401 with a fresh
 * token, falls back to HTTP polling, and flushes the outbox on each (re)connect.
 */
import { LIMITS, shouldReconnect, type ReadyFrame, type ResumeResult, type SendResult } from '@chat/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { errorFromClose } from './close-codes.ts';
import { canTransition, INITIAL_STATE, type ConnectionState } from './connection-state.ts';
import type { Emit } from './emitter.ts';
import { ChatError } from './errors.ts';
import type { EventStream } from './event-stream.ts';
import type { ChatHttp } from './http.ts';
import { NetworkWatcher } from './network.ts';
import type { OutboxItem } from './outbox.ts';
import type { OutboxSender } from './outbox-sender.ts';
import { Poller } from './polling.ts';
import type { RequestFrame, RequestResults } from './requests.ts';
import { SessionRefresher } from './session-refresh.ts';
import { Socket, type SocketClose, type WebSocketConstructor } from './socket.ts';

export interface ConnectionOptions {
  wsUrl: string;
  getToken: () => Promise<string> | string;
  WebSocket?: WebSocketConstructor;
  requestTimeoutMs: number;
  onlineEvents: boolean;
  backoff?: BackoffOptions;
  fallbackAfter?: number;
  pollIntervalMs?: number;
  socketRetryMs?: number;
}

export interface ConnectionDeps {
  http: ChatHttp;
  stream: EventStream;
  sender: OutboxSender;
  emit: Emit<{ state: ConnectionState; error: ChatError }>;
  /** The signed-in user became known (from `ready` or GET /v1/me). */
  onUser(userId: string): void;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
type TimerName = 'reconnectTimer' | 'probeTimer' | 'retryTimer';
const TIMERS: TimerName[] = ['reconnectTimer', 'probeTimer', 'retryTimer'];

export class Connection {
  state: ConnectionState = INITIAL_STATE;
  private socket: Socket | null = null;
  /** The current socket has resumed: events flow and sends keep their order. */
  private live = false;
  private wanted = false;
  /** Bumped whenever pending async work of earlier attempts must be ignored. */
  private generation = 0;
  private failuresBeforeReady = 0;
  private authRetried = false;
  private resuming: Promise<void> | null = null;
  private resumeAgain = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly network: NetworkWatcher;
  private readonly poller: Poller;
  private readonly refresher: SessionRefresher;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly deps: ConnectionDeps,
  ) {
    this.network = new NetworkWatcher(options.onlineEvents, () => this.onOnline(), () => this.onOffline());
    this.refresher = new SessionRefresher(options.getToken, (token) => this.request({ type: 'auth.refresh', token }));
    this.poller = new Poller({
      http: deps.http,
      seqs: deps.stream.seqs,
      intervalMs: options.pollIntervalMs ?? 3000,
      onEvent: (event) => deps.stream.onEvent(event),
      onConversations: (list) => deps.stream.applyConversations(list, new Set(deps.stream.seqs.ids())),
      flush: () => this.flush(),
      onPolled: (result) => this.onPolled(result),
    });
  }

  get ready(): boolean {
    return this.socket?.isReady ?? false;
  }

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

  disconnect(): void {
    this.halt();
    this.setState({ status: 'closed', nextAttemptAt: null, transport: 'websocket' });
  }

  request<F extends RequestFrame>(frame: F): Promise<RequestResults[F['type']]> {
    const socket = this.socket;
    if (!socket?.isReady) return Promise.reject(new ChatError('DISCONNECTED'));
    return socket.request(frame);
  }

  /** Resumes the current socket again (e.g. a newly tracked conversation) when it is live. */
  resumeIfLive(): void {
    if (this.live) void this.resume();
  }

  setState(patch: Partial<ConnectionState>): void {
    const next = { ...this.state, ...patch };
    const keys = Object.keys(next) as (keyof ConnectionState)[];
    if (keys.every((k) => next[k] === this.state[k])) return;
    if (!canTransition(this.state.status, next.status)) {
      console.warn(`[chat-client] unexpected transition ${this.state.status} → ${next.status}`);
    }
    this.state = Object.freeze(next);
    this.deps.emit('state', this.state);
  }

  /** Sends pending outbox items over the live socket, or over HTTP while polling. */
  async flush(): Promise<void> {
    const { sender, http } = this.deps;
    const socket = this.socket;
    if (this.live && socket?.isReady) {
      const { retryAfterMs } = await sender.flush((item) => socket.request<SendResult>(sendFrame(item)), { sequential: false });
      if (retryAfterMs !== null && socket === this.socket && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.flush();
        }, retryAfterMs);
      }
    } else if (this.state.transport === 'polling' && this.poller.active) {
      await sender.flush(
        (item) => http.send(item.conversationId, { clientMsgId: item.clientMsgId, body: item.body, replyToId: item.replyToId, attachmentIds: item.attachmentIds }),
        { sequential: true },
      );
    }
  }

  // ---- sockets ----------------------------------------------------------------

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
        { url: this.options.wsUrl, token, WebSocket: WebSocketImpl, requestTimeoutMs: this.options.requestTimeoutMs },
        {
          onReady: (ready) => this.onReady(socket, ready, token),
          onFrame: (frame) => socket === this.socket && this.deps.stream.onFrame(frame),
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
    this.deps.onUser(ready.userId);
    this.failuresBeforeReady = 0;
    this.authRetried = false;
    this.poller.stop();
    this.clearTimer('probeTimer');
    // `attempt` is reset only once the resume worked.
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
    const { stream, emit } = this.deps;
    this.resuming = (async () => {
      do {
        this.resumeAgain = false;
        const conversations = Object.fromEntries(
          Object.entries(stream.seqs.snapshot()).filter(([id]) => UUID.test(id)).slice(0, LIMITS.maxResumeConversations),
        );
        let result: ResumeResult;
        try {
          result = await socket.request<ResumeResult>({ type: 'resume', conversations });
        } catch (thrown) {
          if (socket !== this.socket) return;
          const error = ChatError.from(thrown);
          emit('error', error);
          // Without a resume no events flow: start over on a new socket (with backoff).
          return socket.close(4000, 'resume failed', error);
        }
        if (socket !== this.socket) return;
        stream.applyConversations(result.conversations, new Set(Object.keys(conversations)));
        this.live = true;
        this.setState({ attempt: 0 });
      } while (this.resumeAgain && socket === this.socket);
      await this.flush();
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
    if (this.state.transport === 'polling') return this.scheduleProbe(); // a probe failed; keep polling
    if (close.code === 4401) return this.onAuthFailed(error, () => void this.openSocket());
    if (!shouldReconnect(close.code)) return this.stop(error);
    if (close.wasReady) {
      this.failuresBeforeReady = 0;
      return this.scheduleReconnect(error);
    }
    void this.onSocketFailed(error, this.generation);
  }

  /**
   * The socket never got to `ready`. A browser cannot read why (a refused upgrade looks
   * like 1006), so ask the HTTP API: an auth error there means the token; success means
   * the socket path itself is blocked (counts towards polling); a failure means we are cut off.
   */
  private async onSocketFailed(error: ChatError, generation: number): Promise<void> {
    let httpWorks = false;
    try {
      this.deps.onUser((await this.deps.http.me()).id);
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
    const delay = backoffDelay(this.state.attempt, this.options.backoff);
    this.setState({ status: 'reconnecting', nextAttemptAt: Date.now() + delay, attempt: this.state.attempt + 1, lastError: error.toJSON() });
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
    this.network.stop();
    this.dropSocket('client disconnect');
  }

  /** Cancels every attempt, timer and poll and closes the socket (its onClose is ignored). */
  private dropSocket(reason: string): void {
    this.generation++;
    this.poller.stop();
    this.refresher.stop();
    for (const timer of TIMERS) this.clearTimer(timer);
    const socket = this.socket;
    this.socket = null;
    this.live = false;
    socket?.close(1000, reason);
  }

  // ---- polling fallback -------------------------------------------------------

  private startPolling(error: ChatError): void {
    this.setState({ status: 'reconnecting', nextAttemptAt: null, transport: 'polling', lastError: error.toJSON() });
    this.poller.start();
    this.scheduleProbe();
  }

  /** While polling, try the socket again every socketRetryMs. */
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
    this.setState({ status: 'reconnecting', nextAttemptAt: result.nextAt, attempt: this.state.attempt + 1, lastError: result.error.toJSON() });
  }

  // ---- network ----------------------------------------------------------------

  private onOnline(): void {
    if (!this.wanted) return;
    const { status, transport } = this.state;
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
    this.dropSocket('offline');
    this.setState({ status: 'offline', nextAttemptAt: null, transport: 'websocket' });
  }

  private clearTimer(name: TimerName): void {
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
