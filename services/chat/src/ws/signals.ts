/**
 * Signals from the bus: room-wide frames (typing, presence) and per-user controls
 * published with membership changes, which (un)subscribe that user's sockets here.
 */
import type { Sql } from 'postgres';
import type { Signal } from '../fanout/bus.ts';
import type { Registry } from './registry.ts';
import { subscribeFrom, type CatchUpDeps } from './resume.ts';

interface ControlFrame {
  type: string;
  conversationId: string;
  seq?: number;
}

export class SignalRouter {
  constructor(
    private readonly registry: Registry,
    private readonly deps: CatchUpDeps,
  ) {}

  /**
   * After a listener outage: re-apply the membership controls committed since it went
   * down (with a margin for clock skew between this instance and the database).
   */
  async recover(downSince: Date, sql: Sql): Promise<void> {
    const since = new Date(downSince.getTime() - 5000);
    const rows = await sql<{ type: string; conversation_id: string; seq: number; data: { userId?: string; member?: { userId: string } } }[]>`
      select type, conversation_id, seq, data from events
      where type in ('member.added', 'member.removed', 'conversation.deleted') and created_at >= ${since}
      order by created_at, seq`;
    for (const row of rows) {
      const frame = JSON.stringify({ type: row.type, conversationId: row.conversation_id, seq: row.seq, ...row.data });
      const users =
        row.type === 'conversation.deleted'
          ? [...this.registry.all()].filter((c) => c.lastSent.has(row.conversation_id)).map((c) => c.userId)
          : [row.data.member?.userId ?? row.data.userId];
      for (const userId of new Set(users)) if (userId) this.onSignal({ target: `u:${userId}`, exclude: null, frame });
    }
  }

  onSignal(signal: Signal): void {
    const id = signal.target.slice(2);
    if (signal.target.startsWith('c:')) return this.deps.rooms.broadcast(id, signal.frame, signal.exclude);
    const connections = this.registry.ofUser(id);
    if (connections.size === 0) return;
    const control = JSON.parse(signal.frame) as ControlFrame;
    for (const connection of connections) {
      switch (control.type) {
        case 'member.added':
          void subscribeFrom(connection, control.conversationId, control.seq!, this.deps).catch((error: unknown) =>
            connection.log.warn({ err: error }, 'subscribing to a new conversation failed'),
          );
          break;
        case 'member.removed':
        case 'conversation.deleted': {
          // Removed: the socket gets the event that says so, and nothing after it.
          const last = connection.lastSent.get(control.conversationId);
          if (last === undefined) break;
          if (last < control.seq!) connection.sendRaw(signal.frame);
          connection.unsubscribe(control.conversationId);
          this.deps.rooms.leave(control.conversationId, connection);
          break;
        }
        default:
          connection.sendRaw(signal.frame);
      }
    }
  }
}
