/**
 * One WebSocket: what it has been sent per conversation, its outgoing frames and
 * its end. Every stream event reaches the socket through one rule (`apply`): only for a
 * subscribed conversation, only above the last seq sent (so replay and the live stream
 * overlap without duplicates), and an event that ends the user's membership is the last
 * one the socket gets from that conversation.
 */
import { ERRORS, type AckFrame, type ErrorFrame } from '@chat/protocol';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Identity } from '../auth/session-token.ts';
import type { AppError, ErrorCode } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { LoadedEvent } from '../db/messages.ts';
import { encodeFrame } from '../frames.ts';
import type { Delivery, FrameData, Subscriber } from './rooms.ts';

/** Live events held for a socket while its resume replays from the database. */
const MAX_BACKLOG = 10_000;

export class Connection implements Subscriber {
  /**
   * Conversation id → last seq sent. A key exists exactly for subscribed conversations:
   * set only from a membership read in one snapshot with the stream's position, removed
   * by the event that ends the membership.
   */
  readonly lastSent = new Map<string, number>();
  /** Non-null while catching up. */
  private backlog: [string, Delivery][] | null = null;
  /** Set by a pong or any frame; cleared by each heartbeat tick. */
  alive = true;
  closed = false;
  /** Set by the first resume: only then does the socket receive conversation events. */
  resumed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private expiryTimer: NodeJS.Timeout | null = null;
  /** True while this tick's frames are being gathered into one write (see sendRaw). */
  private corked = false;

  constructor(
    readonly id: string,
    public identity: Identity,
    readonly socket: WebSocket,
    private readonly parentLog: Logger,
    private readonly metrics: Metrics,
    private readonly maxBufferedBytes: number,
    /** Where the connection leaves a conversation's room when its subscription ends. */
    private readonly rooms: { leave(conversationId: string, subscriber: Subscriber): void },
    /** The TCP socket under `socket` (the upgraded request's), corked per tick; null in unit tests that have none. */
    private readonly tcp: Socket | null = null,
  ) {}

  get userId(): string {
    return this.identity.userId;
  }

  /** A child logger with the connection and user ids, made on first use (idle sockets never log). */
  get log(): Logger {
    return (this.childLog ??= this.parentLog.child({ connId: this.id, userId: this.identity.userId }));
  }
  private childLog: Logger | null = null;

  deliver(conversationId: string, event: Delivery): void {
    if (this.backlog) {
      if (this.backlog.length >= MAX_BACKLOG) {
        this.metrics.slowConsumers.inc();
        return this.close('SLOW_CONSUMER');
      }
      this.backlog.push([conversationId, event]);
      return;
    }
    this.apply(conversationId, event);
  }

  /** Events read from the database while catching up, in seq order, under the same rule. */
  replay(conversationId: string, events: LoadedEvent[]): void {
    for (const event of events) this.apply(conversationId, { seq: event.seq, data: event.frame, access: event.access });
  }

  /** The delivery rule: see the class comment. */
  private apply(conversationId: string, event: Delivery): void {
    const last = this.lastSent.get(conversationId);
    if (last === undefined || event.seq <= last) return;
    this.lastSent.set(conversationId, event.seq);
    this.sendRaw(event.data);
    const access = event.access;
    if (access && (access.kind === 'closed' || access.userId === this.userId)) this.unsubscribe(conversationId);
  }

  signal(conversationId: string, frame: FrameData): void {
    if (this.lastSent.has(conversationId)) this.sendRaw(frame);
  }

  /** Runs catch-ups one after another: two replays must never interleave on one socket. */
  serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Conversation → when this socket's current typing started; allocated on first use. */
  private typing: Map<string, number> | null = null;

  typingSince(conversationId: string): number | undefined {
    return this.typing?.get(conversationId);
  }

  setTyping(conversationId: string, since: number | undefined): void {
    if (since === undefined) this.typing?.delete(conversationId);
    else (this.typing ??= new Map()).set(conversationId, since);
  }

  /** Conversations this socket is shown typing in. */
  typingIn(): string[] {
    return this.typing ? [...this.typing.keys()] : [];
  }

  /** Stops delivering a conversation (the user left or was removed, or it was deleted). */
  unsubscribe(conversationId: string): void {
    this.lastSent.delete(conversationId);
    this.typing?.delete(conversationId);
    this.rooms.leave(conversationId, this);
  }

  startCatchUp(): void {
    this.backlog ??= [];
  }

  endCatchUp(): void {
    const backlog = this.backlog;
    this.backlog = null;
    if (backlog) for (const [conversationId, event] of backlog) this.apply(conversationId, event);
  }

  /**
   * Frames sent in one tick leave in one write: the first corks the TCP socket and a
   * nextTick uncorks it, so a NOTIFY payload carrying several events of a conversation, or a
   * resume's replay, costs the socket one system call instead of one per frame (the write
   * call is most of an instance's CPU per delivery: docs/benchmarks.md, "Writes per socket").
   * The slow-consumer bound is checked once the tick's frames reach the socket, where they
   * are what the peer has not read yet, not while they are gathered.
   */
  sendRaw(data: FrameData, onWritten?: (error?: Error) => void): void {
    if (this.closed) return onWritten?.(new Error('closed'));
    if (this.tcp && !this.corked) {
      this.corked = true;
      this.tcp.cork();
      process.nextTick(this.uncork);
    }
    this.socket.send(data, { binary: false }, onWritten);
    this.metrics.framesOut.inc();
    if (!this.tcp) this.checkBuffered();
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.tcp!.uncork();
    this.checkBuffered();
  };

  private checkBuffered(): void {
    if (!this.closed && this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.metrics.slowConsumers.inc();
      this.close('SLOW_CONSUMER');
    }
  }

  /** Resolves when everything queued so far has been handed to the OS. */
  flushed(): Promise<void> {
    if (this.closed || this.socket.bufferedAmount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const poll = () => (this.closed || this.socket.bufferedAmount === 0 ? resolve() : setTimeout(poll, 2));
      poll();
    });
  }

  ack(id: string, result: unknown): void {
    const frame: AckFrame = { type: 'ack', id, result };
    this.sendRaw(encodeFrame(frame));
  }

  fail(id: string | null, error: AppError): void {
    const frame: ErrorFrame = { type: 'error', id, ...error.toBody() };
    this.metrics.errorsSent.inc({ code: error.code, transport: 'ws' });
    this.sendRaw(encodeFrame(frame));
  }

  /** Ends the connection with the catalog's close code for this error. */
  close(code: ErrorCode, reason: string = ERRORS[code].message): void {
    if (this.closed) return;
    this.closed = true;
    this.clearExpiry();
    const closeCode = ERRORS[code].close ?? 1011;
    this.metrics.closes.inc({ code: String(closeCode) });
    // Close reasons are limited to 123 bytes.
    this.socket.close(closeCode, Buffer.from(`${code}: ${reason}`).subarray(0, 123).toString());
    // A peer that does not answer the close handshake is dropped.
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }

  /** Ends the session when its token expires, unless auth.refresh moves the deadline. */
  scheduleExpiry(expiresAt: number | null, toleranceSec: number): void {
    this.clearExpiry();
    if (expiresAt === null) return;
    const ms = (expiresAt + toleranceSec) * 1000 - Date.now();
    // setTimeout waits at most ~24.8 days: longer sessions re-arm the timer when it fires.
    const wait = Math.min(Math.max(0, ms), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => (wait < ms ? this.scheduleExpiry(expiresAt, toleranceSec) : this.close('SESSION_EXPIRED')), wait);
    this.expiryTimer.unref();
  }

  clearExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }
}
