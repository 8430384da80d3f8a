/**
 * The `webhook.drain` job: one per (endpoint, conversation), enqueued by the statement
 * triggers on `messages` and `events` (migration 0010) in the writing transaction. Its job key
 * and named queue are the pair, so graphile-worker runs at most one drain of a pair at a time
 * (on any instance) and queues one more behind a running drain when an event commits meanwhile.
 *
 * The drain delivers the pair's events above its cursor strictly in seq order, in the Standard
 * Webhooks format (payloads.ts), moving the cursor after each 2xx. When the endpoint refuses an
 * event, the drain stops there, so later events wait behind it, and schedules itself again after
 * a back-off (WEBHOOK_RETRY_BASE_MS doubling per failure, at most WEBHOOK_RETRY_MAX_MS). The
 * back-off lives in the cursor row and the job's run_at, not in graphile-worker's attempt count,
 * which every new event would reset (add_job with a job key). An event still refused
 * WEBHOOK_DEAD_LETTER_AFTER_SEC after it happened is written to webhook_dead_letters and the
 * cursor moves past it. The event id is stable across retries and replays, so a receiver
 * de-duplicates the at-least-once deliveries by it.
 */
import type { Database } from '@chat/db';
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import type { WebhookEndpoint, WebhooksConfig } from '../config.ts';
import { advanceCursor, deadLetter, failingBacklog, pendingRows, readCursor, recordFailure, type PairKey } from '../db/webhooks.ts';
import { webhookEvent } from './payloads.ts';

export const DRAIN_TASK = 'webhook.drain';
const SEND_TIMEOUT_MS = 10_000;
/** Rows read per query, and events delivered per run before the drain yields its worker slot. */
const PAGE = 50;
const RUN_BUDGET = 500;
/** graphile-worker's own retries cover only unexpected errors (the database away, a crash). */
const JOB_MAX_ATTEMPTS = 25;

export type DeliveryOutcome = 'delivered' | 'retry' | 'dead' | 'dropped';

export interface WebhookMetrics {
  outcome(endpointId: string, outcome: DeliveryOutcome): void;
}

/**
 * chat_webhook_deliveries_total{endpoint, outcome}, and at scrape time, from the cursors (the
 * same on every instance: take the max, not the sum), chat_webhook_failing_conversations and
 * chat_webhook_oldest_failing_seconds per endpoint.
 */
export function webhookMetrics(registry: Registry, db: Database, config: WebhooksConfig): WebhookMetrics {
  const counter = new Counter({ name: 'chat_webhook_deliveries_total', help: 'Webhook delivery attempts by endpoint and outcome', labelNames: ['endpoint', 'outcome'], registers: [registry] });
  // One query per scrape sets both gauges, from the collect of the one registered (so serialised) first.
  const oldest: Gauge = new Gauge({ name: 'chat_webhook_oldest_failing_seconds', help: 'Age of the oldest webhook event the endpoint keeps refusing (0: none)', labelNames: ['endpoint'], registers: [] });
  const failing = new Gauge({
    name: 'chat_webhook_failing_conversations',
    help: 'Conversations whose next webhook event the endpoint keeps refusing',
    labelNames: ['endpoint'],
    registers: [registry],
    async collect() {
      const rows = await failingBacklog(db).catch(() => null);
      if (!rows) return;
      for (const { id } of config.endpoints) {
        const row = rows.find((r) => r.endpointId === id);
        this.set({ endpoint: id }, row?.conversations ?? 0);
        oldest.set({ endpoint: id }, row ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0);
      }
    },
  });
  registry.registerMetric(oldest);
  void failing;
  return { outcome: (endpoint, outcome) => counter.inc({ endpoint, outcome }) };
}

/** The connection setting that makes the triggers enqueue drains (migration 0010): event type -> endpoint ids. */
export function webhookSettings(config: WebhooksConfig): Record<string, string> {
  const byType: Record<string, string[]> = {};
  for (const endpoint of config.endpoints) for (const type of endpoint.events) (byType[type] ??= []).push(endpoint.id);
  if (Object.keys(byType).length === 0) return {};
  return { 'chat.webhook_events': JSON.stringify(byType) };
}

