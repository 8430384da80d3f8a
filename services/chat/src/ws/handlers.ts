/** One handler per client frame type; each returns the ack's result or throws an AppError. */
import type { ChangeResult, ClientFrame, ClientFrameType, PingResult, RefreshResult, ResumeResult, SendResult } from '@chat/protocol';
import type { BurstyRateLimiter, RateLimiterAbstract } from 'rate-limiter-flexible';

/** Anything with rate-limiter-flexible's consume(). */
export type Limiter = RateLimiterAbstract | BurstyRateLimiter;
import type { SessionTokenVerifier } from '../auth/session-token.ts';
import * as actions from '../domain/actions.ts';
import type { Chat } from '../domain/chat.ts';
import type { Presence } from '../domain/presence.ts';
import type { Signal } from '../fanout/bus.ts';
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
  sendLimiter: Limiter;
  typingLimiter: Limiter;
  presence: Presence;
  clockToleranceSec: number;
}

type Handler<T extends ClientFrameType> = (connection: Connection, frame: FrameOf<T>, deps: HandlerDeps) => Promise<unknown>;

export const handlers: { [T in ClientFrameType]: Handler<T> } = {
  async ping(): Promise<PingResult> {
    return { time: new Date().toISOString() };
  },

  async resume(connection, frame, deps): Promise<ResumeResult> {
    const result = await resume(connection, frame.conversations, deps);
    if (!connection.closed) {
      void deps.presence.attach(connection.userId, result.conversations.map((c) => c.id)).catch((error: unknown) =>
        connection.log.warn({ err: error }, 'presence update failed'),
      );
    }
    return result;
  },

  async 'message.send'(connection, frame, deps): Promise<SendResult> {
    await consume(deps.sendLimiter, connection.userId);
    const started = performance.now();
    const result = await deps.chat.send(connection.identity, frame);
    deps.metrics.sendAckSeconds.observe((performance.now() - started) / 1000);
    return result;
  },

  async 'message.edit'(connection, frame, deps): Promise<ChangeResult> {
    return actions.editMessage(deps.chat, connection.identity, frame);
  },

  async 'message.delete'(connection, frame, deps): Promise<ChangeResult> {
    return actions.deleteMessage(deps.chat, connection.identity, frame);
  },

  async 'reaction.add'(connection, frame, deps): Promise<ChangeResult> {
    await consume(deps.sendLimiter, connection.userId);
    return actions.react(deps.chat, connection.identity, { ...frame, add: true });
  },

  async 'reaction.remove'(connection, frame, deps): Promise<ChangeResult> {
    await consume(deps.sendLimiter, connection.userId);
    return actions.react(deps.chat, connection.identity, { ...frame, add: false });
  },

  async 'read.mark'(connection, frame, deps): Promise<ChangeResult> {
    return actions.markReceipt(deps.chat, connection.identity, { ...frame, kind: 'read' });
  },

  async 'delivered.mark'(connection, frame, deps): Promise<ChangeResult> {
    return actions.markReceipt(deps.chat, connection.identity, { ...frame, kind: 'delivered' });
  },

  async 'typing.start'(connection, frame, deps): Promise<{ forwarded: boolean }> {
    await consume(deps.typingLimiter, connection.userId, 'typing updates');
    return { forwarded: await typing(connection, frame.conversationId, 'start', deps) };
  },

  async 'typing.stop'(connection, frame, deps): Promise<{ forwarded: boolean }> {
    await consume(deps.typingLimiter, connection.userId, 'typing updates');
    return { forwarded: await typing(connection, frame.conversationId, 'stop', deps) };
  },

  async 'auth.refresh'(connection, frame, deps): Promise<RefreshResult> {
    const identity = await deps.verifier.verify(frame.token);
    if (identity.userId !== connection.userId) throw new AppError('FORBIDDEN', 'The new token is for another user.');
    connection.identity = identity;
    connection.scheduleExpiry(identity.expiresAt, deps.clockToleranceSec);
    return { sessionExpiresAt: identity.expiresAt ? new Date(identity.expiresAt * 1000).toISOString() : null };
  },
};

/** Typing indicators expire on the client after this long without a new start. */
export const TYPING_EXPIRES_MS = 5000;
/** Repeated starts within this window are acknowledged but not forwarded (debounce). */
const TYPING_REPEAT_MS = 2000;

/** Forwards a typing change to the other members' sockets, never storing it. */
export async function typing(connection: Connection, conversationId: string, state: 'start' | 'stop', deps: HandlerDeps): Promise<boolean> {
  if (!connection.lastSent.has(conversationId)) throw new AppError('FORBIDDEN', 'You are not subscribed to this conversation.');
  const now = Date.now();
  const since = connection.typingSince(conversationId);
  if (state === 'start' && since !== undefined && now - since < TYPING_REPEAT_MS) return false;
  if (state === 'stop' && since === undefined) return false;
  connection.setTyping(conversationId, state === 'start' ? now : undefined);
  await deps.chat.bus.signal([typingSignal(conversationId, connection.userId, state)]);
  return true;
}

/** The typing frame for a conversation's other members (never the typist's own sockets). */
export function typingSignal(conversationId: string, userId: string, state: 'start' | 'stop'): Signal {
  const expiresInMs = state === 'start' ? TYPING_EXPIRES_MS : 0;
  return { target: `c:${conversationId}`, exclude: userId, frame: JSON.stringify({ type: 'typing', conversationId, userId, state, expiresInMs }) };
}

export async function consume(limiter: Limiter, key: string, what = 'messages'): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (rejection) {
    const retryAfterMs = (rejection as { msBeforeNext?: number }).msBeforeNext ?? 1000;
    throw new AppError('RATE_LIMITED', `Too many ${what}; slow down.`, { retryAfterMs });
  }
}

export function dispatch(connection: Connection, frame: ClientFrame, deps: HandlerDeps): Promise<unknown> {
  return (handlers[frame.type] as Handler<typeof frame.type>)(connection, frame as never, deps);
}
