/**
 * The outbox relay of the NATS bus. Every instance runs one; a pass takes a PostgreSQL
 * advisory lock for its transaction, so one relays at a time and the others skip. A pass
 * publishes the outbox rows older than `afterMs` (their writer died, or could not reach
 * NATS) and deletes them once JetStream acknowledged. Passes run every `afterMs / 2`, so an
 * event whose writer died after commit is published at most about `1.5 × afterMs` after its
 * commit (plus one pass's work), as long as one instance runs. A relay killed mid-pass
 * leaves its rows, and its lock ends with its connection.
 */
import type { Database } from '@chat/db';
import type { Logger } from 'pino';
import { relayOutbox, type RelayBatch } from '../db/bus-outbox.ts';
import type { NatsBusMetrics } from './nats-bus.ts';

/** Rows per pass; a full pass runs the next one at once. */
const RELAY_LIMIT = 1000;

export class OutboxRelay {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly afterMs: number,
    private readonly log: Logger,
    private readonly publish: (batch: RelayBatch) => Promise<void>,
    private readonly metrics?: Pick<NatsBusMetrics, 'relayed'>,
    /** False while NATS is unreachable: a pass would only hold its transaction until the publish times out. */
    private readonly canPublish: () => boolean = () => true,
  ) {}

  start(): void {
    this.schedule(this.interval());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Half the bound, with ±10 % jitter so the fleet's passes spread out. */
  private interval(): number {
    return (this.afterMs / 2) * (0.9 + Math.random() * 0.2);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.pass().finally(() => (this.running = null));
    }, delay);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    let full = false;
    if (!this.canPublish()) return this.schedule(this.interval());
    try {
      const batch = await relayOutbox(this.db, this.afterMs, RELAY_LIMIT, this.publish);
      if (batch && (batch.events.length > 0 || batch.signals.length > 0)) {
        const maxAge = Math.max(0, ...batch.events.map((e) => e.ageMs), ...batch.signals.map((s) => s.ageMs)) / 1000;
        this.metrics?.relayed(batch.events.length, batch.signals.length, maxAge);
        this.log.info({ events: batch.events.length, signals: batch.signals.length, maxAgeSeconds: maxAge }, 'outbox relay published rows their writer did not');
        full = batch.events.length >= RELAY_LIMIT || batch.signals.length >= RELAY_LIMIT;
      }
    } catch (error) {
      if (!this.stopped) this.log.warn({ err: error }, 'outbox relay pass failed; retrying');
    }
    this.schedule(full ? 0 : this.interval());
  }

  /** Waits for a pass in progress (shutdown). */
  async settled(): Promise<void> {
    await this.running;
  }
}
