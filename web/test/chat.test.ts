/**
 * The storefront's chat panel in a real browser, against the real chat service and
 * PostgreSQL: alice (a buyer) and carol (the seller) in two browser contexts.
 * The steps build on each other, in order.
 */
import type { Browser } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bubbles, composer, launchBrowser, messageWith, newSession, openConversation, openPanel, panel, screenshot, sendMessage, signIn, type UserSession } from './support/browser.ts';

const webUrl = inject('webUrl');
const controlUrl = inject('controlUrl');
const serviceUrl = inject('serviceUrl');
const sql = postgres(inject('databaseUrl'), { max: 1, onnotice: () => {} });

let browser: Browser;
let alice: UserSession;
let carol: UserSession;

const FIRST = 'Hi Carol! Is the mug dishwasher safe?';
const REPLY = 'Yes, it is dishwasher safe.';
const HOSTILE = '<img src=x onerror=alert(1)> and <script>alert("xss")</script>';
const WHILE_DOWN = 'Sent while the chat service was down';

async function control(action: 'stop' | 'start' | 'cut'): Promise<unknown> {
  const response = await fetch(`${controlUrl}/service/${action}`, { method: 'POST' });
  if (!response.ok) throw new Error(`control ${action}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function rowsWithBody(body: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages where body = ${body}`;
  return row!.n;
}

const poll = { timeout: 20_000, interval: 100 };

beforeAll(async () => {
  browser = await launchBrowser();
  alice = await newSession(browser, 'alice');
  carol = await newSession(browser, 'carol');
});

afterAll(async () => {
  await browser?.close();
  await sql.end();
});

describe.sequential('chat panel', () => {
  it('refuses the token to signed-out visitors and offers sign-in in the panel', async () => {
    const response = await fetch(`${webUrl}/api/chat-token`);
    expect(response.status).toBe(401);
    expect(response.headers.get('cache-control')).toBe('no-store');

    const visitor = await newSession(browser, 'visitor');
    await visitor.page.goto(webUrl);
    await visitor.page.getByRole('heading', { name: 'Handmade, from people you can talk to' }).waitFor();
    await screenshot(visitor.page, '01-products-signed-out.png');
    const p = await openPanel(visitor.page);
    await p.getByRole('link', { name: 'Sign in' }).waitFor();
    await visitor.context.close();
  });

  it('signs both users in; the token endpoint serves a chat credential without caching', async () => {
    await signIn(alice, webUrl, 'alice', '/products/ceramic-mug');
    await signIn(carol, webUrl, 'carol', '/');
    const token = await alice.page.evaluate(async () => {
      const r = await fetch('/api/chat-token');
      return { status: r.status, cacheControl: r.headers.get('cache-control'), body: (await r.json()) as { token: string } };
    });
    expect(token.status).toBe(200);
    expect(token.cacheControl).toBe('no-store');
    // A short-lived signed chat credential, never the session token (see chat-credential.test.ts).
    expect(token.body.token.split('.')).toHaveLength(3);
    // The session cookie itself stays out of reach of page scripts.
    expect(await alice.page.evaluate(() => document.cookie)).not.toContain('session-token');
  });

  it('opens a chat with the seller from the product page; carol gets an unread badge that clears when she reads', async () => {
    const { page } = alice;
    await page.getByRole('button', { name: 'Message the seller' }).click();
    const p = panel(page);
    await p.getByRole('heading', { name: 'Carol Seller' }).waitFor();
    await sendMessage(p, FIRST);
    await bubbles(p, FIRST).waitFor();
    await screenshot(page, '02-alice-product-page-chat.png');

    // carol: the badge on the launcher, then the conversation's own badge.
    await carol.page.getByTestId('launcher-badge').filter({ hasText: /^1$/ }).waitFor(poll);
    await expect.poll(() => carol.page.getByTestId('chat-launcher').getAttribute('aria-label'), poll).toBe('Open chat, 1 unread message');
    await expect.poll(() => carol.page.title(), poll).toMatch(/^\(1\) /);
    // carol's client acknowledges receipt: alice sees "delivered".
    await messageWith(page, FIRST).locator('[data-tick="delivered"]').waitFor(poll);
    await screenshot(carol.page, '03-carol-unread-badge.png');

    const cp = await openPanel(carol.page);
    const item = cp.getByRole('button', { name: /^Alice Shopper.*1 unread/ });
    await item.getByTestId('unread-badge').waitFor();
    await screenshot(carol.page, '04-carol-conversation-list.png');
    await item.click();
    await bubbles(cp, FIRST).waitFor();
    // Opening the conversation reads it: the unread count leaves the page title and the list, and alice sees "read".
    await expect.poll(() => carol.page.title(), poll).not.toMatch(/^\(\d/);
    await cp.getByRole('button', { name: 'Back to conversations' }).click();
    await expect.poll(() => cp.getByTestId('unread-badge').count(), poll).toBe(0);
    await cp.getByRole('button', { name: /^Alice Shopper/ }).click();
    await messageWith(page, FIRST).locator('[data-tick="read"]').waitFor(poll);
    await screenshot(page, '05-alice-read-tick.png');
  });

  it('shows the other user typing, then their reply; chat works both ways', async () => {
    const cp = panel(carol.page);
    await composer(cp).fill(REPLY);
    const indicator = panel(alice.page).getByTestId('typing-indicator');
    await indicator.getByText('Carol Seller is typing…').waitFor(poll);
    await screenshot(alice.page, '06-alice-sees-typing.png');
    await composer(cp).press('Enter');
    await bubbles(panel(alice.page), REPLY).waitFor(poll);
    // The message ends the indicator (typing stop on send).
    await expect.poll(() => indicator.textContent(), poll).toBe('');
    // New messages are announced to screen readers.
    await expect.poll(() => alice.page.getByTestId('chat-announcer').textContent(), poll).toContain(`New message from Carol Seller: ${REPLY}`);
  });

  it('keeps the history across a reload', async () => {
    const { page } = alice;
    await page.reload();
    const p = await openPanel(page);
    await openConversation(p, 'Carol Seller');
    await bubbles(p, FIRST).waitFor();
    await bubbles(p, REPLY).waitFor();
    expect(await p.getByTestId('message').count()).toBe(2);
  });

  it('shows markup in messages as text and never runs it', async () => {
    await sendMessage(panel(alice.page), HOSTILE);
    const received = bubbles(panel(carol.page), HOSTILE);
    await received.waitFor(poll);
    expect(await received.textContent()).toBe(HOSTILE);
    for (const session of [alice, carol]) {
      expect(await session.page.locator('img[src="x"]').count()).toBe(0);
      expect(await session.page.locator('[data-testid="history"] script').count()).toBe(0);
      expect(session.dialogs).toEqual([]);
    }
    await screenshot(carol.page, '07-carol-markup-as-text.png');
  });

  it('replies with a quoted preview and an image attachment, reacts, edits and deletes', async () => {
    const cp = panel(carol.page);
    const ap = panel(alice.page);
    // carol replies to alice's first message, with a photo.
    const first = messageWith(carol.page, FIRST);
    await first.hover();
    await first.getByRole('button', { name: 'Reply' }).click();
    await cp.getByTestId('reply-bar').getByText(FIRST).waitFor();
    const png = await carol.page.evaluate(() => {
      const canvas = document.createElement('canvas');
      canvas.width = 160;
      canvas.height = 110;
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#e8d5c0';
      g.fillRect(0, 0, 160, 110);
      g.fillStyle = '#8a5a3b';
      g.beginPath();
      g.arc(80, 55, 38, 0, Math.PI * 2);
      g.fill();
      return canvas.toDataURL('image/png').split(',')[1]!;
    });
    await cp.getByTestId('file-input').setInputFiles({ name: 'glaze.png', mimeType: 'image/png', buffer: Buffer.from(png, 'base64') });
    await cp.getByText('ready').waitFor(poll);
    await screenshot(carol.page, '08-carol-replying-with-photo.png');
    const CAPTION = 'Here is the glaze up close';
    await sendMessage(cp, CAPTION);

    const got = messageWith(alice.page, CAPTION);
    await got.waitFor(poll);
    await got.getByRole('button', { name: /^Reply to Alice Shopper/ }).waitFor();
    const image = got.getByTestId('attachment-preview');
    await image.waitFor(poll);
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), poll).toBe(160);
    expect(await image.getAttribute('src')).toMatch(/^blob:/);

    // alice reacts; carol sees the count.
    await got.hover();
    await got.getByRole('button', { name: 'React', exact: true }).click();
    await got.getByRole('menuitemcheckbox', { name: 'React with ❤️' }).click();
    await messageWith(carol.page, CAPTION).getByRole('button', { name: /^❤️ 1 reaction/ }).waitFor(poll);

    // alice edits a typo, then deletes the message.
    const TYPO = 'Can you ship by Fridya?';
    const FIXED = 'Can you ship by Friday?';
    await sendMessage(ap, TYPO);
    const mine = messageWith(alice.page, TYPO);
    await mine.locator('[data-tick="read"]').waitFor(poll);
    await mine.hover();
    await mine.getByRole('button', { name: 'More actions' }).click();
    await mine.getByRole('menuitem', { name: 'Edit' }).click();
    const editBox = ap.getByRole('textbox', { name: 'Edit message' });
    await editBox.fill(FIXED);
    await editBox.press('Enter');
    const edited = messageWith(carol.page, FIXED);
    await edited.getByText('edited').waitFor(poll);
    await screenshot(carol.page, '09-carol-reply-image-reaction-edit.png');

    const fixed = messageWith(alice.page, FIXED);
    await fixed.hover();
    await fixed.getByRole('button', { name: 'More actions' }).click();
    await fixed.getByRole('menuitem', { name: 'Delete…' }).click();
    await fixed.getByRole('menuitem', { name: 'Delete for everyone' }).click();
    await cp.getByText('Message deleted').waitFor(poll);
    expect(await bubbles(cp, FIXED).count()).toBe(0);
  });

  it('finds messages with search and opens their conversation', async () => {
    const { page } = alice;
    const p = panel(page);
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await p.getByRole('searchbox', { name: 'Search messages' }).fill('dishwasher');
    await p.getByRole('button', { name: 'Search', exact: true }).click();
    const results = p.getByRole('region', { name: 'Search results' });
    await results.locator('mark', { hasText: /^dishwasher$/i }).first().waitFor(poll);
    await screenshot(page, '10-alice-search.png');
    await results.getByRole('button').filter({ hasText: 'Is the mug' }).click();
    await p.getByRole('heading', { name: 'Carol Seller' }).waitFor();
  });

  it('queues a message while offline and sends it when the network returns', async () => {
    const { page, context } = alice;
    const status = panel(page).getByTestId('connection-status');
    const text = () => status.getByTestId('connection-text').textContent({ timeout: 1000 }).catch(() => null);
    const OFFLINE = 'Written on the train';
    await context.setOffline(true);
    try {
      await expect.poll(text, poll).toBe('Offline');
      await sendMessage(panel(page), OFFLINE);
      await expect.poll(text, poll).toBe('Offline — 1 message queued');
      await messageWith(page, OFFLINE).locator('[data-tick="pending"]').waitFor();
      await screenshot(page, '11-alice-offline-queued.png');
    } finally {
      await context.setOffline(false);
    }
    await bubbles(panel(carol.page), OFFLINE).waitFor(poll);
    await expect.poll(() => status.getAttribute('data-status'), poll).toBe('connected');
    expect(await rowsWithBody(OFFLINE)).toBe(1);
  });

  it('shows reconnecting while the service is down and delivers the message sent meanwhile exactly once', async () => {
    const { page } = alice;
    const status = panel(page).getByTestId('connection-status');
    const text = () => status.getByTestId('connection-text').textContent({ timeout: 1000 }).catch(() => null);
    await control('stop');
    try {
      await expect.poll(text, poll).toMatch(/^Reconnecting/);
      await sendMessage(panel(page), WHILE_DOWN);
      await messageWith(page, WHILE_DOWN).locator('[data-tick="pending"]').waitFor();
      await expect.poll(text, { timeout: 30_000, interval: 50 }).toMatch(/^Reconnecting in \d+ s — 1 message queued$/);
      await screenshot(page, '12-alice-reconnecting-queued.png');
    } finally {
      await control('start');
    }
    // Rather than wait out the backoff, the user asks for an attempt now.
    await status.getByRole('button', { name: 'Retry now' }).click();
    await expect.poll(() => status.getAttribute('data-status'), poll).toBe('connected');
    const received = bubbles(panel(carol.page), WHILE_DOWN);
    await received.waitFor(poll);
    await messageWith(page, WHILE_DOWN).locator('[data-tick="read"]').waitFor(poll);
    expect(await rowsWithBody(WHILE_DOWN)).toBe(1);
    expect(await received.count()).toBe(1);
    expect(await bubbles(panel(page), WHILE_DOWN).count()).toBe(1);
  });

  it('sends exactly once when the socket drops before the ack arrives', async () => {
    const { page } = alice;
    const LOST_ACK = 'The ack of this one is lost';
    let dropNextSendAck = true;
    const sendIds = new Set<string>();
    // Route alice's socket through the test: the first message.send is committed by the
    // service, but its ack never reaches the page, and the socket drops.
    await page.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        if (typeof message === 'string' && dropNextSendAck) {
          const frame = JSON.parse(message) as { type: string; id: string; body?: string };
          if (frame.type === 'message.send' && frame.body === LOST_ACK) sendIds.add(frame.id);
        }
        server.send(message);
      });
      server.onMessage((message) => {
        if (typeof message === 'string' && dropNextSendAck && sendIds.size > 0) {
          const frame = JSON.parse(message) as { type: string; id?: string };
          if (frame.type === 'ack' && frame.id && sendIds.has(frame.id)) {
            dropNextSendAck = false;
            void ws.close({ code: 4000, reason: 'test: ack lost' });
            void server.close();
            return;
          }
        }
        ws.send(message);
      });
    });
    await page.reload();
    const p = await openPanel(page);
    await openConversation(p, 'Carol Seller');
    await expect.poll(() => p.getByTestId('connection-status').getAttribute('data-status'), poll).toBe('connected');
    await sendMessage(p, LOST_ACK);
    await bubbles(panel(carol.page), LOST_ACK).waitFor(poll);
    await expect.poll(() => dropNextSendAck, poll).toBe(false);
    await messageWith(page, LOST_ACK).locator('[data-tick="read"]').waitFor(poll);
    expect(await rowsWithBody(LOST_ACK)).toBe(1);
    expect(await bubbles(panel(carol.page), LOST_ACK).count()).toBe(1);
    expect(await bubbles(p, LOST_ACK).count()).toBe(1);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  });

  it('shows a failed send with Retry, and sends it on retry', async () => {
    const { page } = alice;
    const FAILS_ONCE = 'This one fails the first time';
    let refused = false;
    // The first attempt is refused by "the server" (a non-retryable error frame); later ones pass through.
    await page.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        if (typeof message === 'string' && !refused) {
          const frame = JSON.parse(message) as { type: string; id: string; body?: string };
          if (frame.type === 'message.send' && frame.body === FAILS_ONCE) {
            refused = true;
            ws.send(JSON.stringify({ type: 'error', id: frame.id, code: 'VALIDATION_FAILED', message: 'Refused by the test.', retryable: false }));
            return;
          }
        }
        server.send(message);
      });
      server.onMessage((message) => ws.send(message));
    });
    await page.reload();
    const p = await openPanel(page);
    await openConversation(p, 'Carol Seller');
    await expect.poll(() => p.getByTestId('connection-status').getAttribute('data-status'), poll).toBe('connected');
    await sendMessage(p, FAILS_ONCE);
    const item = messageWith(page, FAILS_ONCE);
    await item.locator('[data-tick="failed"]').waitFor(poll);
    await item.getByText('Refused by the test.').waitFor();
    await screenshot(page, '13-alice-failed-retry.png');
    expect(await rowsWithBody(FAILS_ONCE)).toBe(0);
    await item.getByRole('button', { name: 'Retry' }).click();
    await bubbles(panel(carol.page), FAILS_ONCE).waitFor(poll);
    await item.locator('[data-tick="read"]').waitFor(poll);
    expect(await rowsWithBody(FAILS_ONCE)).toBe(1);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  });

  it('loads older history as the user scrolls up', async () => {
    const { page } = alice;
    // 70 messages in a new group, sent by alice and carol through the service's HTTP API.
    const tokens = await Promise.all([alice, carol].map((s) => s.page.evaluate(async () => ((await (await fetch('/api/chat-token')).json()) as { token: string }).token)));
    const api = async (token: string, method: string, path: string, body: unknown) => {
      const response = await fetch(`${serviceUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.ok).toBe(true);
      return (await response.json()) as { id: string };
    };
    const group = await api(tokens[0]!, 'POST', '/v1/conversations', { title: 'Glaze club', memberIds: ['carol'] });
    for (let i = 1; i <= 70; i++) {
      await api(tokens[i % 2]!, 'POST', `/v1/conversations/${group.id}/messages`, { clientMsgId: `older-${i}`, body: `Older message ${i}` });
    }
    const p = panel(page);
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await p.getByRole('button', { name: /^Glaze club/ }).click();
    await bubbles(p, 'Older message 70').waitFor(poll);
    const history = p.getByTestId('history');
    expect(await p.getByTestId('message').count()).toBe(30);
    await screenshot(page, '14-alice-group-history.png');
    // Scrolling to the top loads the next older page above, keeping the reading position.
    for (const expected of [60, 70]) {
      await history.evaluate((el) => (el.scrollTop = 0));
      await expect.poll(() => p.getByTestId('message').count(), poll).toBe(expected);
      expect(await history.evaluate((el) => el.scrollTop)).toBeGreaterThan(0);
    }
    await bubbles(p, 'Older message 1').waitFor();
    await p.getByText('Start of the conversation').waitFor();
  });

  it('falls back to polling when the socket cannot connect, and still receives messages', async () => {
    const bob = await newSession(browser, 'bob');
    // Every socket bob opens is refused (a proxy that blocks WebSockets); HTTP still works.
    await bob.page.routeWebSocket(/\/ws$/, (ws) => void ws.close({ code: 1006 }));
    await signIn(bob, webUrl, 'bob', '/');
    const p = await openPanel(bob.page);
    await expect
      .poll(() => p.getByTestId('connection-text').textContent({ timeout: 1000 }).catch(() => null), { timeout: 30_000, interval: 200 })
      .toMatch(/^Live updates unavailable — polling/);
    await p.getByRole('button', { name: /^Storefront lobby/ }).click();
    const LOBBY = 'Hello lobby, anyone polling?';
    const ap = panel(alice.page);
    await ap.getByRole('button', { name: 'Back to conversations' }).click();
    await ap.getByRole('button', { name: /^Storefront lobby/ }).click();
    await sendMessage(ap, LOBBY);
    await bubbles(p, LOBBY).waitFor(poll);
    await screenshot(bob.page, '15-bob-polling.png');
    await bob.context.close();
  });

  it('is keyboard operable: open, send with Enter, close with Escape', async () => {
    const { page } = carol;
    if (await panel(page).isVisible()) await panel(page).getByTestId('panel-close').click();
    await page.getByTestId('chat-launcher').focus();
    await page.keyboard.press('Enter');
    await panel(page).waitFor();
    // Focus lands in the composer of the open conversation.
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.id)).toMatch(/^composer-/);
    await page.keyboard.type('Sent from the keyboard');
    await page.keyboard.press('Enter');
    await messageWith(page, 'Sent from the keyboard').locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    expect(await rowsWithBody('Sent from the keyboard')).toBe(1);
    await page.keyboard.press('Escape');
    await panel(page).waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('chat-launcher');
  });

  it('keeps every page free of script errors and dialogs; the full-page view shows the same history', async () => {
    for (const session of [alice, carol]) {
      expect(session.errors).toEqual([]);
      expect(session.dialogs).toEqual([]);
    }
    await alice.page.goto(`${webUrl}/messages`);
    await alice.page.getByRole('button', { name: /^Carol Seller/ }).click();
    await bubbles(alice.page, FIRST).waitFor();
    await bubbles(alice.page, 'Sent from the keyboard').waitFor();
    expect(await alice.page.getByTestId('chat-launcher').count()).toBe(0); // no floating panel on the full view
    await screenshot(alice.page, '16-alice-full-page-messages.png');
  });
});
