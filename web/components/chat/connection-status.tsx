'use client';
import type { ConnectionState } from '@chat/client';
import { useEffect, useState } from 'react';
import { useChat } from './chat-provider';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The words for a connection state; null when everything is normal (live over the socket). */
export function describeConnection(state: ConnectionState, now: number): { text: string; tone: 'ok' | 'warn' | 'bad' } | null {
  const queued = state.queued > 0 ? ` — ${plural(state.queued, 'message')} queued` : '';
  switch (state.status) {
    case 'idle':
    case 'connecting':
      return { text: `Connecting…${queued}`, tone: 'warn' };
    case 'reconnecting': {
      if (state.transport === 'polling') return { text: `Live updates unavailable — polling${queued}`, tone: 'warn' };
      const seconds = state.nextAttemptAt === null ? 0 : Math.max(0, Math.ceil((state.nextAttemptAt - now) / 1000));
      return { text: seconds > 0 ? `Reconnecting in ${seconds} s${queued}` : `Reconnecting…${queued}`, tone: 'warn' };
    }
    case 'offline':
      return { text: `Offline${queued}`, tone: 'bad' };
    case 'closed':
      return { text: state.lastError ? `Disconnected: ${state.lastError.message}` : 'Disconnected', tone: 'bad' };
    case 'connected':
      if (state.transport === 'polling') return { text: `Live updates unavailable — polling${queued}`, tone: 'warn' };
      return state.queued > 0 ? { text: `Sending ${plural(state.queued, 'message')}…`, tone: 'ok' } : null;
  }
}

/** A one-line banner under the panel header; silent while live. Status changes are announced. */
export function ConnectionStatus() {
  const { state, client } = useChat();
  const [now, setNow] = useState(() => Date.now());
  const counting = state?.status === 'reconnecting' && state.nextAttemptAt !== null;

  useEffect(() => {
    if (!counting) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [counting, state?.nextAttemptAt]);

  if (!state) return null;
  const description = describeConnection(state, now);
  const canRetry = state.status === 'reconnecting' || state.status === 'closed';
  // Screen readers hear the status once per change, not every tick of the countdown.
  const spoken = description ? describeConnection({ ...state, nextAttemptAt: null }, now)!.text : 'Connected';
  return (
    <div className={`connection connection-${description?.tone ?? 'live'}`} data-testid="connection-status" data-status={state.status}>
      <span className="sr-only" role="status">
        {spoken}
      </span>
      {description && (
        <>
          <span className="connection-dot" aria-hidden="true" />
          <span aria-hidden="true" data-testid="connection-text">
            {description.text}
          </span>
          {canRetry && client && (
            <button
              type="button"
              className="link-button"
              onClick={() => {
                // connect() is a no-op while the client is already trying: start over now.
                client.disconnect();
                client.connect();
              }}
            >
              Retry now
            </button>
          )}
        </>
      )}
    </div>
  );
}
