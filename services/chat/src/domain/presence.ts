/**
 * Presence across instances: a row per (instance, user) with open sockets, refreshed
 * by a heartbeat, so the users of an instance that died expire on their own. Changes
 * go as signals to the conversations the user is in: only people who share a
 * conversation with them ever see them.
 */
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
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
    private readonly sql: Sql,
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
    const [row] = await this.sql<{ others: boolean }[]>`
      with upsert as (
        insert into presence_sessions (instance_id, user_id, expires_at)
        values (${this.options.instanceId}, ${userId}, now() + make_interval(secs => ${this.options.ttlSec}))
        on conflict (instance_id, user_id) do update set expires_at = excluded.expires_at
      )
      select exists(select 1 from presence_sessions where user_id = ${userId}
                    and instance_id <> ${this.options.instanceId} and expires_at > now()) as others`;
    if (!row?.others) await this.announce(userId, conversationIds, true, null);
  }

  /** The user's last socket on this instance closed. */
  private async offline(userId: string, conversationIds: string[]): Promise<void> {
    const [row] = await this.sql<{ others: boolean; now: Date }[]>`
      with gone as (delete from presence_sessions where instance_id = ${this.options.instanceId} and user_id = ${userId})
      select exists(select 1 from presence_sessions where user_id = ${userId}
                    and instance_id <> ${this.options.instanceId} and expires_at > now()) as others, now() as now`;
    if (row?.others) return;
    await this.sql`update users set last_seen_at = now() where id = ${userId}`;
    await this.announce(userId, conversationIds, false, row!.now.toISOString());
  }

  start(): void {
    this.timer = setInterval(() => void this.tick().catch((error: unknown) => this.log.warn({ err: error }, 'presence heartbeat failed')), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Refresh our rows; expire everyone whose instance stopped refreshing (one instance wins each row). */
  async tick(): Promise<void> {
    await this.sql`
      update presence_sessions set expires_at = now() + make_interval(secs => ${this.options.ttlSec})
      where instance_id = ${this.options.instanceId}`;
    const expired = await this.sql<{ user_id: string; conversation_ids: string[] }[]>`
      with gone as (delete from presence_sessions where expires_at < now() returning user_id)
      select g.user_id, array(select conversation_id from members where user_id = g.user_id) as conversation_ids
      from (select distinct user_id from gone) g
      where not exists (select 1 from presence_sessions p where p.user_id = g.user_id and p.expires_at > now())`;
    for (const row of expired) {
      await this.sql`update users set last_seen_at = now() where id = ${row.user_id}`;
      await this.announce(row.user_id, row.conversation_ids, false, new Date().toISOString());
    }
  }

  /** Graceful stop: our users reconnect elsewhere, which re-creates their rows there. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sql`delete from presence_sessions where instance_id = ${this.options.instanceId}`.catch(() => {});
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
