/*
 * The storefront's service worker: shows the chat service's Web Push notifications and opens
 * the conversation on a click. A notification carries {type, conversationId, seq, title, body,
 * count, url, tag} (docs/http-api.md, "The notification"); one per conversation (its tag), so a
 * later one replaces the earlier. Only same-origin paths are opened.
 */
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  if (!data || data.type !== 'message' || typeof data.conversationId !== 'string') return;
  const url = typeof data.url === 'string' && data.url.startsWith('/') && !data.url.startsWith('//') ? data.url : '/messages';
  event.waitUntil(
    self.registration.showNotification(String(data.title || 'New message'), {
      body: String(data.body || ''),
      tag: String(data.tag || `conversation:${data.conversationId}`),
      icon: '/icon.svg',
      data: { url, conversationId: data.conversationId, seq: data.seq },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/messages', self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin !== self.location.origin) continue;
        // focus() needs the click's activation; a page that cannot be focused is still navigated.
        await client.focus().catch(() => undefined);
        if ('navigate' in client) return client.navigate(target);
        return undefined;
      }
      return self.clients.openWindow(target);
    })(),
  );
});
