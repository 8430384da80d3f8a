/**
 * Who is typing where, from `typing` signals. An indicator disappears on `stop` or
 * when its `expiresInMs` runs out without a new `start` (the typist may have vanished).
 */
import type { TypingSignal } from '@chat/protocol';

type Listener = () => void;

export class TypingStore {
  /** conversationId → userId → expiry (epoch ms). */
  private readonly typists = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<Listener>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private snapshots = new Map<string, readonly string[]>();

  constructor(private readonly now: () => number = Date.now) {}

  apply(signal: TypingSignal): void {
    let users = this.typists.get(signal.conversationId);
    if (signal.state === 'start' && signal.expiresInMs > 0) {
      if (!users) this.typists.set(signal.conversationId, (users = new Map()));
      users.set(signal.userId, this.now() + signal.expiresInMs);
    } else {
      if (!users?.delete(signal.userId)) return;
      if (users.size === 0) this.typists.delete(signal.conversationId);
    }
    this.changed(signal.conversationId);
  }

  /** The user stopped typing because their message arrived. */
  clear(conversationId: string, userId: string): void {
    const users = this.typists.get(conversationId);
    if (!users?.delete(userId)) return;
    if (users.size === 0) this.typists.delete(conversationId);
    this.changed(conversationId);
  }

  /** User ids typing in a conversation (a stable array between changes, for useSyncExternalStore). */
  typing(conversationId: string): readonly string[] {
    return this.snapshots.get(conversationId) ?? EMPTY;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
  }

  private changed(conversationId: string): void {
    const users = this.typists.get(conversationId);
    this.snapshots.set(conversationId, users ? [...users.keys()].sort() : EMPTY);
    this.schedule();
    for (const listener of [...this.listeners]) listener();
  }

  /** One timer, for the earliest expiry. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let earliest = Infinity;
    for (const users of this.typists.values()) for (const expiry of users.values()) earliest = Math.min(earliest, expiry);
    if (earliest === Infinity) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, earliest - this.now()) + 10);
  }

  private expire(): void {
    const now = this.now();
    const changed: string[] = [];
    for (const [conversationId, users] of this.typists) {
      for (const [userId, expiry] of users) if (expiry <= now) users.delete(userId);
      if (users.size === 0) this.typists.delete(conversationId);
      changed.push(conversationId);
    }
    for (const id of changed) {
      const users = this.typists.get(id);
      this.snapshots.set(id, users ? [...users.keys()].sort() : EMPTY);
    }
    this.schedule();
    for (const listener of [...this.listeners]) listener();
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
