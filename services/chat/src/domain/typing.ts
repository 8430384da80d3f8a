/** Typing indicators: frames that are never stored, shared by the socket and HTTP transports. */
import type { Signal } from '../fanout/bus.ts';
import { encodeFrame } from '../frames.ts';

/** Typing indicators expire on the client after this long without a new start. */
export const TYPING_EXPIRES_MS = 5000;

/** The typing frame for a conversation's other members (never the typist's own sockets). */
export function typingSignal(conversationId: string, userId: string, state: 'start' | 'stop'): Signal {
  const expiresInMs = state === 'start' ? TYPING_EXPIRES_MS : 0;
  return { target: `c:${conversationId}`, exclude: userId, frame: encodeFrame({ type: 'typing', conversationId, userId, state, expiresInMs }) };
}
