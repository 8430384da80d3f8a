/**
 * A protocol client that behaves like the real SDK under faults: it keeps the last seq it
 * saw per conversation, reconnects (to the next instance in its list) when its socket
 * drops, resumes with those seqs, and retries a send whose outcome it does not know with
 * the same clientMsgId (idempotent by design). It records every seq frame it receives, in
 * arrival order, so the checker can rebuild exactly what this member saw.
 */
import { WebSocket } from 'ws';

export interface Frame {
  type: string;
  id?: string | null;
  [key: string]: any;
}

export interface SendRecord {
  client: string;
  clientMsgId: string;
  conversationId: string;
  body: string;
  attempts: number;
  /** Error codes received, or 'closed' when the socket dropped before the answer. */
  errors: string[];
  status: 'pending' | 'acked' | 'failed';
  message?: { id: string; seq: number; conversationId: string; senderId: string; clientMsgId: string };
  /** The ack said `duplicate: true` (an earlier attempt had committed). */
  duplicateAck?: boolean;
  startedAt: number;
  settledAt?: number;
  /** The instance whose socket carried the ack. */
  ackedVia?: string;
}

export class ClosedError extends Error {
  constructor(readonly code: number | null) {
    super(`socket closed (${code ?? 'none'})`);
  }
}

const RETRYABLE_DELAY_CAP_MS = 1000;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ClientOptions {
  /** Overall time allowed to get back to a resumed socket after a drop. */
  reconnectDeadlineMs?: number;
  /** Time allowed for one send, retries included. */
  sendDeadlineMs?: number;
}

export class ResilientClient {
  /** Conversation → every seq-carrying frame received, in arrival order, over all connections. */
  readonly views = new Map<string, Frame[]>();
  /** Where this member's view starts (the seq it first resumed from). */
  readonly startSeq = new Map<string, number>();
  readonly lastSeq = new Map<string, number>();
  readonly closes: { url: string; code: number; at: number }[] = [];
  readonly resumes: { url: string; at: number; replayed: number }[] = [];
  readonly connectFailures: { url: string; reason: string; at: number }[] = [];
  readonly sends: SendRecord[] = [];
  readonly errorFrames: Frame[] = [];
  socket: WebSocket | null = null;
  url: string | null = null;
  fatal: Error | null = null;
  private established = false;
  private readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private pending = new Map<string, { resolve: (frame: Frame) => void; reject: (error: Error) => void }>();
  private counter = 0;
  private msgCounter = 0;
  private stopped = false;
  private index: number;

  constructor(
    readonly name: string,
    private readonly token: string,
    readonly urls: string[],
    conversations: Record<string, number>,
    preferred = 0,
    private readonly options: ClientOptions = {},
  ) {
    this.index = preferred % urls.length;
    for (const [id, seq] of Object.entries(conversations)) {
      this.startSeq.set(id, seq);
      this.lastSeq.set(id, seq);
      this.views.set(id, []);
    }
  }

  get ready(): boolean {
    return this.established && this.socket?.readyState === WebSocket.OPEN;
  }

  start(): Promise<void> {
    return this.connect(this.index);
  }

