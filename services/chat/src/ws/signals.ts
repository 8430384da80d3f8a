/**
 * Signals from the bus: room-wide frames (typing, presence) and per-user frames. A
 * `member.added` control subscribes that user's sockets here to the new conversation;
 * the end of a membership needs no control: it is an event of the stream itself and ends
 * the subscription where it is delivered (ws/connection.ts).
 */
import type { Signal } from '../fanout/bus.ts';
import type { Registry } from './registry.ts';
import { subscribeFrom, type CatchUpDeps } from './resume.ts';

export class SignalRouter {
  constructor(
    private readonly registry: Registry,
    private readonly deps: CatchUpDeps,
  ) {}

  /**
   * After a listener outage: re-apply the member.added controls committed since it went
   * down (with a margin for clock skew between this instance and the database).
   */
  async recover(downSince: Date): Promise<void> {
    const since = new Date(downSince.getTime() - 5000);
    for (const added of await this.deps.chat.membersAddedSince(since)) this.subscribe(added.userId, added.conversationId);
  }

  onSignal(signal: Signal): void {
    const id = signal.target.slice(2);
    if (signal.target.startsWith('c:')) return this.deps.rooms.broadcast(id, signal.frame, signal.exclude);
    if (this.registry.ofUser(id).size === 0) return;
    const control = parseControl(signal.frame);
    if (control?.type === 'member.added') return this.subscribe(id, control.conversationId);
    for (const connection of this.registry.ofUser(id)) connection.sendRaw(signal.frame);
  }

  private subscribe(userId: string, conversationId: string): void {
    for (const connection of this.registry.ofUser(userId)) {
      void subscribeFrom(connection, conversationId, this.deps).catch((error: unknown) =>
        connection.log.warn({ err: error }, 'subscribing to a new conversation failed'),
      );
    }
  }
}

function parseControl(frame: string): { type: string; conversationId: string } | null {
  try {
    const value = JSON.parse(frame) as { type?: unknown; conversationId?: unknown };
    return typeof value.type === 'string' && typeof value.conversationId === 'string' ? { type: value.type, conversationId: value.conversationId } : null;
  } catch {
    return null;
  }
}
