/**
 * One handler per client frame type, each with its cost: the dispatcher charges the
 * user's budgets (limits.ts) before the handler runs. A handler returns the ack's result
 * or throws an AppError.
 */
import type { ChangeResult, ClientFrame, ClientFrameType, PingResult, RefreshResult, ResumeResult, SendResult } from '@chat/protocol';
import type { SessionTokenVerifier } from '../auth/session-token.ts';
import * as actions from '../domain/actions.ts';
import type { Chat } from '../domain/chat.ts';
import type { Presence } from '../domain/presence.ts';
import type { Signal } from '../fanout/bus.ts';
import { typingSignal } from '../domain/typing.ts';
import { AppError } from '../errors.ts';
import { COST, resumeCost, type Cost, type UserLimits } from '../limits.ts';
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
  limits: UserLimits;
  presence: Presence;
  clockToleranceSec: number;
}

interface FrameHandler<T extends ClientFrameType> {
  /** What the frame takes from the user's budgets, charged before `run`. */
  cost: Cost | ((frame: FrameOf<T>) => Cost);
  run(connection: Connection, frame: FrameOf<T>, deps: HandlerDeps): Promise<unknown>;
}

export const handlers: { [T in ClientFrameType]: FrameHandler<T> } = {
  ping: {
    cost: COST.none,
    async run(): Promise<PingResult> {
      return { time: new Date().toISOString() };
    },
  },

  resume: {
    cost: (frame) => resumeCost(Object.keys(frame.conversations).length),
    async run(connection, frame, deps): Promise<ResumeResult> {
      const result = await resume(connection, frame.conversations, deps);
      if (!connection.closed) {
        void deps.presence.attach(connection.userId, result.conversations.map((c) => c.id)).catch((error: unknown) =>
          connection.log.warn({ err: error }, 'presence update failed'),
        );
      }
      return result;
    },
  },

  'message.send': {
    cost: COST.send,
    async run(connection, frame, deps): Promise<SendResult> {
      const started = performance.now();
      const result = await deps.chat.send(connection.identity, frame);
      deps.metrics.sendAckSeconds.observe((performance.now() - started) / 1000);
      return result;
    },
  },

  'message.edit': {
    cost: COST.write,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.editMessage(deps.chat, connection.identity, frame),
  },

  'message.delete': {
    cost: COST.write,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.deleteMessage(deps.chat, connection.identity, frame),
  },

  'reaction.add': {
    cost: COST.send,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.react(deps.chat, connection.identity, { ...frame, add: true }),
  },

  'reaction.remove': {
    cost: COST.send,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.react(deps.chat, connection.identity, { ...frame, add: false }),
  },

  'read.mark': {
    cost: COST.write,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.markReceipt(deps.chat, connection.identity, { ...frame, kind: 'read' }),
  },

  'delivered.mark': {
    cost: COST.write,
    run: (connection, frame, deps): Promise<ChangeResult> => actions.markReceipt(deps.chat, connection.identity, { ...frame, kind: 'delivered' }),
  },

  'typing.start': {
    cost: COST.typing,
    async run(connection, frame, deps): Promise<{ forwarded: boolean }> {
      return { forwarded: await typing(connection, frame.conversationId, 'start', deps) };
    },
  },

  'typing.stop': {
    cost: COST.typing,
    async run(connection, frame, deps): Promise<{ forwarded: boolean }> {
      return { forwarded: await typing(connection, frame.conversationId, 'stop', deps) };
    },
  },

  'auth.refresh': {
    cost: COST.none,
    async run(connection, frame, deps): Promise<RefreshResult> {
      const identity = await deps.verifier.verify(frame.token);
      if (identity.userId !== connection.userId) throw new AppError('FORBIDDEN', 'The new token is for another user.');
      connection.identity = identity;
      connection.scheduleExpiry(identity.expiresAt, deps.clockToleranceSec);
      return { sessionExpiresAt: identity.expiresAt ? new Date(identity.expiresAt * 1000).toISOString() : null };
    },
  },
};

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
  await deps.chat.signal([typingSignal(conversationId, connection.userId, state)]);
  return true;
}


/** Charges the frame's cost, then runs its handler. */
export async function dispatch(connection: Connection, frame: ClientFrame, deps: HandlerDeps): Promise<unknown> {
  const handler = handlers[frame.type] as FrameHandler<typeof frame.type>;
  await deps.limits.charge(connection.userId, typeof handler.cost === 'function' ? handler.cost(frame as never) : handler.cost);
  return handler.run(connection, frame as never, deps);
}
