/**
 * The storefront's service worker (public/sw.js, issue 15) in Chromium: a push message
 * delivered to the registered worker through the DevTools protocol (as the browser's push
 * service would hand it over) shows one notification per conversation, its tag replacing the
 * earlier one, and a click on it takes an open storefront tab to /messages/<id>. The bell's
 * permission flow is not driven here: PushManager.subscribe needs the browser vendor's push
 * service, which this machine cannot reach.
 */
import type { Browser } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { launchBrowser, newSession, signIn, type UserSession } from './support/browser.ts';

const webUrl = inject('webUrl');
let browser: Browser;
let alice: UserSession;

beforeAll(async () => {
  browser = await launchBrowser();
  alice = await newSession(browser, 'alice');
  await alice.context.grantPermissions(['notifications'], { origin: webUrl });
  await signIn(alice, webUrl, 'alice');
});

afterAll(async () => {
  await browser?.close();
});

interface Shown {
  title: string;
  body: string;
  tag: string;
  url: string;
}

it('shows a pushed message as one notification per conversation and opens the conversation on click', async () => {
  const { page, context } = alice;
  await page.evaluate(async () => {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    await navigator.serviceWorker.ready;
  });
  const cdp = await context.newCDPSession(page);
  const registrationId = new Promise<string>((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const found = registrations.find((r) => r.scopeURL === `${webUrl}/` && !r.isDeleted);
      if (found) resolve(found.registrationId);
    });
  });
  await cdp.send('ServiceWorker.enable');
  const id = await registrationId;
  const conversationId = randomUUID();
  const push = (seq: number, body: string, count: number) =>
    cdp.send('ServiceWorker.deliverPushMessage', {
      origin: webUrl,
      registrationId: id,
      data: JSON.stringify({ type: 'message', conversationId, seq, title: 'Carol', body, count, url: `/messages/${conversationId}`, tag: `conversation:${conversationId}` }),
    });
  const shown = () =>
    page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return (await registration.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: (n.data as { url: string }).url }));
    }) as Promise<Shown[]>;

  await push(1, 'New message from Carol', 1);
  await expect.poll(shown, { timeout: 15_000 }).toEqual([{ title: 'Carol', body: 'New message from Carol', tag: `conversation:${conversationId}`, url: `/messages/${conversationId}` }]);
  // A later message of the same conversation replaces it (same tag), never piles up.
  await push(2, '2 new messages, the latest from Carol', 2);
  await expect.poll(async () => (await shown()).map((n) => n.body), { timeout: 15_000 }).toEqual(['2 new messages, the latest from Carol']);
  // Not a chat message (or not JSON): nothing shown.
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: webUrl, registrationId: id, data: 'not json' });

  // The click, as the browser dispatches it to the worker: the open tab goes to the conversation.
  const [worker] = context.serviceWorkers();
  expect(worker).toBeDefined();
  await worker!.evaluate(async () => {
    // Runs in the worker: its globals, typed here (the test program has the DOM lib, not WebWorker's).
    const scope = self as unknown as {
      registration: { getNotifications(): Promise<Notification[]> };
      dispatchEvent(event: Event): boolean;
      NotificationEvent: new (type: string, init: { notification: Notification }) => Event;
    };
    const [notification] = await scope.registration.getNotifications();
    scope.dispatchEvent(new scope.NotificationEvent('notificationclick', { notification: notification! }));
  });
  await page.waitForURL(`${webUrl}/messages/${conversationId}`, { timeout: 15_000 });
  await expect.poll(shown, { timeout: 15_000 }).toEqual([]);
  expect(alice.errors).toEqual([]);
});