  /** Tries each instance in turn, starting at `first`, until one accepts and the resume is acknowledged. */
  private async connect(first: number): Promise<void> {
    const deadline = Date.now() + (this.options.reconnectDeadlineMs ?? 20_000);
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return;
      const index = (first + attempt) % this.urls.length;
      const url = this.urls[index]!;
      try {
        await this.open(url);
        this.index = index;
        return;
      } catch (error) {
        this.connectFailures.push({ url, reason: (error as Error).message, at: Date.now() });
      }
      if (Date.now() > deadline) {
        const error = new Error(`${this.name}: no instance accepted a resume: ${JSON.stringify(this.connectFailures.slice(-3))}`);
        this.fatal = error;
        for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
        throw error;
      }
      // Client backoff between rounds over the instance list (behaviour, not a test wait).
      if ((attempt + 1) % this.urls.length === 0) await delay(Math.min(500, 25 * (attempt + 1)));
    }
  }

  private open(url: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` } });
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        if (this.socket === socket) this.socket = null;
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.terminate();
        reject(error);
      };
      socket.once('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => fail(new Error(`HTTP ${response.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`)));
        response.on('error', (error) => fail(error));
      });
      socket.on('error', (error) => {
        if (!this.established || this.socket !== socket) fail(error);
      });
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse(data.toString()) as Frame;
        this.onFrame(frame);
        if (frame.type === 'ready' && !settled) {
          const conversations = Object.fromEntries(this.lastSeq);
          this.request({ type: 'resume', conversations }).then(
            (reply) => {
              if (reply.type !== 'ack') return fail(new Error(`resume refused: ${reply.code}`));
              settled = true;
              this.established = true;
              this.url = url;
              this.resumes.push({ url, at: Date.now(), replayed: reply.result.replayed });
              // Conversations it did not name start at their current seq (nothing is replayed for them).
              for (const c of reply.result.conversations as { id: string; lastSeq: number }[]) {
                if (!this.views.has(c.id)) {
                  this.views.set(c.id, []);
                  this.startSeq.set(c.id, c.lastSeq);
                  this.lastSeq.set(c.id, c.lastSeq);
                }
              }
              for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
              resolve();
            },
            (error: Error) => fail(error),
          );
        }
      });
      socket.once('open', () => {
        this.socket = socket;
        this.established = false;
      });
      socket.on('close', (code) => {
        const wasEstablished = this.established && this.socket === socket;
        for (const request of this.pending.values()) request.reject(new ClosedError(code));
        this.pending.clear();
        if (this.socket === socket) {
          this.socket = null;
          this.established = false;
        }
        if (!wasEstablished) return fail(new ClosedError(code));
        this.closes.push({ url, code, at: Date.now() });
        if (!this.stopped) void this.connect(this.index + 1).catch(() => {});
      });
    });
  }

  private onFrame(frame: Frame): void {
    if ((frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'string') {
      const request = this.pending.get(frame.id);
      if (request) {
        this.pending.delete(frame.id);
        request.resolve(frame);
        return;
      }
    }
    if (typeof frame.seq === 'number' && typeof frame.conversationId === 'string') {
      let view = this.views.get(frame.conversationId);
      if (!view) {
        // Streamed from this event on (the user was added while connected).
        view = [];
        this.views.set(frame.conversationId, view);
        this.startSeq.set(frame.conversationId, frame.seq - 1);
      }
      view.push(frame);
      if (frame.seq > (this.lastSeq.get(frame.conversationId) ?? 0)) this.lastSeq.set(frame.conversationId, frame.seq);
    }
  }

  /** One request on the current socket: its ack or error frame, or ClosedError. */
  request(frame: Record<string, unknown>): Promise<Frame> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new ClosedError(null));
    const id = `${this.name}-r${++this.counter}`;
    return new Promise<Frame>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ ...frame, id }), (error) => {
        if (error && this.pending.delete(id)) reject(new ClosedError(null));
      });
    });
  }

  whenReady(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Sends until acknowledged: retryable errors and dropped sockets are retried with the same clientMsgId. */
  async send(conversationId: string, body: string): Promise<SendRecord> {
    const record: SendRecord = {
      client: this.name,
      clientMsgId: `${this.name}-m${++this.msgCounter}`,
      conversationId,
      body,
      attempts: 0,
      errors: [],
      status: 'pending',
      startedAt: Date.now(),
    };
    this.sends.push(record);
    const deadline = Date.now() + (this.options.sendDeadlineMs ?? 30_000);
    while (Date.now() < deadline) {
      try {
        await this.whenReady();
      } catch {
        break;
      }
      record.attempts++;
      let reply: Frame;
      try {
        reply = await this.request({ type: 'message.send', conversationId, clientMsgId: record.clientMsgId, body });
      } catch {
        record.errors.push('closed');
        continue; // outcome unknown: the retry after the reconnect tells
      }
      if (reply.type === 'ack') {
        record.status = 'acked';
        record.message = reply.result.message;
        record.duplicateAck = reply.result.duplicate;
        record.settledAt = Date.now();
        record.ackedVia = this.url ?? undefined;
        return record;
      }
      record.errors.push(reply.code);
      this.errorFrames.push(reply);
      if (!reply.retryable) break;
      await delay(Math.min(RETRYABLE_DELAY_CAP_MS, Number(reply.details?.retryAfterMs ?? 50)));
    }
    record.status = 'failed';
    record.settledAt = Date.now();
    return record;
  }

  acked(): SendRecord[] {
    return this.sends.filter((s) => s.status === 'acked');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1000);
    });
  }
}

export interface LoadOptions {
  perClient: number;
  /** Sends in flight per client. */
  concurrency: number;
  /** Pause between the starts of two sends of one client (load shaping). */
  intervalMs: number;
  conversation: (client: ResilientClient, index: number) => string;
  body?: (client: ResilientClient, index: number) => string;
  /** Stop starting new sends once this returns true (perClient stays the upper bound). */
  until?: () => boolean;
}

/** Every client sends `perClient` messages; resolves when all have settled (acked or failed). */
export async function runLoad(clients: ResilientClient[], options: LoadOptions): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
      const inFlight = new Set<Promise<unknown>>();
      for (let i = 0; i < options.perClient; i++) {
        if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
        if (options.until?.()) break;
        const body = options.body?.(client, i) ?? `${client.name} message ${i}`;
        const sending = client.send(options.conversation(client, i), body).finally(() => inFlight.delete(sending));
        inFlight.add(sending);
        if (options.intervalMs > 0) await delay(options.intervalMs);
      }
      await Promise.all(inFlight);
    }),
  );
}

export function totals(clients: ResilientClient[]) {
  const sends = clients.flatMap((c) => c.sends);
  const errorCodes: Record<string, number> = {};
  for (const send of sends) for (const code of send.errors) errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  return {
    sends: sends.length,
    acked: sends.filter((s) => s.status === 'acked').length,
    failed: sends.filter((s) => s.status === 'failed').length,
    retried: sends.filter((s) => s.attempts > 1).length,
    duplicateAcks: sends.filter((s) => s.duplicateAck).length,
    errorCodes,
  };
}
