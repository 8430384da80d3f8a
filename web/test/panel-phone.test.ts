/**
 * The panel shoppers expect (issue 14), in Chromium against the real service and PostgreSQL:
 * bob on a 390×844 phone, carol (the seller) on a desktop. Phone layout without sideways
 * scrolling, the full-screen sheet, bubbles inside their column, the growing message box,
 * URLs that survive a reload, keyboard use (one tab stop per message, arrows, Escape),
 * presence while disconnected, group receipts, the unread title, and an axe-core audit of
 * every page and panel state at both sizes. The steps build on each other, in order.
 */
import type { Browser, Locator, Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { axeAudit, type AxeViolation } from './support/axe.ts';
import { bubbles, composer, DESKTOP, launchBrowser, messageWith, newSession, openConversation, openPanel, panel, PHONE, screenshot, sendMessage, signIn, type UserSession } from './support/browser.ts';

const webUrl = inject('webUrl');
const poll = { timeout: 20_000, interval: 100 };
const sql = postgres(inject('databaseUrl'), { max: 1, onnotice: () => {} });

let browser: Browser;
let bob: UserSession;
let carol: UserSession;
let directId = '';

const FIRST = 'Hello! Does the mug come in blue?';
const LONG = 'It does: the blue glaze is a deep cobalt that runs slightly at the rim, so every mug comes out a little different from the photo on the listing page.';
const SHORT_REPLY = 'Lovely, thanks!';

/** Everything wider than the viewport scrolls sideways: the page must not be. */
async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return page.evaluate(() => ({ scrollWidth: document.scrollingElement!.scrollWidth, innerWidth: window.innerWidth }));
}

async function box(locator: Locator) {
  const b = await locator.boundingBox();
  if (!b) throw new Error('no bounding box (not visible)');
  return b;
}

function inside(inner: { x: number; y: number; width: number; height: number }, outer: { x: number; y: number; width: number; height: number }, slack = 0.5): boolean {
  return inner.x >= outer.x - slack && inner.y >= outer.y - slack && inner.x + inner.width <= outer.x + outer.width + slack && inner.y + inner.height <= outer.y + outer.height + slack;
}

/** Elements a Tab key press can land on, inside `root`. */
function tabStops(root: Locator): Promise<number> {
  return root.evaluate((el) =>
    [...el.querySelectorAll<HTMLElement>('a[href], button, input, textarea, select, audio[controls], [tabindex]')].filter((e) => e.tabIndex >= 0 && !(e as HTMLButtonElement).disabled && e.getClientRects().length > 0).length,
  );
}

function activeLabel(page: Page): Promise<string | null> {
  return page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.getAttribute('aria-label') ?? null);
}

const audits: { state: string; violations: AxeViolation[] }[] = [];
async function audit(page: Page, state: string): Promise<void> {
  audits.push({ state, violations: await axeAudit(page) });
}

beforeAll(async () => {
  browser = await launchBrowser();
  bob = await newSession(browser, 'bob', PHONE);
  carol = await newSession(browser, 'carol', DESKTOP);
  await signIn(bob, webUrl, 'bob', '/');
  await signIn(carol, webUrl, 'carol', '/');
});

// A failed step leaves both screens behind, to see why.
afterEach(async (context) => {
  if (context.task.result?.state !== 'fail') return;
  const name = context.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  for (const session of [bob, carol]) await screenshot(session.page, `failed-${name}-${session.name}.png`).catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await sql.end();
});

