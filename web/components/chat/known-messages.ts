/**
 * The messages this page learned outside history pages (send acks, live events), per
 * conversation, kept so a history page that was answered before them cannot hide them
 * (cache.ts: applyEventToKnown, mergeHistory). A small external store for useSyncExternalStore.
 */
import type { ConversationEvent, Message } from '@chat/protocol';
import { applyEventToKnown } from './cache';

type Listener = () => void;
const EMPTY: readonly Message[] = Object.freeze([]);

export class KnownMessages {
  private readonly byConversation = new Map<string, readonly Message[]>();
  private readonly listeners = new Set<Listener>();

  apply(event: ConversationEvent): void {
    const current = this.get(event.conversationId);
    if (event.type === 'conversation.deleted') {
      if (this.byConversation.delete(event.conversationId)) this.notify();
      return;
    }
    const next = applyEventToKnown(current, event);
    if (next === current) return;
    this.byConversation.set(event.conversationId, next);
    this.notify();
  }

  /** A stable array between changes. */
  get(conversationId: string): readonly Message[] {
    return this.byConversation.get(conversationId) ?? EMPTY;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
