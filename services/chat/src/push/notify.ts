/**
 * The `push.notify` job: one per (member, conversation), enqueued by the send statement's
 * trigger (migration 0007) for members offline at commit, and run PUSH_DELAY_MS later by
 * whichever instance's worker takes it. It reads what is unread now and notifies each of the
 * member's devices once per message (db/push.ts deliverOnce); a push-service failure makes the
 * job fail, so the queue retries it with back-off, and devices already notified are skipped.
 */
import type { Database } from '@chat/db';
import type { PushPayload } from '@chat/protocol';
import type { Logger } from 'pino';
import type { PushConfig } from '../config.ts';
import { deliverOnce, listSubscriptions, PUSH_COUNT_CAP, pushState, type PushState } from '../db/push.ts';
import { sendPush } from './send.ts';

export const NOTIFY_TASK = 'push.notify';
const PREVIEW_CHARS = 140;

export interface PushMetrics {
  sent(outcome: string): void;
}

/** The notification's text, as the member's preview setting allows. */
export function notificationFor(conversationId: string, state: PushState): PushPayload | null {
  const latest = state.latest;
  if (!latest || state.count === 0) return null;
  const count = state.count >= PUSH_COUNT_CAP ? '99+' : String(state.count);
  const title = state.kind === 'group' && state.title ? state.title : latest.senderName;
  let body: string;
  // An encrypted conversation's body is an envelope the service cannot open: sender only, whatever the setting.
  if (state.settings.preview === 'message' && !state.encrypted && latest.body !== null && latest.body.trim() !== '') {
    const text = latest.body.length > PREVIEW_CHARS ? `${latest.body.slice(0, PREVIEW_CHARS - 1)}…` : latest.body;
    body = state.kind === 'group' ? `${latest.senderName}: ${text}` : text;
  } else {
    body = state.count === 1 ? `New message from ${latest.senderName}` : `${count} new messages, the latest from ${latest.senderName}`;
  }
  return {
    type: 'message',
    conversationId,
    seq: latest.seq,
    title,
    body,
    count: state.count,
    url: `/messages/${conversationId}`,
    tag: `conversation:${conversationId}`,
  };
}

export function isNotifyPayload(value: unknown): value is { userId: string; conversationId: string } {
  const v = value as { userId?: unknown; conversationId?: unknown } | null;
  return typeof v?.userId === 'string' && typeof v.conversationId === 'string';
}

/** Runs one job; throws when a device should be tried again (the queue retries the job). */
export async function runNotify(db: Database, config: PushConfig, log: Logger, metrics: PushMetrics, job: { userId: string; conversationId: string }): Promise<void> {
  const state = await pushState(db, job.userId, job.conversationId);
  // Not a member any more, muted, push off, or online now (a socket delivered it): nothing to do.
  if (!state || state.muted || !state.settings.enabled || state.online) return;
  const payload = notificationFor(job.conversationId, state);
  if (!payload) return;
  const body = JSON.stringify(payload);
  // RFC 8030 Topic: at most 32 URL-safe characters; a UUID without its dashes is exactly that.
  const topic = job.conversationId.replaceAll('-', '');
  let retry = 0;
  for (const subscription of await listSubscriptions(db, job.userId)) {
    const outcome = await deliverOnce(db, subscription.id, job.conversationId, payload.seq, async () => {
      const result = await sendPush(config, subscription, body, topic);
      if (result.outcome !== 'sent') log.warn({ subscriptionId: subscription.id, status: result.status, outcome: result.outcome }, 'push not accepted');
      return result.outcome;
    });
    metrics.sent(outcome);
    if (outcome === 'failed') retry++;
  }
  if (retry > 0) throw new Error(`${retry} push service(s) failed; retrying`);
}
