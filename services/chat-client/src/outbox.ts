/**
 * Messages waiting to be sent, persisted in storage so a reload or a new client
 * instance sends them later with the same clientMsgId (the server stores each once).
 *
 * Items live under one key per site and user: `chat.outbox.v1:<host>:<userId>`. Until
 * the user is known (the socket's `ready` or the `userId` option), they wait under
 * `…:_` and move to the user's key once it is known. Every change re-reads the key
 * first, so two tabs of one user do not overwrite each other's items.
 */
import { MemoryStorage, type StorageLike } from './storage.ts';

export type OutboxStatus = 'pending' | 'failed';

export interface OutboxItem {
  clientMsgId: string;
  conversationId: string;
  body: string;
  replyToId: string | null;
  attachmentIds: string[];
  /** ISO 8601; items are sent in this order. */
  createdAt: string;
  status: OutboxStatus;
  /** Why the item failed (status 'failed'), or the last retryable error while pending. */
  error?: { code: string; message: string };
}

const ANONYMOUS = '_';

export class Outbox {
  private userId: string | null = null;

  constructor(
    private storage: StorageLike,
    private readonly site: string,
    userId: string | null = null,
  ) {
    if (userId !== null) this.setUser(userId);
  }

  private key(userId: string | null = this.userId): string {
    return `chat.outbox.v1:${this.site}:${userId ?? ANONYMOUS}`;
  }

  /** Switches to the user's key and moves anything queued before the user was known into it. */
  setUser(userId: string): void {
    if (this.userId === userId) return;
    this.userId = userId;
    const anonymous = this.read(this.key(null));
    if (anonymous.length === 0) return;
    const mine = this.read();
    const known = new Set(mine.map((i) => i.clientMsgId));
    this.write([...mine, ...anonymous.filter((i) => !known.has(i.clientMsgId))]);
    this.storage.removeItem(this.key(null));
  }

  /** Items in send order, optionally of one conversation. */
  list(conversationId?: string): OutboxItem[] {
    const items = this.read();
    return conversationId === undefined ? items : items.filter((i) => i.conversationId === conversationId);
  }

  get(clientMsgId: string): OutboxItem | undefined {
    return this.read().find((i) => i.clientMsgId === clientMsgId);
  }

  pendingCount(): number {
    return this.read().filter((i) => i.status === 'pending').length;
  }

  add(item: OutboxItem): void {
    this.update((items) => [...items.filter((i) => i.clientMsgId !== item.clientMsgId), item]);
  }

  /** Applies a change to one item; returns false when it is no longer there. */
  patch(clientMsgId: string, change: Partial<OutboxItem>): boolean {
    let found = false;
    this.update((items) =>
      items.map((i) => {
        if (i.clientMsgId !== clientMsgId) return i;
        found = true;
        const next = { ...i, ...change };
        if ('error' in change && change.error === undefined) delete next.error;
        return next;
      }),
    );
    return found;
  }

  remove(clientMsgId: string): boolean {
    let found = false;
    this.update((items) =>
      items.filter((i) => {
        if (i.clientMsgId !== clientMsgId) return true;
        found = true;
        return false;
      }),
    );
    return found;
  }

  private update(change: (items: OutboxItem[]) => OutboxItem[]): void {
    this.write(change(this.read()));
  }

  private read(key = this.key()): OutboxItem[] {
    let raw: string | null = null;
    try {
      raw = this.storage.getItem(key);
    } catch {
      return [];
    }
    if (!raw) return [];
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (!Array.isArray(parsed)) return [];
      return (parsed as OutboxItem[])
        .filter((i) => i && typeof i.clientMsgId === 'string' && typeof i.conversationId === 'string' && typeof i.body === 'string')
        .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    } catch {
      return []; // a corrupt entry must not break the client
    }
  }

  private write(items: OutboxItem[]): void {
    try {
      if (items.length === 0) this.storage.removeItem(this.key());
      else this.storage.setItem(this.key(), JSON.stringify(items));
    } catch {
      // Quota exceeded or storage gone: keep the items in memory rather than lose them.
      this.storage = new MemoryStorage();
      if (items.length > 0) this.storage.setItem(this.key(), JSON.stringify(items));
    }
  }
}
