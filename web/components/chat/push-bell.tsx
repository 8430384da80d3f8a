'use client';
/**
 * The bell in the panel's header: turns Web Push on for this browser. Permission is asked only
 * after the click (browsers ignore or penalize a prompt without a user gesture); then the
 * service worker (/sw.js) is registered, subscribed with the chat service's VAPID key, and the
 * subscription is sent to POST /v1/push/subscriptions. A second click unsubscribes and deletes it.
 */
import { useCallback, useEffect, useState } from 'react';
import { CHAT_URL } from '@/lib/chat-url';
import { useChat } from './chat-provider';

type State = 'unsupported' | 'denied' | 'off' | 'on' | 'busy';

function supported(): boolean {
  return typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4));
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function currentSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return (await registration?.pushManager.getSubscription()) ?? null;
}

export function PushBell() {
  const { getToken } = useChat();
  const [state, setState] = useState<State>('busy');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!supported()) return setState('unsupported');
    if (Notification.permission === 'denied') return setState('denied');
    currentSubscription().then(
      (subscription) => setState(subscription && Notification.permission === 'granted' ? 'on' : 'off'),
      () => setState('off'),
    );
  }, []);

  const call = useCallback(
    async (method: string, path: string, body?: unknown) => {
      const token = await getToken();
      const response = await fetch(`${CHAT_URL}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`The chat service answered ${response.status}.`);
      return response.status === 204 ? null : ((await response.json()) as unknown);
    },
    [getToken],
  );

  const turnOn = useCallback(async () => {
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') return setState(permission === 'denied' ? 'denied' : 'off');
    const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    await navigator.serviceWorker.ready;
    const { publicKey } = (await call('GET', '/v1/push/vapid-key')) as { publicKey: string };
    let subscription = await registration.pushManager.getSubscription();
    // A subscription made with another key (the server's key was rotated) cannot be used.
    const key = subscription?.options.applicationServerKey;
    if (subscription && key && btoa(String.fromCharCode(...new Uint8Array(key))) !== btoa(String.fromCharCode(...keyBytes(publicKey)))) {
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    await call('POST', '/v1/push/subscriptions', { ...subscription.toJSON(), label: navigator.userAgent.slice(0, 100) });
    setState('on');
  }, [call]);

  const turnOff = useCallback(async () => {
    const subscription = await currentSubscription();
    if (subscription) {
      const { subscriptions } = (await call('GET', '/v1/push/subscriptions')) as { subscriptions: { id: string; endpoint: string }[] };
      const mine = subscriptions.find((s) => s.endpoint === new URL(subscription.endpoint).href);
      if (mine) await call('DELETE', `/v1/push/subscriptions/${mine.id}`);
      await subscription.unsubscribe();
    }
    setState('off');
  }, [call]);

  if (state === 'unsupported') return null;
  const on = state === 'on';
  const label = state === 'denied' ? 'Notifications are blocked in this browser' : on ? 'Turn off notifications' : 'Notify me of new messages';
  return (
    <button
      type="button"
      className="icon-button push-bell"
      aria-pressed={on}
      aria-label={label}
      title={error ?? label}
      data-testid="push-bell"
      disabled={state === 'busy' || state === 'denied'}
      onClick={() => {
        setError(null);
        setState('busy');
        (on ? turnOff() : turnOn()).catch((failure: unknown) => {
          setError(failure instanceof Error ? failure.message : String(failure));
          setState(on ? 'on' : 'off');
        });
      }}
    >
      <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill={on ? 'currentColor' : 'none'} stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
        <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
        <path d="M13.73 21a2 2 0 0 1-3.46 0" />
        {state === 'denied' && <path d="M3 3l18 18" />}
      </svg>
    </button>
  );
}
