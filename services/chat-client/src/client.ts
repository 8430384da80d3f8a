/**
 * ChatClient: the SDK's public face. One connection to the chat service for one
 * signed-in user: live events (de-duplicated by seq), signals, a persisted outbox for
 * sends, typed requests, and the HTTP API. The connection's state machine lives in
 * connection.ts, event handling in event-stream.ts.
 */
import type { ChangeResult, ConversationEvent, SendResult, Signal } from '@chat/protocol';
import type { BackoffOptions } from './backoff.ts';
import { Connection } from './connection.ts';
import { INITIAL_STATE, type ConnectionState } from './connection-state.ts';
import { Emitter } from './emitter.ts';
import type { ChatError } from './errors.ts';
import { EventStream, type ConversationsInfo } from './event-stream.ts';
import { ChatHttp, type FetchLike } from './http.ts';
import { defaultOnlineEvents } from './network.ts';
import { Outbox, type OutboxItem } from './outbox.ts';
import { OutboxSender, type SendInput } from './outbox-sender.ts';
import type { RequestFrame, RequestResults, TypingResult } from './requests.ts';
import type { WebSocketConstructor } from './socket.ts';
import { defaultStorage, type StorageLike } from './storage.ts';

export type { ConversationsInfo };

export interface ChatClientOptions {
  /** e.g. 'wss://chat.example.com/ws' */
  wsUrl: string;
  /** e.g. 'https://chat.example.com' */
  httpUrl: string;
  /**
   * The storefront session token; called before each connect and for each HTTP call, so it
   * may return a refreshed one. Throw `new ChatError('UNAUTHENTICATED')` when signed out.
   */
  getToken: () => Promise<string> | string;
  /** Where the outbox persists. Default: localStorage when present, else memory. */
  storage?: StorageLike;
  /** Default: the global WebSocket. In Node pass `ws`'s WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Timeout of each request's ack, each HTTP call, and of waiting for `ready`. Default 10000. */
  requestTimeoutMs?: number;
  /** Follow window online/offline events and navigator.onLine. Default: true in browsers. */
  onlineEvents?: boolean;
  /** The signed-in user's id, when known up front: outbox() then shows the user's queue before connecting. */
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

export interface ChatClientEvents {
  state: ConnectionState;
  event: ConversationEvent;
  signal: Signal;
  conversations: ConversationsInfo;
  outbox: OutboxItem[];
  /** Errors not tied to a call: an error frame without an id, a failed resume. */
  error: ChatError;
}

export class ChatClient {
  /** The HTTP API (history, conversations, uploads, …), authenticated with the same getToken. */
  readonly http: ChatHttp;
  private readonly emitter = new Emitter<ChatClientEvents>();
  private readonly stream: EventStream;
  private readonly sender: OutboxSender;
  private readonly connection: Connection;

  /**
   * @example
   * const client = new ChatClient({ wsUrl: 'ws://127.0.0.1:4000/ws', httpUrl: 'http://127.0.0.1:4000', getToken: async () => session.token });
   * client.on('event', (e) => apply(e));
   * client.connect();
   */
  constructor(options: ChatClientOptions) {
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.http = new ChatHttp({ httpUrl: options.httpUrl, getToken: options.getToken, fetch: options.fetch, timeoutMs: requestTimeoutMs });
    // The stream and the connection each report a subset of the client's events.
    const emit = (event: keyof ChatClientEvents, value: unknown) => this.emitter.emit(event, value as never);
    this.stream = new EventStream(emit, (message) => this.sender.confirm(message));
    this.stream.userId = options.userId ?? null;
    const outbox = new Outbox(options.storage ?? defaultStorage(), siteOf(options.httpUrl), options.userId ?? null);
    this.sender = new OutboxSender(outbox, () => this.onOutboxChange());
    this.connection = new Connection(
      { ...options, requestTimeoutMs, onlineEvents: options.onlineEvents ?? defaultOnlineEvents() },
      { http: this.http, stream: this.stream, sender: this.sender, emit, onUser: (userId) => this.setUser(userId) },
    );
    this.connection.state = Object.freeze({ ...INITIAL_STATE, queued: outbox.pendingCount() });
  }

  /** The connection state; a new frozen object after every change. @example if (client.state.status === 'offline') showBanner(); */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /**
   * Subscribes to 'state', 'event', 'signal', 'conversations', 'outbox' or 'error'; returns the unsubscribe function.
   * @example const off = client.on('event', (e) => e.type === 'message.created' && render(e.message)); off();
   */
  on<K extends keyof ChatClientEvents>(event: K, listener: (value: ChatClientEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Starts connecting, and keeps reconnecting until disconnect(). @example client.connect(); */
  connect(): void {
    this.connection.connect();
  }

  /** Closes the connection and stops reconnecting; the outbox keeps its items. @example client.disconnect(); */
  disconnect(): void {
    this.connection.disconnect();
  }

  /**
   * Sets the last seq you have of a conversation (e.g. from history); resume and polling
   * continue after it. Seqs never move backwards. Tracking a new conversation while
   * connected resumes again, so its live events flow.
   * @example const c = await client.http.conversation(id); client.track(id, c.lastSeq);
   */
  track(conversationId: string, lastSeq: number): void {
    const known = this.stream.seqs.has(conversationId);
    this.stream.seqs.track(conversationId, lastSeq);
    if (!known) this.connection.resumeIfLive();
  }

  /**
   * Queues a message (persisted) and sends it when connected, retrying with the same
   * clientMsgId after reconnects. `done` resolves with the ack, or rejects when the server refused it for good.
   * @example const { clientMsgId, done } = client.send({ conversationId, body: 'Hello' }); await done;
   */
  send(message: SendInput): { clientMsgId: string; done: Promise<SendResult> } {
    const queued = this.sender.add(message);
    void this.connection.flush();
    return queued;
  }

  /** Items not yet acknowledged, oldest first. @example client.outbox(conversationId).filter((i) => i.status === 'failed'); */
  outbox(conversationId?: string): OutboxItem[] {
    return this.sender.store.list(conversationId);
  }

  /** Sends a failed (or pending) item again, with its clientMsgId. @example await client.retry(item.clientMsgId); */
  retry(clientMsgId: string): Promise<SendResult> {
    const done = this.sender.retry(clientMsgId);
    void this.connection.flush();
    return done;
  }

  /** Removes an item from the outbox (its `done` rejects with DISCARDED); false when there was none. @example client.discard(item.clientMsgId); */
  discard(clientMsgId: string): boolean {
    return this.sender.discard(clientMsgId);
  }

  /**
   * Sends any request frame over the socket (the id is added) and resolves with its ack's
   * result; rejects with ChatError (the server's code, or TIMEOUT / DISCONNECTED).
   * @example const { time } = await client.request({ type: 'ping' });
   */
  request<F extends RequestFrame>(frame: F): Promise<RequestResults[F['type']]> {
    return this.connection.request(frame);
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

  /** Over the socket when it is ready; otherwise the same operation over HTTP. */
  private viaSocketOrHttp<F extends RequestFrame, R>(frame: F, http: () => Promise<R>): Promise<RequestResults[F['type']] | R> {
    return this.connection.ready ? this.connection.request(frame) : http();
  }

  private setUser(userId: string): void {
    this.stream.userId = userId;
    this.sender.store.setUser(userId);
    this.onOutboxChange();
  }

  private onOutboxChange(): void {
    this.connection.setState({ queued: this.sender.store.pendingCount() });
    this.emitter.emit('outbox', this.sender.store.list());
  }
}

/** The outbox key's site part: the service's host. */
function siteOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
