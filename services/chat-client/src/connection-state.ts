/**
 * The connection as an explicit state machine (centrifuge-style):
 *
 *   idle ─connect()─▶ connecting ─ready─▶ connected
 *                        │                  │ socket lost
 *                        ▼                  ▼
 *                   reconnecting ◀──────────┘   (nextAttemptAt = when the next attempt starts)
 *   offline: the browser says there is no network; `online` reconnects at once.
 *   closed:  disconnect(), or a close code for which shouldReconnect() is false (4401 after one
 *            retry with a fresh token, 4403, 1003, 1009); connect() starts again.
 *
 * `transport` is 'polling' while the socket cannot be established and the HTTP API
 * carries events (GET …/events) and sends (POST …/messages) instead.
 */
import type { ChatErrorCode } from './errors.ts';

export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';
export type Transport = 'websocket' | 'polling';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Epoch ms when the next connection attempt starts (status 'reconnecting'), else null. */
  nextAttemptAt: number | null;
  /** Failed attempts since the last successful connection. */
  attempt: number;
  /** Outbox items still pending (not failed). */
  queued: number;
  transport: Transport;
  /** Why the last attempt or connection ended; null after a successful connection. */
  lastError: { code: ChatErrorCode; message: string } | null;
}

export const INITIAL_STATE: ConnectionState = Object.freeze({
  status: 'idle',
  nextAttemptAt: null,
  attempt: 0,
  queued: 0,
  transport: 'websocket',
  lastError: null,
});

/** Every allowed status change. A change to the same status (e.g. a new nextAttemptAt) is always allowed. */
export const TRANSITIONS: Readonly<Record<ConnectionStatus, readonly ConnectionStatus[]>> = {
  idle: ['connecting', 'offline', 'closed'],
  connecting: ['connected', 'reconnecting', 'offline', 'closed'],
  connected: ['reconnecting', 'offline', 'closed'],
  reconnecting: ['connected', 'offline', 'closed'],
  offline: ['connecting', 'reconnecting', 'closed'],
  closed: ['connecting', 'offline'],
};

export function canTransition(from: ConnectionStatus, to: ConnectionStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}
