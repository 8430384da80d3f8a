/**
 * One WebSocket connection: authenticates with subprotocols, waits for `ready`,
 * correlates request frames with their `ack`/`error` by id (with timeouts), and
 * checks liveness. It never reconnects; the client decides what happens after
 * `onClose`, which fires exactly once per socket.
 */
import type { AckFrame, ErrorFrame, ReadyFrame } from '@chat/protocol';
import { ChatError } from './errors.ts';

/** The part of the browser WebSocket API the client uses (the `ws` package's WebSocket fits too). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export const SUBPROTOCOL = 'chat.v1';
const OPEN = 1;
/** Local close code for a heartbeat or connect timeout; shouldReconnect() is true for it. */
export const LOCAL_TIMEOUT_CLOSE = 4408;

export interface SocketClose {
  code: number;
  reason: string;
  /** Whether `ready` arrived before the socket closed. */
  wasReady: boolean;
  /** Set when this side ended the socket (a timeout). */
  error?: ChatError;
}

export interface SocketHandlers {
  onReady(ready: ReadyFrame): void;
  /** Every frame that is not `ready`, `ack` or an `error` answering a request: events and signals. */
  onFrame(frame: { type: string; [key: string]: unknown }): void;
  onClose(close: SocketClose): void;
}

export interface SocketOptions {
  url: string;
  token: string;
  WebSocket: WebSocketConstructor;
  requestTimeoutMs: number;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: ChatError): void;
  timer: ReturnType<typeof setTimeout>;
}

export class Socket {
  ready: ReadyFrame | null = null;
  private readonly ws: WebSocketLike;
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private closed = false;
  private lastFrameAt = Date.now();
  private pinging = false;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null;

  constructor(
    private readonly options: SocketOptions,
    private readonly handlers: SocketHandlers,
  ) {
    // Browsers cannot set headers on a socket: the token rides as a second subprotocol,
    // and the server answers with chat.v1 only.
    this.ws = new options.WebSocket(options.url, [SUBPROTOCOL, `bearer.${options.token}`]);
    this.ws.onmessage = (event: { data: unknown }) => this.onMessage(event.data);
    this.ws.onclose = (event: { code?: number; reason?: string }) => this.finish({ code: event.code ?? 1006, reason: event.reason ?? '' });
    // An error is always followed by close; the close carries the code.
    this.ws.onerror = () => {};
    this.connectTimer = setTimeout(
      () => this.close(LOCAL_TIMEOUT_CLOSE, 'connect timeout', new ChatError('TIMEOUT', `No ready frame within ${options.requestTimeoutMs} ms.`)),
      options.requestTimeoutMs,
    );
  }

  get isReady(): boolean {
    return this.ready !== null && !this.closed;
  }

  /** Sends a request frame (an id is added) and resolves with its ack's result. */
  request<R>(frame: { type: string; [key: string]: unknown }, timeoutMs = this.options.requestTimeoutMs): Promise<R> {
    if (this.closed || this.ws.readyState !== OPEN) return Promise.reject(new ChatError('DISCONNECTED'));
    const id = `r${++this.counter}`;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChatError('TIMEOUT', `No answer to ${frame.type} within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      try {
        this.ws.send(JSON.stringify({ ...frame, id }));
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ChatError('DISCONNECTED'));
      }
    });
  }

  /** Ends the socket now; onClose fires at once with this code, whatever the network does. */
  close(code = 1000, reason = '', error?: ChatError): void {
    if (this.closed) return;
    try {
      this.ws.close(code, reason);
    } catch {
      // already closing
    }
    this.finish({ code, reason, error });
  }

  private onMessage(data: unknown): void {
    if (this.closed) return;
    this.lastFrameAt = Date.now();
    let frame: { type?: unknown; id?: unknown; [key: string]: unknown };
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as typeof frame;
    } catch {
      return; // the server only sends JSON; ignore anything else
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    switch (frame.type) {
      case 'ready':
        return this.onReady(frame as unknown as ReadyFrame);
      case 'ack': {
        const ack = frame as unknown as AckFrame;
        const pending = this.take(ack.id);
        return pending?.resolve(ack.result);
      }
      case 'error': {
        const error = frame as unknown as ErrorFrame;
        const pending = error.id ? this.take(error.id) : undefined;
        if (pending) return pending.reject(ChatError.fromBody(error));
        return this.handlers.onFrame(frame as { type: string });
      }
      default:
        return this.handlers.onFrame(frame as { type: string });
    }
  }

  private onReady(ready: ReadyFrame): void {
    if (this.ready) return;
    this.ready = ready;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const heartbeatMs = Math.max(50, ready.heartbeatMs || 25_000);
    // Browsers never surface the server's WS pings: silence for two intervals means "ask".
    this.heartbeat = setInterval(() => this.checkAlive(heartbeatMs), Math.max(25, heartbeatMs / 2));
    this.handlers.onReady(ready);
  }

  private checkAlive(heartbeatMs: number): void {
    if (this.closed || this.pinging || Date.now() - this.lastFrameAt < 2 * heartbeatMs) return;
    this.pinging = true;
    this.request({ type: 'ping' }).then(
      () => {
        this.pinging = false;
      },
      (error: ChatError) => {
        this.pinging = false;
        if (error.code === 'TIMEOUT') this.close(LOCAL_TIMEOUT_CLOSE, 'heartbeat timeout', new ChatError('TIMEOUT', 'The server stopped answering (heartbeat).'));
      },
    );
  }

  private take(id: string): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private finish(close: Omit<SocketClose, 'wasReady'>): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws.onmessage = this.ws.onclose = null;
    this.ws.onerror = () => {};
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new ChatError('DISCONNECTED', 'The connection closed before the answer came.'));
    }
    this.handlers.onClose({ ...close, wasReady: this.ready !== null });
  }
}
