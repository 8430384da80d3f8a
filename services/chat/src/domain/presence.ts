/**
 * Presence across instances: a row per (instance, user) with open sockets, refreshed
 * by a heartbeat, so the users of an instance that died expire on their own. Changes
 * go as signals to the conversations the user is in: only people who share a
 * conversation with them ever see them.
 */
import type { Database } from '@chat/db';
import type { Logger } from 'pino';
import * as sessions from '../db/presence.ts';
import type { Bus } from '../fanout/bus.ts';

export interface PresenceOptions {
  instanceId: string;
  /** A session row lives this long without a refresh. */
  ttlSec: number;
  heartbeatMs: number;
}

export class Presence {
  private timer: NodeJS.Timeout | null = null;
  /** Users with at least one subscribed socket on this instance. */
  private readonly local = new Set<string>();
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly options: PresenceOptions,
  ) {}

  /** A socket of the user finished its first resume. */
  async attach(userId: string, conversationIds: string[]): Promise<void> {
    if (this.stopped || this.local.has(userId)) return;
    this.local.add(userId);
    await this.online(userId, conversationIds);
  }

  /** A socket of the user closed; `remaining` of theirs are still open here. */
  async detach(userId: string, conversationIds: string[], remaining: number): Promise<void> {
    if (this.stopped || remaining > 0 || !this.local.delete(userId)) return;
    await this.offline(userId, conversationIds);
  }

  /** The user's first socket on this instance is subscribed to these conversations. */
  private async online(userId: string, conversationIds: string[]): Promise<void> {
    const elsewhere = await sessions.openSession(this.db, this.options.instanceId, userId, this.options.ttlSec);
    if (!elsewhere) await this.announce(userId, conversationIds, true, null);
  }

  /** The user's last socket on this instance closed. */
  private async offline(userId: string, conversationIds: string[]): Promise<void> {
    if (await sessions.closeSession(this.db, this.options.instanceId, userId)) return;
    const lastSeenAt = await sessions.markLastSeen(this.db, userId);
    await this.announce(userId, conversationIds, false, lastSeenAt);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick().catch((error: unknown) => this.log.warn({ err: error }, 'presence heartbeat failed')), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Refresh our rows; expire everyone whose instance stopped refreshing (one instance wins each row). */
  async tick(): Promise<void> {
    await sessions.refreshSessions(this.db, this.options.instanceId, this.options.ttlSec);
    for (const gone of await sessions.expireSessions(this.db)) {
      const lastSeenAt = await sessions.markLastSeen(this.db, gone.userId);
      await this.announce(gone.userId, gone.conversationIds, false, lastSeenAt);
    }
  }

  /** Graceful stop: our users reconnect elsewhere, which re-creates their rows there. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await sessions.closeInstanceSessions(this.db, this.options.instanceId).catch(() => {});
  }

  private async announce(userId: string, conversationIds: string[], online: boolean, lastSeenAt: string | null): Promise<void> {
    await this.bus.signal(
      conversationIds.map((conversationId) => ({
        target: `c:${conversationId}`,
        exclude: userId,
        frame: JSON.stringify({ type: 'presence', conversationId, userId, online, lastSeenAt }),
      })),
    );
  }
}
