/**
 * The device limit of end-to-end encryption in the panel, in real browsers against the real
 * service: alice already has 10 devices in the key directory (one browser, nine published from
 * Node with the SDK), so an eleventh browser cannot publish its keys. Its encryption bar says so
 * and lists her devices; removing one lets it publish, and the encrypted chat works. Then an
 * encrypted message edited in the panel reaches carol with its new text, and no version of it
 * is stored in plaintext. The steps build on each other, in order.
 */
import { randomBytes } from 'node:crypto';
import { ChatHttp, KeyDirectory, loadOrCreateDevice, MemoryKeyStore } from '@chat/client';
import type { Browser, Locator, Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { axeAudit } from './support/axe.ts';
import { bubbles, composer, launchBrowser, messageWith, newSession, openPanel, panel, screenshot, sendMessage, signIn, type UserSession } from './support/browser.ts';
import { scanDatabase } from './support/plaintext-audit.ts';

const webUrl = inject('webUrl');
const serviceUrl = inject('serviceUrl');
const databaseUrl = inject('databaseUrl');
const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
const poll = { timeout: 20_000, interval: 100 };

const word = (label: string) => `${label}${randomBytes(6).toString('hex')}`;
const FIRST = `${word('first')} from the old browser`;
const HERE = `${word('here')} from the eleventh browser`;
const TYPO = `${word('typo')} shipp by friday`;
const FIXED = `${word('fixed')} ship by Friday`;

let browser: Browser;
let alice1: UserSession;
let alice2: UserSession;
let carol: UserSession;
/** The nine devices published from Node. */
const nodeDevices: string[] = [];

async function tokenOf(page: Page): Promise<string> {
  return page.evaluate(async () => ((await (await fetch('/api/chat-token')).json()) as { token: string }).token);
}

async function deviceIds(userId: string): Promise<string[]> {
  return (await sql<{ device_id: string }[]>`select device_id from device_keys where user_id = ${userId} order by device_id`).map((r) => r.device_id);
}

function lockedRow(p: Locator, name: string): Locator {
  return p.getByTestId('conversation-item').filter({ has: p.page().getByTestId('e2e-lock') }).filter({ hasText: name });
}

/** Shows the encrypted conversation with `name` (the panel may already show it, or the list). */
async function openEncrypted(page: Page, name: string): Promise<Locator> {
  const p = await openPanel(page);
  const header = p.getByTestId('conversation').filter({ has: p.page().getByTestId('e2e-lock') }).getByRole('heading', { name, exact: true });
  const back = p.getByRole('button', { name: 'Back to conversations' });
  await header.or(back).or(lockedRow(p, name)).first().waitFor(poll);
  if (!(await header.isVisible())) {
    if (await back.isVisible()) await back.click();
    await lockedRow(p, name).click();
    await header.waitFor();
  }
  return p;
}

beforeAll(async () => {
  // Earlier files' browsers published devices for these users; start from none.
  await sql`delete from device_keys where user_id in ('alice', 'carol')`;
  browser = await launchBrowser();
  alice1 = await newSession(browser, 'alice1');
  alice2 = await newSession(browser, 'alice2');
  carol = await newSession(browser, 'carol');
});

afterAll(async () => {
  await browser?.close();
  // The rows this file added (browsers' and Node's devices): later files start from none too.
  await sql`delete from device_keys where user_id in ('alice', 'carol')`;
  // The encrypted conversations this file made (a pair has one beside its plain one): later
  // files find each contact once in the list, whatever order the files run in.
  await sql`delete from conversations where encrypted`;
  await sql.end();
});

describe.sequential('encryption devices in the panel', () => {
  it('a browser beyond the 10-device limit says so, lists the devices, and works once one is removed', async () => {
    await signIn(alice1, webUrl, 'alice', '/products/ceramic-mug');
    await expect.poll(async () => (await deviceIds('alice')).length, poll).toBe(1);

    // Nine more of alice's devices, real bundles published with the SDK: the directory is full.
    const directory = new KeyDirectory(new ChatHttp({ httpUrl: serviceUrl, getToken: () => tokenOf(alice1.page) }));
    for (let i = 0; i < 9; i++) {
      const device = await loadOrCreateDevice(new MemoryKeyStore(), 'alice');
      await directory.publish(await device.bundle());
      nodeDevices.push(device.deviceId);
    }
    expect((await deviceIds('alice')).length).toBe(10);
    const extra = await loadOrCreateDevice(new MemoryKeyStore(), 'alice');
    await expect(directory.publish(await extra.bundle())).rejects.toMatchObject({ code: 'CONFLICT', details: { maxDevices: 10 } });
    // carol signs in now: whatever her panel pins of alice's devices (an earlier file's
    // conversation may be in her list) is these ten.
    await signIn(carol, webUrl, 'carol', '/');
    await expect.poll(async () => (await deviceIds('carol')).length, poll).toBe(1);

    // alice's first browser starts the encrypted chat with carol.
    await alice1.page.getByRole('button', { name: 'Start encrypted chat' }).click();
    const a1 = panel(alice1.page);
    await a1.getByTestId('conversation').filter({ has: alice1.page.getByTestId('e2e-lock') }).waitFor(poll);
    await expect.poll(() => composer(a1).isDisabled(), poll).toBe(false);
    // carol opens it: her panel has pinned alice's 10 devices.
    const cp = await openEncrypted(carol.page, 'Alice Shopper');
    await expect.poll(() => composer(cp).isDisabled(), poll).toBe(false);

    // An eleventh browser (a fresh context: new IndexedDB, new device).
    await signIn(alice2, webUrl, 'alice', '/');
    const a2 = await openEncrypted(alice2.page, 'Carol Seller');
    const full = a2.getByTestId('e2e-devices-full');
    await full.getByText('You have 10 devices with encryption keys; remove one to use encrypted chats here.').waitFor(poll);
    const listed = full.getByTestId('own-device');
    await expect.poll(() => listed.count(), poll).toBe(10);
    expect(await full.getByText('(this browser)').count()).toBe(0); // not published
    expect(await full.getByRole('button', { name: /^Remove device / }).count()).toBe(10);
    expect((await deviceIds('alice')).length).toBe(10);
    await screenshot(alice2.page, 'e2e-devices-01-full.png');
    const violations = await axeAudit(alice2.page);
    expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);

    // Remove one of the Node devices: the browser publishes its own and the state goes away.
    const removed = nodeDevices[0]!;
    await full.getByRole('button', { name: `Remove device ${removed.slice(0, 8)}` }).click();
    await full.waitFor({ state: 'detached', ...poll });
    await expect.poll(async () => {
      const ids = await deviceIds('alice');
      return { count: ids.length, removedGone: !ids.includes(removed), added: ids.filter((id) => !nodeDevices.includes(id)).length };
    }, poll).toEqual({ count: 10, removedGone: true, added: 2 }); // alice1's and alice2's browsers
    await expect.poll(() => composer(a2).isDisabled(), poll).toBe(false);

    // The encrypted chat works from here, with carol and alice's other browser.
    await sendMessage(a1, FIRST);
    await bubbles(a2, FIRST).waitFor(poll);
    await sendMessage(a2, HERE);
    await messageWith(alice2.page, HERE).locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    await bubbles(cp, FIRST).waitFor(poll);
    // To carol, alice's devices changed (one added, one removed): she is warned, and a message
    // from the new device opens once she accepts its keys.
    await cp.getByTestId('key-warning').getByText(/^Alice Shopper’s keys changed/).first().waitFor(poll);
    await screenshot(carol.page, 'e2e-devices-02-contact-warned.png');
    await cp.getByTestId('key-warning').getByRole('button', { name: 'Accept new keys' }).click();
    await cp.getByTestId('key-warning').waitFor({ state: 'detached', ...poll });
    await bubbles(cp, HERE).waitFor(poll);
    // alice's first browser is told of her own new device likewise.
    await a1.getByTestId('key-warning').getByText(/^Your keys changed/).first().waitFor(poll);
    await a1.getByTestId('key-warning').getByRole('button', { name: 'Accept new keys' }).click();
    await a1.getByTestId('key-warning').waitFor({ state: 'detached', ...poll });
    await bubbles(a1, HERE).waitFor(poll);
    await expect.poll(() => a2.getByTestId('message-body').filter({ hasText: HERE }).count(), poll).toBe(1);

    // The safety-number dialog lists the same devices, this browser marked, with no Remove on it.
    await a2.getByTestId('encryption-bar').getByRole('button', { name: 'Safety number' }).click();
    const own = alice2.page.getByTestId('safety-dialog').getByTestId('own-devices');
    await expect.poll(() => own.getByTestId('own-device').count(), poll).toBe(10);
    const mine = own.getByTestId('own-device').filter({ hasText: '(this browser)' });
    await expect.poll(() => mine.count(), poll).toBe(1);
    expect(await mine.getByRole('button').count()).toBe(0);
    expect(await own.getByRole('button', { name: /^Remove device / }).count()).toBe(9);
    await screenshot(alice2.page, 'e2e-devices-03-dialog.png');
    const dialogViolations = await axeAudit(alice2.page);
    expect(dialogViolations, JSON.stringify(dialogViolations, null, 2)).toEqual([]);
    await alice2.page.getByTestId('safety-dialog').getByRole('button', { name: 'Close' }).click();
    await alice2.page.getByTestId('safety-dialog').waitFor({ state: 'detached' });
    expect([...alice1.errors, ...alice2.errors, ...carol.errors]).toEqual([]);
  });

  it('an encrypted message edited in the panel shows its new text on the other side; neither version is stored in plaintext', async () => {
    const a2 = panel(alice2.page);
    const cp = panel(carol.page);
    await sendMessage(a2, TYPO);
    await bubbles(cp, TYPO).waitFor(poll);
    const sent = messageWith(alice2.page, TYPO);
    const messageId = (await sent.getAttribute('data-message-id'))!;
    await sent.hover();
    await sent.getByRole('button', { name: 'More actions' }).click();
    await sent.getByRole('menuitem', { name: 'Edit' }).click();
    const editBox = a2.getByRole('textbox', { name: 'Edit message' });
    await editBox.fill(FIXED);
    await editBox.press('Enter');

    const edited = messageWith(carol.page, FIXED);
    await edited.getByText('edited').waitFor(poll);
    expect(await edited.getAttribute('data-message-id')).toBe(messageId);
    expect(await bubbles(cp, TYPO).count()).toBe(0);
    await bubbles(panel(alice1.page), FIXED).waitFor(poll);

    // The row holds the re-sealed envelope; no table has either text.
    const [row] = await sql<{ body: string; edited_at: Date | null }[]>`select body, edited_at from messages where id = ${messageId}`;
    expect(row!.body.startsWith('{"v":1,"alg":')).toBe(true);
    expect(row!.edited_at).not.toBeNull();
    const needles = [FIRST, HERE, TYPO, FIXED].map((t) => t.split(' ')[0]!);
    const db = await scanDatabase(databaseUrl, needles);
    expect(db.rows).toBeGreaterThan(0);
    expect(db.hits).toEqual([]);
    expect([...alice1.errors, ...alice2.errors, ...carol.errors]).toEqual([]);
  });
});