describe.sequential('the chat panel on a phone and a desktop', () => {
  it('has no sideways scrolling on any page at 390×844 and 360×740, and keeps the account controls on screen', async () => {
    const page = bob.page;
    for (const size of [{ width: 390, height: 844 }, { width: 360, height: 740 }]) {
      await page.setViewportSize(size);
      for (const path of ['/', '/products/ceramic-mug', '/messages', '/login']) {
        await page.goto(`${webUrl}${path}`);
        await page.locator('main').waitFor();
        const { scrollWidth, innerWidth } = await overflow(page);
        // A mobile browser zooms out to fit content wider than the screen (innerWidth grows with
        // it): compare with the device width, and check no zoom-out happened.
        expect(innerWidth, `${path} at ${size.width}px: zoomed out`).toBe(size.width);
        expect(scrollWidth, `${path} at ${size.width}px`).toBeLessThanOrEqual(size.width);
        if (path !== '/login') {
          const signOut = await box(page.getByRole('button', { name: 'Sign out' }));
          expect(signOut.x + signOut.width, `Sign out on ${path}`).toBeLessThanOrEqual(size.width);
        }
        await screenshot(page, `phone-${size.width}-${path === '/' ? 'home' : path.slice(1).replace(/\//g, '-')}.png`);
        if (size.width === 390 && path !== '/login') await audit(page, `phone ${path}`);
      }
    }
    await page.setViewportSize(PHONE.viewport);
  });

  it('opens a full-screen sheet from the product page; the message box is on screen; the viewport lets the keyboard resize it', async () => {
    const { page } = bob;
    await page.goto(`${webUrl}/products/ceramic-mug`);
    expect(await page.locator('meta[name="viewport"]').getAttribute('content')).toMatch(/interactive-widget=resizes-content/);
    expect(await page.locator('meta[name="viewport"]').getAttribute('content')).toMatch(/viewport-fit=cover/);
    await page.getByRole('button', { name: 'Message the seller' }).click();
    const p = panel(page);
    await p.getByRole('heading', { name: 'Carol Seller' }).waitFor();
    const sheet = await box(p);
    expect(sheet).toEqual({ x: 0, y: 0, width: 390, height: 844 });
    // The launcher is under the sheet: the header's close button closes it. The page behind is inert.
    expect(await page.getByTestId('chat-launcher').isVisible()).toBe(false);
    expect(await p.getAttribute('aria-modal')).toBe('true');
    expect(await page.evaluate(() => [document.querySelector<HTMLElement>('main')!.inert, document.querySelector<HTMLElement>('.site-header')!.inert])).toEqual([true, true]);
    const input = await box(composer(p));
    expect(inside(input, sheet)).toBe(true);
    await sendMessage(p, FIRST);
    await bubbles(p, FIRST).waitFor();
    directId = (await p.getByTestId('conversation').getAttribute('data-conversation-id'))!;
    expect(directId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await overflow(page)).toEqual({ scrollWidth: 390, innerWidth: 390 });
    await screenshot(page, 'phone-sheet-conversation.png');
    await audit(page, 'phone panel conversation');
    // A smaller phone: still the whole screen, the message box still on it.
    await page.setViewportSize({ width: 360, height: 740 });
    await expect.poll(() => box(p)).toEqual({ x: 0, y: 0, width: 360, height: 740 });
    expect(inside(await box(composer(p)), { x: 0, y: 0, width: 360, height: 740 })).toBe(true);
    expect(await overflow(page)).toEqual({ scrollWidth: 360, innerWidth: 360 });
    await screenshot(page, 'phone-360-sheet-conversation.png');
    await page.setViewportSize(PHONE.viewport);
  });

  it("keeps the shopper's own reply bubble, quote included, inside its column", async () => {
    // carol answers at length; bob replies to that message (a tap on the bubble shows its toolbar).
    const cp = await openPanel(carol.page);
    await openConversation(cp, 'Bob Buyer');
    await sendMessage(cp, LONG);
    const { page } = bob;
    const theirs = messageWith(page, LONG);
    await theirs.waitFor(poll);
    await theirs.getByTestId('bubble').click();
    await theirs.getByRole('button', { name: 'Reply' }).click();
    await panel(page).getByTestId('reply-bar').waitFor();
    await sendMessage(panel(page), SHORT_REPLY);
    const mine = messageWith(page, SHORT_REPLY);
    await mine.getByRole('button', { name: /^Reply to Carol Seller/ }).waitFor(poll);
    // Measured in one go (the history may still be scrolling to the new message): horizontally,
    // every bubble lies inside the history, and the quote inside its bubble.
    const boxes = await panel(page).getByTestId('history').evaluate((history) => {
      const r = (el: Element) => el.getBoundingClientRect();
      const h = r(history);
      return [...history.querySelectorAll('[data-testid="message"]')].map((m) => {
        const b = r(m.querySelector('[data-testid="bubble"]')!);
        const q = m.querySelector('.quote') ? r(m.querySelector('.quote')!) : null;
        return { text: m.querySelector('[data-testid="message-body"]')?.textContent, bubbleInHistory: b.left >= h.left - 0.5 && b.right <= h.right + 0.5, quoteInBubble: q === null || (q.left >= b.left - 0.5 && q.right <= b.right + 0.5 && q.top >= b.top - 0.5 && q.bottom <= b.bottom + 0.5), bubbleWidth: b.width, historyWidth: h.width };
      });
    });
    expect(boxes.length).toBeGreaterThanOrEqual(3);
    for (const b of boxes) expect(b, JSON.stringify(b)).toMatchObject({ bubbleInHistory: true, quoteInBubble: true });
    await screenshot(page, 'phone-own-reply-bubble.png');
  });

  it('grows the message box with its text, then scrolls it past a maximum', async () => {
    const { page } = bob;
    const input = composer(panel(page));
    const one = (await box(input)).height;
    await input.fill('line 1\nline 2\nline 3\nline 4');
    await expect.poll(async () => (await box(input)).height).toBeGreaterThan(one * 2);
    // All four lines show: nothing scrolls inside the box.
    expect(await input.evaluate((el) => el.scrollHeight - el.clientHeight)).toBeLessThanOrEqual(1);
    await screenshot(page, 'phone-composer-grown.png');
    await input.fill(Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'));
    await expect.poll(async () => (await box(input)).height).toBeLessThanOrEqual(161);
    expect(await input.evaluate((el) => getComputedStyle(el).overflowY)).toBe('auto');
    await input.fill('');
    await expect.poll(async () => (await box(input)).height).toBeLessThanOrEqual(one + 0.5);
  });

  it('keeps the panel open on the same conversation across a reload', async () => {
    const { page } = bob;
    await page.reload();
    await panel(page).getByRole('heading', { name: 'Carol Seller' }).waitFor();
    await bubbles(panel(page), SHORT_REPLY).waitFor();
  });

  it('shows /messages as one column on a phone, with /messages/<id> as a real URL that survives a reload and a back button', async () => {
    const { page } = bob;
    await page.goto(`${webUrl}/messages`);
    const list = page.locator('.messenger-list');
    await list.getByRole('button', { name: /^Carol Seller/ }).click();
    await page.waitForURL(`${webUrl}/messages/${directId}`);
    await page.getByRole('heading', { name: 'Carol Seller' }).waitFor();
    expect(await list.isVisible()).toBe(false);
    const conversation = await box(page.getByTestId('conversation'));
    expect(conversation.x).toBeGreaterThanOrEqual(0);
    expect(conversation.x + conversation.width).toBeLessThanOrEqual(390);
    expect(inside(await box(composer(page)), { x: 0, y: 0, width: 390, height: 844 })).toBe(true);
    expect(await overflow(page)).toEqual({ scrollWidth: 390, innerWidth: 390 });
    await screenshot(page, 'phone-messages-conversation.png');
    await audit(page, 'phone /messages/<id>');

    await page.reload();
    await bubbles(page, SHORT_REPLY).waitFor();
    expect(page.url()).toBe(`${webUrl}/messages/${directId}`);

    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await page.waitForURL(`${webUrl}/messages`);
    await list.getByRole('button', { name: /^Carol Seller/ }).waitFor();
    expect(await page.getByTestId('conversation').count()).toBe(0);
    await screenshot(page, 'phone-messages-list.png');
    await audit(page, 'phone /messages');

    // On a desktop the same URL shows both columns, and the back button is not needed there.
    await carol.page.goto(`${webUrl}/messages/${directId}`);
    await bubbles(carol.page, SHORT_REPLY).waitFor(poll);
    await carol.page.locator('.messenger-list').getByRole('button', { name: /^Bob Buyer/ }).waitFor();
    expect(await carol.page.getByRole('button', { name: 'Back to conversations' }).isVisible()).toBe(false);
    await screenshot(carol.page, 'desktop-messages-conversation.png');
    await audit(carol.page, 'desktop /messages/<id>');
  });

  it('shows presence as unknown while the own connection is down, not the last known "Online"', async () => {
    const { page, context } = bob;
    await page.goto(`${webUrl}/messages/${directId}`);
    const subtitle = page.getByTestId('conversation-subtitle');
    await expect.poll(() => subtitle.textContent(), poll).toBe('Online');
    await page.locator('.conversation-header .presence-online').waitFor();
    await context.setOffline(true);
    try {
      await expect.poll(() => subtitle.textContent(), poll).toBe('Connecting…');
      expect(await page.locator('.conversation-header .presence-online').count()).toBe(0);
      expect(await page.locator('.presence-online').count()).toBe(0);
      await screenshot(page, 'phone-presence-while-offline.png');
    } finally {
      await context.setOffline(false);
    }
    await expect.poll(() => subtitle.textContent(), poll).toBe('Online');
  });

  it('is keyboard operable: one tab stop per message, arrow keys in its toolbar, Escape closes the menu, then the panel, and focus returns to the launcher', async () => {
    const { page } = carol;
    await page.goto(`${webUrl}/`);
    const p = await openPanel(page);
    await openConversation(p, 'Bob Buyer');
    await bubbles(p, SHORT_REPLY).waitFor(poll);
    const messages = p.getByTestId('message');
    const count = await messages.count();
    expect(count).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < count; i++) expect(await tabStops(messages.nth(i)), `message ${i}`).toBe(1);
    expect(await tabStops(p.getByTestId('history'))).toBe(count);

    // Shift+Tab from the attach button walks the history backwards, one message at a time.
    await p.locator('.composer-attach').focus();
    await page.keyboard.press('Shift+Tab');
    expect(await activeLabel(page)).toBe('Reply');
    const last = await page.evaluate(() => document.activeElement!.closest('[data-testid="message"]')!.getAttribute('data-message-id'));
    await page.keyboard.press('Shift+Tab');
    expect(await activeLabel(page)).toBe('Reply');
    const previous = await page.evaluate(() => document.activeElement!.closest('[data-testid="message"]')!.getAttribute('data-message-id'));
    expect(previous).not.toBe(last);
    // Arrows move inside the toolbar; Enter opens the reactions menu.
    await page.keyboard.press('ArrowRight');
    expect(await activeLabel(page)).toBe('React');
    await page.keyboard.press('Enter');
    await p.getByRole('menu', { name: 'Reactions' }).waitFor();
    expect(await activeLabel(page)).toBe('React with 👍');
    await page.keyboard.press('ArrowRight');
    expect(await activeLabel(page)).toBe('React with ❤️');
    await screenshot(page, 'desktop-reaction-menu.png');
    await audit(page, 'desktop panel reaction menu');
    // Escape: first the menu (focus back on its button, the panel stays) …
    await page.keyboard.press('Escape');
    await p.getByRole('menu').waitFor({ state: 'detached' });
    expect(await activeLabel(page)).toBe('React');
    expect(await p.isVisible()).toBe(true);
    // … then the panel, with focus on a toolbar (not in the input), and focus returns to the launcher.
    await page.keyboard.press('Escape');
    await p.waitFor({ state: 'detached' });
    expect(await activeLabel(page)).toBe('chat-launcher');

    // A click on a bare part of the panel keeps focus in it: Escape still closes it.
    await page.keyboard.press('Enter');
    await p.waitFor();
    await p.locator('.history-top').click();
    expect(await page.evaluate(() => !!document.activeElement?.closest('[data-testid="chat-panel"]'))).toBe(true);
    await page.keyboard.press('Escape');
    await p.waitFor({ state: 'detached' });
    expect(await activeLabel(page)).toBe('chat-launcher');
  });

  it('does every message action from the keyboard alone: reply, react, edit, delete', async () => {
    const { page } = carol;
    const active = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        if (!el) return null;
        if (el.getAttribute('role') === 'menuitem') return el.textContent!.trim();
        return el.getAttribute('aria-label') ?? el.tagName;
      });
    await page.locator('[data-testid="chat-launcher"][data-ready="true"]').focus();
    await page.keyboard.press('Enter');
    const p = panel(page);
    await p.getByRole('heading', { name: 'Bob Buyer' }).waitFor();
    await expect.poll(active).toBe('TEXTAREA');
    await page.keyboard.type('A first answer');
    await page.keyboard.press('Enter');
    await messageWith(page, 'A first answer').locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    // Back from the message box to the last message's toolbar: Reply.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await active()).toBe('Reply');
    await page.keyboard.press('Enter');
    await p.getByTestId('reply-bar').waitFor();
    expect(await active()).toBe('TEXTAREA');
    await page.keyboard.type('Replied by keybaord');
    await page.keyboard.press('Enter');
    const reply = messageWith(page, 'Replied by keybaord');
    await reply.locator('.quote').waitFor(poll);
    await reply.locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    // React: the reactions menu, Enter on 👍.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('ArrowRight');
    expect(await active()).toBe('React');
    await page.keyboard.press('Enter');
    expect(await active()).toBe('React with 👍');
    await page.keyboard.press('Enter');
    await reply.getByRole('button', { name: /^👍 1 reaction/ }).waitFor(poll);
    // Edit: More, down to Edit (after "Show the quoted message"), fix the typo, Enter.
    await page.keyboard.press('ArrowRight');
    expect(await active()).toBe('More actions');
    await page.keyboard.press('Enter');
    expect(await active()).toBe('Show the quoted message');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    expect(await active()).toBe('TEXTAREA');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Replied by keyboard');
    await page.keyboard.press('Enter');
    const edited = messageWith(page, 'Replied by keyboard');
    await edited.getByText('edited').waitFor(poll);
    await expect.poll(active).toBe('More actions');
    // Delete: More, End (Delete…), Enter, then confirm.
    await page.keyboard.press('Enter');
    await page.keyboard.press('End');
    expect(await active()).toBe('Delete…');
    await page.keyboard.press('Enter');
    await expect.poll(active).toBe('Delete for everyone');
    await page.keyboard.press('Enter');
    await p.getByText('Message deleted').last().waitFor(poll);
    expect(await bubbles(p, 'Replied by keyboard').count()).toBe(0);
    await screenshot(page, 'desktop-keyboard-actions.png');
    // Focus stayed in the panel: Escape closes it, back to the launcher.
    await page.keyboard.press('Escape');
    await p.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('chat-launcher');
  });

  it("keeps a message's toolbar off its neighbours' time and ticks", async () => {
    const { page } = carol;
    const p = await openPanel(page);
    await p.getByRole('heading', { name: 'Bob Buyer' }).waitFor();
    const items = p.getByTestId('message');
    const n = await items.count();
    // The last two messages with actions (a deleted one has none).
    const withActions = await items.evaluateAll((els) => els.map((el, i) => (el.querySelector('[role="toolbar"]') ? i : -1)).filter((i) => i >= 0));
    for (const i of withActions.slice(-2)) {
      const item = items.nth(i);
      await item.hover();
      const toolbar = item.getByRole('toolbar');
      await expect.poll(() => toolbar.evaluate((el) => getComputedStyle(el).opacity)).toBe('1');
      const t = await box(toolbar);
      const history = await box(p.getByTestId('history'));
      expect(inside(t, history), 'toolbar inside the history').toBe(true);
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const other = await items.nth(j).getByTestId('bubble').boundingBox();
        if (!other) continue;
        const overlaps = t.x < other.x + other.width && other.x < t.x + t.width && t.y < other.y + other.height && other.y < t.y + t.height;
        expect(overlaps, `toolbar of message ${i} over bubble ${j}`).toBe(false);
      }
    }
    await screenshot(page, 'desktop-toolbar-beside-bubble.png');
  });

  it('says who wrote a search hit once', async () => {
    const { page } = carol;
    const p = await openPanel(page);
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await p.getByRole('searchbox', { name: 'Search messages' }).fill('blue');
    await p.getByRole('button', { name: 'Search', exact: true }).click();
    const hit = p.getByRole('region', { name: 'Search results' }).getByRole('button').filter({ hasText: 'come in blue' });
    await hit.waitFor(poll);
    expect(await hit.locator('.search-hit-where').textContent()).toBe('Bob Buyer');
    await p.getByRole('button', { name: 'Clear search' }).click();
  });

  it('counts group receipts as "Seen by N" with who on demand, and the online count matches the member list', async () => {
    const LOBBY = 'Anyone else waiting for the blue mugs?';
    await bob.page.goto(`${webUrl}/`);
    const bp = await openPanel(bob.page);
    await openConversation(bp, 'Storefront lobby');
    await sendMessage(bp, LOBBY);
    const mine = messageWith(bob.page, LOBBY);
    await mine.locator('[data-tick="sent"], [data-tick="delivered"]').first().waitFor(poll);

    // carol's list names the sender of a group's last message.
    const cp = await openPanel(carol.page);
    const back = cp.getByRole('button', { name: 'Back to conversations' });
    if (await back.isVisible()) await back.click();
    const lobbyItem = cp.getByRole('button', { name: /^Storefront lobby/ });
    await lobbyItem.filter({ hasText: `Bob: ${LOBBY}` }).waitFor(poll);
    await lobbyItem.click();
    await bubbles(cp, LOBBY).waitFor(poll);

    // carol read it: bob sees "Seen by 1", and who on demand.
    const seen = mine.getByTestId('seen-by');
    await expect.poll(() => seen.textContent({ timeout: 1000 }).catch(() => null), poll).toBe('Seen by 1');
    await seen.click();
    const who = mine.getByTestId('seen-list');
    await who.getByText('Carol Seller').waitFor();
    expect(await who.getByRole('listitem').count()).toBe(1);
    await screenshot(bob.page, 'phone-group-seen-by.png');

    // The header's online count is the member list's.
    const subtitle = cp.getByTestId('conversation-subtitle');
    await expect.poll(() => subtitle.textContent(), poll).toMatch(/^4 members · \d online$/);
    await subtitle.click();
    const members = cp.getByTestId('member-list');
    await members.waitFor();
    const listed = await members.getByText('online', { exact: true }).count();
    expect(await subtitle.textContent()).toBe(`4 members · ${listed} online`);
    expect(listed).toBeGreaterThanOrEqual(2); // bob and carol are both here
    await screenshot(carol.page, 'desktop-group-members.png');
    await audit(carol.page, 'desktop panel group with members');
  });

  it('shows unread messages in the page title and the badge; the launcher toggles the panel', async () => {
    const { page } = carol;
    const launcher = page.getByTestId('chat-launcher');
    await panel(page).waitFor();
    await launcher.click();
    await panel(page).waitFor({ state: 'detached' });
    expect(await launcher.getAttribute('aria-expanded')).toBe('false');
    const title = (await page.title()).replace(/^\(\d+\) /, '');

    await page.goto(`${webUrl}/products/ceramic-mug`);
    const productTitle = await page.title();
    const bp = await openPanel(bob.page);
    await openConversation(bp, 'Carol Seller');
    await sendMessage(bp, 'One more question about shipping');
    await expect.poll(() => page.title(), poll).toBe(`(1) ${productTitle}`);
    await page.getByTestId('launcher-badge').filter({ hasText: /^1$/ }).waitFor(poll);
    expect(await launcher.getAttribute('aria-label')).toBe('Open chat, 1 unread message');
    // Navigating keeps the count in the new page's title.
    await page.getByRole('link', { name: 'Products', exact: true }).click();
    await expect.poll(() => page.title(), poll).toMatch(/^\(1\) /);
    expect(title).not.toMatch(/^\(/);

    await launcher.click();
    const p = await openPanel(page);
    expect(await launcher.getAttribute('aria-label')).toBe('Close chat');
    expect(await launcher.getAttribute('aria-expanded')).toBe('true');
    await openConversation(p, 'Bob Buyer');
    await expect.poll(() => page.title(), poll).not.toMatch(/^\(/);
    await launcher.click();
    await p.waitFor({ state: 'detached' });
  });

  it('keeps the desktop panel below the header and its account area', async () => {
    const { page } = carol;
    await page.setViewportSize({ width: 1280, height: 700 });
    const p = await openPanel(page);
    const header = await box(page.locator('.site-header'));
    const sheet = await box(p);
    expect(sheet.y).toBeGreaterThanOrEqual(header.y + header.height);
    await screenshot(page, 'desktop-700-panel.png');
    await page.setViewportSize(DESKTOP.viewport);
  });

  it('carries the product a chat was started from as a card, on the message and atop the conversation, for shopper and seller', async () => {
    const ASK = 'Is the linen pre-washed?';
    const { page } = bob;
    await page.goto(`${webUrl}/products/linen-tote`);
    // The sheet covers the page on a phone: close it first (it was left open).
    await openPanel(page);
    await panel(page).getByTestId('panel-close').click();
    await page.getByRole('button', { name: 'Message the seller' }).click();
    const bp = panel(page);
    await bp.getByRole('heading', { name: 'Carol Seller' }).waitFor();
    await bp.getByTestId('product-draft').getByText('Linen tote bag').waitFor();
    await bp.getByTestId('conversation-product').getByText('Linen tote bag').waitFor();
    await screenshot(page, 'phone-product-draft.png');
    await sendMessage(bp, ASK);
    const mine = messageWith(page, ASK);
    await mine.locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    const card = mine.getByTestId('product-card');
    expect(await card.getByRole('link').textContent()).toBe('Linen tote bag');
    expect(await card.getByRole('link').getAttribute('href')).toBe('/products/linen-tote');
    expect(await card.textContent()).toContain('$34.00');
    expect(await bp.getByTestId('product-draft').count()).toBe(0); // carried once
    const bubble = await box(mine.getByTestId('bubble'));
    expect(bubble.x + bubble.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'phone-product-message.png');
    // Stored as the storefront's product URL on the message's last line (docs/protocol.md, "Product context").
    const [row] = await sql<{ body: string }[]>`select body from messages where body like ${`${ASK}%`}`;
    expect(row!.body).toBe(`${ASK}\n\n${webUrl}/products/linen-tote`);

    // carol's screen reader hears the product's name, not its URL.
    await expect.poll(() => carol.page.getByTestId('chat-announcer').textContent(), poll).toBe(`New message from Bob Buyer: ${ASK} · Linen tote bag`);

    // A link to another site is text, never a card.
    const FORGED = 'Look:\nhttps://evil.example/products/linen-tote';
    await composer(bp).fill(FORGED);
    await composer(bp).press('Enter');
    await bp.getByText('https://evil.example/products/linen-tote').waitFor(poll);
    expect(await bp.getByTestId('message').filter({ hasText: 'evil.example' }).getByTestId('product-card').count()).toBe(0);

    // carol sees the same card, and the conversation is about the tote.
    const cp = await openPanel(carol.page);
    await openConversation(cp, 'Bob Buyer');
    const theirs = messageWith(carol.page, ASK);
    await theirs.getByTestId('product-card').getByRole('link', { name: 'Linen tote bag' }).waitFor(poll);
    await cp.getByTestId('conversation-product').getByText('Linen tote bag').waitFor();
    await screenshot(carol.page, 'desktop-product-message.png');
    await audit(carol.page, 'desktop panel with a product card');
    await theirs.getByTestId('product-card').getByRole('link', { name: 'Linen tote bag' }).click();
    await carol.page.getByRole('heading', { name: 'Linen tote bag', level: 1 }).waitFor();
  });

  it('records a voice message (fake microphone), sends it as audio, and plays it inline with a scrubber on both sides', async () => {
    const bp = await openPanel(bob.page);
    await openConversation(bp, 'Carol Seller');
    const players = bp.getByTestId('voice-player');
    const before = await players.count();

    // Escape while recording cancels the recording only.
    await bp.getByRole('button', { name: 'Record a voice message' }).click();
    await bp.getByTestId('recorder').waitFor();
    await bob.page.keyboard.press('Escape');
    await bp.getByTestId('recorder').waitFor({ state: 'detached' });
    expect(await bp.isVisible()).toBe(true);

    await bp.getByRole('button', { name: 'Record a voice message' }).click();
    const time = bp.getByTestId('recorder-time');
    await expect.poll(() => time.textContent(), poll).toMatch(/^0:0[2-9] \/ 2:00$/);
    await screenshot(bob.page, 'phone-recording.png');
    await bp.getByRole('button', { name: 'Stop and send voice message' }).click();
    await expect.poll(() => players.count(), poll).toBe(before + 1);
    const mine = bp.getByTestId('message').filter({ has: bob.page.getByTestId('voice-player') }).last();
    await mine.locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    // The caption lists show; the bubble shows the player with the length decoded from the audio.
    expect(await mine.getByTestId('message-body').textContent()).toMatch(/^🎤 Voice message \(0:0\d\)$/);
    await expect.poll(() => mine.getByTestId('voice-duration').textContent(), poll).toMatch(/^0:0[1-9]$/);
    const bubble = await box(mine.getByTestId('bubble'));
    expect(bubble.x).toBeGreaterThanOrEqual(0);
    expect(bubble.x + bubble.width).toBeLessThanOrEqual(390);
    await screenshot(bob.page, 'phone-voice-message-sent.png');

    // carol plays it: the scrubber moves, arrow keys seek.
    const cp = await openPanel(carol.page);
    await openConversation(cp, 'Bob Buyer');
    const theirs = cp.getByTestId('message').filter({ has: carol.page.getByTestId('voice-player') }).last();
    await expect.poll(() => theirs.getByTestId('voice-duration').textContent(), poll).toMatch(/^0:0[1-9]$/);
    const type = await theirs.locator('audio').evaluate(async (el: HTMLAudioElement) => (await (await fetch(el.src)).blob()).type);
    expect(type).toMatch(/^audio\/(webm|ogg|mp4)$/);
    await theirs.getByRole('button', { name: 'Play voice message' }).click();
    await theirs.getByRole('button', { name: 'Pause voice message' }).waitFor(poll);
    const scrubber = theirs.getByRole('slider', { name: 'Position in voice message' });
    await expect.poll(async () => Number(await scrubber.inputValue()), poll).toBeGreaterThan(0);
    await screenshot(carol.page, 'desktop-voice-message-playing.png');
    await theirs.getByRole('button', { name: 'Play voice message' }).waitFor({ timeout: 30_000 }); // played to the end
    await scrubber.focus();
    await carol.page.keyboard.press('ArrowRight');
    await carol.page.keyboard.press('ArrowRight');
    await expect.poll(async () => Number(await scrubber.inputValue())).toBeGreaterThan(0);
    await audit(carol.page, 'desktop panel with a voice message');
  });

  it('passes an axe-core audit (no serious or critical violations) on every page and panel state at both sizes', async () => {
    const visitor = await newSession(browser, 'visitor-phone', PHONE);
    await visitor.page.goto(`${webUrl}/login`);
    await visitor.page.getByLabel('Username').waitFor();
    await audit(visitor.page, 'phone /login');
    await visitor.page.goto(`${webUrl}/`);
    await openPanel(visitor.page);
    await audit(visitor.page, 'phone signed-out panel');
    await visitor.context.close();

    const { page } = carol;
    for (const path of ['/', '/products/ceramic-mug', '/messages']) {
      await page.goto(`${webUrl}${path}`);
      await page.locator('main').waitFor();
      await audit(page, `desktop ${path}`);
    }
    await page.goto(`${webUrl}/`);
    const p = await openPanel(page);
    // The panel settles on the list or on the conversation the reload restored.
    const back = p.getByRole('button', { name: 'Back to conversations' });
    await p.getByRole('searchbox').or(back).waitFor();
    if (await back.isVisible()) await back.click();
    await p.getByRole('searchbox').waitFor();
    await audit(page, 'desktop panel list');
    await screenshot(page, 'desktop-panel-list.png');
    await openConversation(p, 'Bob Buyer');
    await bubbles(p, SHORT_REPLY).waitFor();
    await audit(page, 'desktop panel conversation');

    const bp = await openPanel(bob.page);
    await bp.getByRole('button', { name: 'Back to conversations' }).click();
    await bp.getByRole('searchbox').waitFor();
    await audit(bob.page, 'phone panel list');
    await screenshot(bob.page, 'phone-sheet-list.png');

    const failing = audits.filter((a) => a.violations.length > 0);
    console.log(`axe-core audits: ${audits.length} states, ${failing.length} with serious or critical violations`);
    expect(failing).toEqual([]);
    for (const session of [bob, carol]) {
      expect(session.errors).toEqual([]);
      expect(session.dialogs).toEqual([]);
    }
  });
});
