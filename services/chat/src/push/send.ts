/**
 * One Web Push request (RFC 8030): web-push builds it (the aes128gcm body of RFC 8291 and the
 * VAPID header of RFC 8292); we send it with fetch, with a timeout and without following
 * redirects, and map the push service's answer to what the job does next.
 */
import webpush from 'web-push';
import type { PushConfig } from '../config.ts';
import type { DeliveryOutcome, SubscriptionRow } from '../db/push.ts';

const SEND_TIMEOUT_MS = 10_000;

export interface SendResult {
  outcome: DeliveryOutcome;
  status: number | null;
}

/**
 * `sent` on 2xx; `gone` on 404/410 (the subscription expired or was revoked); `failed` on
 * 429, 5xx or a network error (the job retries); `rejected` on any other answer (a request the
 * push service will never accept: retrying cannot help).
 */
export async function sendPush(config: PushConfig, subscription: SubscriptionRow, payload: string, topic: string): Promise<SendResult> {
  const request = webpush.generateRequestDetails({ endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, payload, {
    vapidDetails: { subject: config.vapidSubject, publicKey: config.vapidPublicKey, privateKey: config.vapidPrivateKey },
    TTL: config.ttlSec,
    topic,
    urgency: 'normal',
    contentEncoding: 'aes128gcm',
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    // fetch sets the length from the body itself.
    if (name.toLowerCase() !== 'content-length') headers[name] = String(value);
  }
  let status: number;
  try {
    const response = await fetch(request.endpoint, {
      method: request.method,
      headers,
      body: new Uint8Array(request.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    status = response.status;
    await response.body?.cancel().catch(() => {});
  } catch {
    return { outcome: 'failed', status: null };
  }
  if (status >= 200 && status < 300) return { outcome: 'sent', status };
  if (status === 404 || status === 410) return { outcome: 'gone', status };
  if (status === 429 || status >= 500) return { outcome: 'failed', status };
  return { outcome: 'rejected', status };
}