/** Signs with every secret (Standard Webhooks: space-separated signatures), newest first. */
export function signatures(endpoint: WebhookEndpoint, id: string, at: Date, body: string): string {
  return endpoint.secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ');
}

export interface PostResult {
  status: number | null;
  /** Null on a 2xx. */
  error: string | null;
}

/** One signed POST; a redirect is a failure (the operator configures the final URL). */
export async function post(endpoint: WebhookEndpoint, id: string, body: string): Promise<PostResult> {
  const at = new Date();
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signatures(endpoint, id, at, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    await response.body?.cancel().catch(() => {});
    return { status: response.status, error: response.ok ? null : `HTTP ${response.status}` };
  } catch (error) {
    return { status: null, error: error instanceof Error ? error.message : String(error) };
  }
}

function isPair(value: unknown): value is PairKey {
  const v = value as Partial<PairKey> | null;
  return typeof v?.endpointId === 'string' && typeof v.conversationId === 'string';
}

export const jobKey = (pair: PairKey) => `webhook:${pair.endpointId}:${pair.conversationId}`;

/** The wait before the attempt after `failures` failures: base, doubled each time, capped. */
export function backoffMs(config: WebhooksConfig, failures: number): number {
  return Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.min(failures - 1, 30));
}

export function webhookTask(db: Database, config: WebhooksConfig, log: Logger, metrics: WebhookMetrics): TaskList {
  const byId = new Map(config.endpoints.map((e) => [e.id, e]));

  /** Runs the pair's drain again at `runAt` (now: at once, behind the other waiting jobs). */
  const again = (helpers: JobHelpers, pair: PairKey, runAt?: Date) =>
    helpers.addJob(DRAIN_TASK, pair, { jobKey: jobKey(pair), queueName: jobKey(pair), jobKeyMode: 'replace', maxAttempts: JOB_MAX_ATTEMPTS, ...(runAt ? { runAt } : {}) });

  return {
    [DRAIN_TASK]: async (payload: unknown, helpers: JobHelpers) => {
      if (!isPair(payload)) return log.error('webhook job without endpointId and conversationId: dropped');
      const pair: PairKey = { endpointId: payload.endpointId, conversationId: payload.conversationId };
      const endpoint = byId.get(pair.endpointId);
      // An endpoint removed from the configuration: its cursor stays where it was.
      if (!endpoint) return metrics.outcome(pair.endpointId, 'dropped');
      const cursor = await readCursor(db, pair);
      if (!cursor) return;
      let position = cursor.deliveredSeq;
      let failures = cursor.failures;
      for (let sent = 0; sent < RUN_BUDGET; ) {
        const rows = await pendingRows(db, pair.conversationId, position, endpoint.events, Math.min(PAGE, RUN_BUDGET - sent));
        if (rows.length === 0) return;
        for (const row of rows) {
          const event = webhookEvent(pair.conversationId, row);
          const result = await post(endpoint, event.id, event.body);
          sent++;
          if (result.error === null) {
            if (!(await advanceCursor(db, pair, position, row.seq))) return;
            metrics.outcome(endpoint.id, 'delivered');
          } else if (Date.now() - row.createdAt.getTime() >= config.deadLetterAfterMs) {
            const letter = { eventId: event.id, eventType: row.type, seq: row.seq, payload: event.body, attempts: failures + 1, lastStatus: result.status, lastError: result.error };
            if (!(await deadLetter(db, pair, position, letter))) return;
            metrics.outcome(endpoint.id, 'dead');
            log.warn({ endpoint: endpoint.id, eventId: event.id, attempts: failures + 1 }, 'webhook event dead-lettered');
          } else {
            const counted = await recordFailure(db, pair, position, row.createdAt);
            if (counted === null) return;
            metrics.outcome(endpoint.id, 'retry');
            await again(helpers, pair, new Date(Date.now() + backoffMs(config, counted)));
            return;
          }
          position = row.seq;
          failures = 0;
        }
      }
      // More to deliver than one run's budget: yield the worker slot, then carry on.
      await again(helpers, pair);
    },
  };
}
