/**
 * A send acknowledged while the conversation's first history page is still on its way: the
 * page (answered by the service before the send) must not make the message disappear or lose
 * its tick. The page's response is held with a route handler until the browser has the ack,
 * so the order is the same on every run; the second case also holds the message's own
 * message.created frame (a WebSocket route) until that stale page has landed.
 */
import type { Browser, Locator, Request, Route } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bubbles, launchBrowser, messageWith, newSession, openPanel, sendMessage, signIn, type UserSession } from './support/browser.ts';

const webUrl = inject('webUrl');
const sql = postgres(inject('databaseUrl'), { max: 1, onnotice: () => {} });
const poll = { timeout: 20_000, interval: 100 };

let browser: Browser;
let alice: UserSession;

const EARLIER = 'Already in the lobby before the page was asked for';
const RACED = 'Sent while the first history page was still loading';
const RACED_AGAIN = 'Its own message.created came after the stale page';

beforeAll(async () => {
  browser = await launchBrowser();
  alice = await newSession(browser, 'alice');
  await signIn(alice, webUrl, 'alice', '/');
});

afterAll(async () => {
  await browser?.close();
  await sql.end();
});

/** Shows the lobby in the panel without waiting for its history (which a test may be holding). */
async function showLobby(): Promise<Locator> {
  const p = await openPanel(alice.page);
  const heading = p.getByRole('heading', { name: 'Storefront lobby', exact: true });
  const back = p.getByRole('button', { name: 'Back to conversations' });
  const item = p.getByRole('button', { name: /^Storefront lobby/ });
  await heading.or(back).or(item).first().waitFor();
  if (!(await heading.isVisible())) {
    if (await back.isVisible()) await back.click();
    await item.click();
    await heading.waitFor();
  }
  return p;
}

/** The browser's outbox for alice is empty: the send was acknowledged (or its message.created came). */
async function outboxEmpty(): Promise<boolean> {
  return alice.page.evaluate(() => !Object.keys(localStorage).some((k) => k.startsWith('chat.outbox.v1:') && k.endsWith(':alice') && localStorage.getItem(k) !== null));
}

describe('history loading while a send is acknowledged', () => {
  it('keeps the acknowledged message, ticked, before and after the first history page arrives', async () => {
    const { page } = alice;
    const [lobby] = await sql<{ id: string }[]>`select id from conversations where title = 'Storefront lobby'`;
    // An earlier message, so the first page holds something to merge with.
    const p = await showLobby();
    await p.locator('[data-testid="history"][data-loaded="true"]').waitFor();
    await sendMessage(p, EARLIER);
    await messageWith(page, EARLIER).locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').first().waitFor(poll);

    // A fresh page load: the lobby's first page is answered now, and handed over only after the ack.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held: string[] = [];
    await page.route('**/v1/conversations/*/messages*', async (route: Route) => {
      const request = route.request();
      if (request.method() !== 'GET' || !request.url().includes(lobby!.id)) return route.fallback();
      const response = await route.fetch(); // the service's answer, from before the send
      held.push(request.url());
      await released;
      await route.fulfill({ response });
    });
    await page.reload();
    const q = await showLobby();
    await expect.poll(() => held.length, poll).toBeGreaterThan(0);
    expect(await q.getByTestId('history').getAttribute('data-loaded')).toBe('false');

    await sendMessage(q, RACED);
    await expect.poll(() => outboxEmpty(), poll).toBe(true);
    const [stored] = await sql<{ n: number }[]>`select count(*)::int as n from messages where body = ${RACED}`;
    expect(stored!.n).toBe(1);

    // Acknowledged, the page still loading: the message stays, with its "sent" tick.
    const raced = messageWith(page, RACED);
    await raced.locator('[data-tick="sent"]').waitFor(poll);

    release();
    await q.locator('[data-testid="history"][data-loaded="true"]').waitFor();
    await bubbles(q, EARLIER).waitFor(poll);
    // Both: the page's message and the acknowledged one, once each, in order, the latter still ticked.
    expect(await bubbles(q, RACED).count()).toBe(1);
    expect(await bubbles(q, EARLIER).count()).toBe(1);
    expect(await raced.locator('[data-tick="sent"]').count()).toBe(1);
    const order = await q.getByTestId('message-body').allTextContents();
    expect(order.indexOf(EARLIER)).toBeLessThan(order.indexOf(RACED));
    await page.unroute('**/v1/conversations/*/messages*');
    expect(alice.errors).toEqual([]);
  });

  it('keeps it when its own message.created arrives after the stale page landed and a refresh is under way', async () => {
    const { page } = alice;
    const [lobby] = await sql<{ id: string }[]>`select id from conversations where title = 'Storefront lobby'`;
    // Each history request of the lobby: answered by the service at once, handed over when the test says.
    const held: { request: Request; release: () => void }[] = [];
    await page.route('**/v1/conversations/*/messages*', async (route: Route) => {
      const request = route.request();
      if (request.method() !== 'GET' || !request.url().includes(lobby!.id)) return route.fallback();
      const response = await route.fetch();
      await new Promise<void>((release) => held.push({ request, release }));
      await route.fulfill({ response });
    });
    // The lobby's events for this message (and any after it) wait until released, in order; acks pass.
    let releaseEvents!: () => void;
    const eventsReleased = new Promise<void>((resolve) => (releaseEvents = resolve));
    const queued: string[] = [];
    await page.routeWebSocket(/\/ws/, (ws) => {
      const server = ws.connectToServer();
      let open = false;
      void eventsReleased.then(() => {
        open = true;
        for (const frame of queued.splice(0)) ws.send(frame);
      });
      server.onMessage((frame) => {
        if (!open && typeof frame === 'string') {
          const parsed = JSON.parse(frame) as { type?: string; conversationId?: string; seq?: number; message?: { body?: string } };
          const lobbyEvent = parsed.conversationId === lobby!.id && typeof parsed.seq === 'number';
          if (lobbyEvent && (queued.length > 0 || (parsed.type === 'message.created' && parsed.message?.body === RACED_AGAIN))) {
            queued.push(frame);
            return;
          }
        }
        ws.send(frame);
      });
    });
    await page.reload();
    const q = await showLobby();
    await expect.poll(() => held.length, poll).toBe(1);

    await sendMessage(q, RACED_AGAIN);
    await expect.poll(() => outboxEmpty(), poll).toBe(true); // the ack is in; its event is held
    expect(queued).toHaveLength(1);

    // The first page (answered before the send) lands while a refresh of it may be under way.
    const first = held[0]!;
    const finished = page.waitForEvent('requestfinished', (r) => r === first.request);
    first.release();
    await finished;
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    // Then the message's own event, then every other answer.
    releaseEvents();
    await expect.poll(() => queued.length, poll).toBe(0);
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    for (const h of held) h.release();

    await q.locator('[data-testid="history"][data-loaded="true"]').waitFor();
    const raced = messageWith(page, RACED_AGAIN);
    await raced.locator('[data-tick="sent"]').waitFor(poll);
    for (const h of held) h.release(); // requests made since
    expect(await bubbles(q, RACED_AGAIN).count()).toBe(1);
    await page.unroute('**/v1/conversations/*/messages*');
    expect(alice.errors).toEqual([]);
  });
});
