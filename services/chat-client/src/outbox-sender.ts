/**
 * Sends outbox items and settles them: an ack (or our own message.created) removes
 * the item and resolves its `done`; a non-retryable error marks it failed and rejects
 * `done`; a retryable one (RATE_LIMITED, UNAVAILABLE, TIMEOUT, a lost connection)
 * leaves it pending for the next flush, with the same clientMsgId.
 */
import type { Message, SendResult } from '@chat/protocol';
import { ChatError } from './errors.ts';
import { randomId } from './ids.ts';
import type { Outbox, OutboxItem } from './outbox.ts';

export interface SendInput {
  conversationId: string;
  body: string;
  replyToId?: string | null;
  attachmentIds?: string[];
  /** The id to send under; default a fresh UUID. An encrypted message sets it, because its sealed envelope names it. */
  clientMsgId?: string;
}

interface Waiter {
  promise: Promise<SendResult>;
  resolve(result: SendResult): void;
  reject(error: ChatError): void;
}

export interface FlushOptions {
  /** Await each send before the next (HTTP); otherwise pipeline them (a resumed socket keeps their order). */
  sequential: boolean;
}

export class OutboxSender {
  private readonly waiters = new Map<string, Waiter>();
  private readonly inFlight = new Set<string>();

  constructor(
    readonly store: Outbox,
    private readonly onChange: () => void,
  ) {}

  add(input: SendInput): { clientMsgId: string; done: Promise<SendResult> } {
    const item: OutboxItem = {
      clientMsgId: input.clientMsgId ?? randomId(),
      conversationId: input.conversationId,
      body: input.body,
      replyToId: input.replyToId ?? null,
      attachmentIds: input.attachmentIds ?? [],
      createdAt: new Date().toISOString(),
      status: 'pending',
    };
    this.store.add(item);
    const done = this.waiter(item.clientMsgId).promise;
    this.onChange();
    return { clientMsgId: item.clientMsgId, done };
  }

  /**
   * Sends every pending item not already in flight, in order. Resolves when all have
   * settled, with the delay a retryable server refusal asked for (or null).
   */
  async flush(send: (item: OutboxItem) => Promise<SendResult>, options: FlushOptions): Promise<{ retryAfterMs: number | null }> {
    let retryAfterMs: number | null = null;
    const items = this.store.list().filter((i) => i.status === 'pending' && !this.inFlight.has(i.clientMsgId));
    const one = async (item: OutboxItem): Promise<boolean> => {
      this.inFlight.add(item.clientMsgId);
      try {
        this.succeed(item.clientMsgId, await send(item));
        return true;
      } catch (thrown) {
        const error = ChatError.from(thrown);
        this.fail(item.clientMsgId, error);
        if (error.retryable && isServerRefusal(error)) {
          const wait = error.retryAfterMs ?? 1000;
          retryAfterMs = retryAfterMs === null ? wait : Math.min(retryAfterMs, wait);
        }
        return !error.retryable;
      } finally {
        this.inFlight.delete(item.clientMsgId);
      }
    };
    if (options.sequential) {
      // Stop at the first retryable failure: the rest would likely fail too, and order is kept.
      for (const item of items) if (!(await one(item))) break;
    } else {
      await Promise.all(items.map(one));
    }
    return { retryAfterMs };
  }

  /** Our own message arrived as an event: its send went through even if the ack was lost. */
  confirm(message: Message): void {
    if (!this.store.get(message.clientMsgId)) return;
    this.succeed(message.clientMsgId, { message, duplicate: false });
  }

  /** Makes a failed item pending again; resolves when it is sent. */
  retry(clientMsgId: string): Promise<SendResult> {
    const item = this.store.get(clientMsgId);
    if (!item) return Promise.reject(new ChatError('NOT_FOUND', 'No such outbox item.'));
    this.store.patch(clientMsgId, { status: 'pending', error: undefined });
    const waiter = this.waiter(clientMsgId);
    this.onChange();
    return waiter.promise;
  }

  /** Drops an item; its `done` rejects with DISCARDED. Returns false when there was none. */
  discard(clientMsgId: string): boolean {
    const removed = this.store.remove(clientMsgId);
    const waiter = this.waiters.get(clientMsgId);
    this.waiters.delete(clientMsgId);
    waiter?.reject(new ChatError('DISCARDED'));
    if (removed) this.onChange();
    return removed;
  }

  private succeed(clientMsgId: string, result: SendResult): void {
    this.store.remove(clientMsgId);
    const waiter = this.waiters.get(clientMsgId);
    this.waiters.delete(clientMsgId);
    waiter?.resolve(result);
    this.onChange();
  }

  private fail(clientMsgId: string, error: ChatError): void {
    const info = { code: error.code, message: error.message };
    if (error.retryable) {
      this.store.patch(clientMsgId, { error: info });
    } else {
      if (!this.store.patch(clientMsgId, { status: 'failed', error: info })) return;
      const waiter = this.waiters.get(clientMsgId);
      this.waiters.delete(clientMsgId);
      waiter?.reject(error);
    }
    this.onChange();
  }

  private waiter(clientMsgId: string): Waiter {
    const existing = this.waiters.get(clientMsgId);
    if (existing) return existing;
    let resolve!: Waiter['resolve'];
    let reject!: Waiter['reject'];
    const promise = new Promise<SendResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may ignore `done`; a rejection nobody awaits must not be reported as unhandled.
    promise.catch(() => {});
    const waiter = { promise, resolve, reject };
    this.waiters.set(clientMsgId, waiter);
    return waiter;
  }
}

/** The server answered and asked us to come back later (as opposed to no answer at all). */
function isServerRefusal(error: ChatError): boolean {
  return error.code === 'RATE_LIMITED' || error.code === 'UNAVAILABLE' || error.code === 'INTERNAL' || error.code === 'SHUTTING_DOWN';
}
