/** One handler per client frame type; each returns the ack's result or throws an AppError. */
import type { ClientFrame, ClientFrameType, PingResult, RefreshResult, SendResult } from '@chat/protocol';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { SessionTokenVerifier } from '../auth/session-token.ts';
import type { Chat } from '../domain/chat.ts';
import { AppError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Connection } from './connection.ts';
import type { FrameOf } from './codec.ts';
import { resume } from './resume.ts';
import type { Rooms } from './rooms.ts';

export interface HandlerDeps {
  chat: Chat;
  rooms: Rooms;
  metrics: Metrics;
  verifier: SessionTokenVerifier;
  sendLimiter: RateLimiterMemory;
  clockToleranceSec: number;
}

type Handler<T extends ClientFrameType> = (connection: Connection, frame: FrameOf<T>, deps: HandlerDeps) => Promise<unknown>;

export const handlers: { [T in ClientFrameType]: Handler<T> } = {
  async ping(): Promise<PingResult> {
    return { time: new Date().toISOString() };
  },

  async resume(connection, frame, deps) {
    if (connection.resuming) throw new AppError('CONFLICT', 'A resume is already in progress on this connection.');
    connection.resuming = true;
    try {
      return await resume(connection, frame.conversations, deps);
    } finally {
      connection.resuming = false;
    }
  },

  async 'message.send'(connection, frame, deps): Promise<SendResult> {
    await consume(deps.sendLimiter, connection.userId);
    // A socket is subscribed exactly to its user's conversations (kept current by membership events).
    const memberChecked = connection.lastSent.has(frame.conversationId);
    const started = performance.now();
    const result = await deps.chat.send(connection.identity, frame, { memberChecked });
    deps.metrics.sendAckSeconds.observe((performance.now() - started) / 1000);
    return result;
  },

  async 'auth.refresh'(connection, frame, deps): Promise<RefreshResult> {
    const identity = await deps.verifier.verify(frame.token);
    if (identity.userId !== connection.userId) throw new AppError('FORBIDDEN', 'The new token is for another user.');
    connection.identity = identity;
    connection.scheduleExpiry(identity.expiresAt, deps.clockToleranceSec);
    return { sessionExpiresAt: identity.expiresAt ? new Date(identity.expiresAt * 1000).toISOString() : null };
  },
};

export async function consume(limiter: RateLimiterMemory, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (rejection) {
    const retryAfterMs = (rejection as { msBeforeNext?: number }).msBeforeNext ?? 1000;
    throw new AppError('RATE_LIMITED', 'Too many messages; slow down.', { retryAfterMs });
  }
}

export function dispatch(connection: Connection, frame: ClientFrame, deps: HandlerDeps): Promise<unknown> {
  return (handlers[frame.type] as Handler<typeof frame.type>)(connection, frame as never, deps);
}
