/**
 * The `webhook.deliver` job: one per (endpoint, event), enqueued by the send statement's
 * trigger (migration 0008). It POSTs the event in the Standard Webhooks format (the
 * `standardwebhooks` package signs it: webhook-id, webhook-timestamp, webhook-signature, one
 * signature per configured secret during a rotation). A 2xx completes the job; anything else
 * fails it and the queue retries with exponential back-off; the last failed attempt writes a
 * dead letter (webhook_dead_letters) instead. The event id is stable across retries
 * (`msg_<messageId>`), so a receiver de-duplicates the at-least-once deliveries by it.
 */
import { dsql, eq, schema, type Database } from '@chat/db';
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import type { WebhookEndpoint, WebhooksConfig } from '../config.ts';

export const DELIVER_TASK = 'webhook.deliver';
const SEND_TIMEOUT_MS = 10_000;

export interface WebhookMetrics {
  outcome(endpointId: string, outcome: 'delivered' | 'retry' | 'dead' | 'dropped'): void;
}

/** chat_webhook_deliveries_total{endpoint, outcome}. */
export function webhookMetrics(registry: Registry): WebhookMetrics {
  const counter = new Counter({ name: 'chat_webhook_deliveries_total', help: 'Webhook delivery attempts by endpoint and outcome', labelNames: ['endpoint', 'outcome'], registers: [registry] });
  return { outcome: (endpoint, outcome) => counter.inc({ endpoint, outcome }) };
}

/** Connection settings that make the send statement enqueue webhook jobs (migration 0008). */
export function webhookSettings(config: WebhooksConfig): Record<string, string> {
  const subscribed = config.endpoints.filter((e) => e.events.includes('message.created')).map((e) => e.id);
  if (subscribed.length === 0) return {};
  return { 'chat.webhooks': subscribed.join(','), 'chat.webhook_max_attempts': String(config.maxAttempts) };
}

interface DeliverPayload {
  endpointId: string;
  type: 'message.created';
  messageId: string;
}

function isDeliverPayload(value: unknown): value is DeliverPayload {
  const v = value as Partial<DeliverPayload> | null;
  return typeof v?.endpointId === 'string' && v.type === 'message.created' && typeof v.messageId === 'string';
}

/** The event body: the message as it is now (a deleted message has a null body). */
async function messageCreated(db: Database, messageId: string): Promise<{ id: string; body: string } | null> {
  const { messages, users } = schema;
  const [row] = await db
    .select({
      id: messages.id,
      conversationId: messages.conversationId,
      seq: messages.seq,
      senderId: messages.senderId,
      senderName: users.name,
      body: messages.body,
      createdAt: messages.createdAt,
    })
    .from(messages)
    .leftJoin(users, eq(users.id, messages.senderId))
    .where(eq(messages.id, messageId));
  if (!row) return null;
  const id = `msg_${row.id}`;
  return {
    id,
    body: JSON.stringify({
      type: 'message.created',
      timestamp: row.createdAt.toISOString(),
      data: { conversationId: row.conversationId, message: { id: row.id, seq: row.seq, senderId: row.senderId, senderName: row.senderName, body: row.body, createdAt: row.createdAt.toISOString() } },
    }),
  };
}

/** Signs with every secret (Standard Webhooks: space-separated signatures), newest first. */
export function signatures(endpoint: WebhookEndpoint, id: string, at: Date, body: string): string {
  return endpoint.secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ');
}

async function post(endpoint: WebhookEndpoint, id: string, body: string): Promise<{ status: number | null; error: string | null }> {
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

export function webhookTask(db: Database, config: WebhooksConfig, log: Logger, metrics: WebhookMetrics): TaskList {
  const byId = new Map(config.endpoints.map((e) => [e.id, e]));
  return {
    [DELIVER_TASK]: async (payload: unknown, helpers: JobHelpers) => {
      if (!isDeliverPayload(payload)) return log.error('webhook job with an unknown payload: dropped');
      const endpoint = byId.get(payload.endpointId);
      // An endpoint removed from the configuration: its queued events go nowhere.
      if (!endpoint) return metrics.outcome(payload.endpointId, 'dropped');
      const event = await messageCreated(db, payload.messageId);
      // The conversation was deleted meanwhile (its messages with it).
      if (!event) return metrics.outcome(endpoint.id, 'dropped');
      const result = await post(endpoint, event.id, event.body);
      if (result.error === null) return metrics.outcome(endpoint.id, 'delivered');
      if (helpers.job.attempts < helpers.job.max_attempts) {
        metrics.outcome(endpoint.id, 'retry');
        throw new Error(`webhook ${endpoint.id}: ${result.error}`);
      }
      await db.insert(schema.webhookDeadLetters).values({
        endpointId: endpoint.id,
        eventId: event.id,
        eventType: payload.type,
        payload: event.body,
        attempts: helpers.job.attempts,
        lastStatus: result.status,
        lastError: result.error.slice(0, 1000),
        failedAt: dsql`now()`,
      });
      metrics.outcome(endpoint.id, 'dead');
      log.warn({ endpoint: endpoint.id, eventId: event.id, attempts: helpers.job.attempts }, 'webhook event dead-lettered');
    },
  };
}
