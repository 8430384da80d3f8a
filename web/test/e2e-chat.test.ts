/**
 * End-to-end encrypted conversations in the storefront (issue 16), in real browsers against the
 * real service and PostgreSQL: alice starts an encrypted chat with carol (the seller); they
 * exchange messages, a reply and a file; nothing of it reaches the database, the bus, the
 * attachment store or the service's log in plaintext. A second browser of carol's (a new device)
 * reads new messages only and raises key-change warnings. Then the server turns attacker: rows
 * are altered in PostgreSQL and the panel must show each forgery as such, never as valid text.
 * The steps build on each other, in order.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser, Locator, Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { axeAudit } from './support/axe.ts';
import { bubbles, composer, launchBrowser, messageWith, newSession, openPanel, panel, screenshot, sendMessage, signIn, type UserSession } from './support/browser.ts';
import { find, scanDatabase, scanFiles, tapBus } from './support/plaintext-audit.ts';

const webUrl = inject('webUrl');
const serviceUrl = inject('serviceUrl');
const databaseUrl = inject('databaseUrl');
const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
const poll = { timeout: 20_000, interval: 100 };

/** Unique words: if any of them shows up on the server side, plaintext leaked. */
const word = (label: string) => `${label}${randomBytes(6).toString('hex')}`;
const FIRST = `${word('hello')} is the mug glaze food safe`;
const SECOND = `${word('second')} and the saucer`;
const REPLY = `${word('reply')} yes it is food safe`;
const FILE_NAME = `${word('file')}.txt`;
const FILE_TEXT = `${word('content')} measurements inside`;
const LATER = `${word('later')} after the new device`;
const NEEDLES = [FIRST, SECOND, REPLY, FILE_NAME, FILE_TEXT].map((t) => t.split(' ')[0]!.replace(/\.txt$/, ''));

let browser: Browser;
let alice: UserSession;
let carol: UserSession;
let carol2: UserSession;
let conversationId = '';
let tap: Awaited<ReturnType<typeof tapBus>>;
let indexDropped = false;
/** Rows the test forged, removed again afterwards (the database is shared with the other files). */
const forged: string[] = [];

/** The encrypted conversation's row in the list (the plain one with the same person has no lock). */
function lockedRow(p: Locator, name: string): Locator {
  return p.getByTestId('conversation-item').filter({ has: p.page().getByTestId('e2e-lock') }).filter({ hasText: name });
}

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
  await p.locator('[data-testid="history"][data-loaded="true"]').waitFor(poll);
  return p;
}

async function safetyNumberOf(page: Page): Promise<string> {
  const p = panel(page);
  await p.getByTestId('encryption-bar').getByRole('button', { name: 'Safety number' }).click();
  const digits = page.getByTestId('safety-number');
  await expect.poll(() => digits.textContent(), poll).toMatch(/^\d{60}$/);
  return (await digits.getAttribute('data-digits'))!;
}

async function closeSafety(page: Page): Promise<void> {
  await page.getByTestId('safety-dialog').getByRole('button', { name: 'Close' }).click();
  await page.getByTestId('safety-dialog').waitFor({ state: 'detached' });
}

/** The state a message shows when it did not open (data-e2e), by its row in the database. */
function problemOf(p: Locator, messageId: string): Locator {
  return p.locator(`[data-message-id="${messageId}"] [data-e2e]`);
}

beforeAll(async () => {
  // Earlier files' browsers published devices for these users; start from none (10 at most per user).
  await sql`delete from device_keys where user_id in ('alice', 'carol', 'bob')`;
  browser = await launchBrowser();
  alice = await newSession(browser, 'alice');
  carol = await newSession(browser, 'carol');
  tap = await tapBus(databaseUrl);
});

afterAll(async () => {
  await tap?.stop().catch(() => {});
  if (indexDropped) {
    await sql`delete from messages where id = any(${forged}::uuid[])`;
    await sql`create unique index if not exists messages_sender_client_msg_uq on messages using btree (sender_id, client_msg_id)`;
  }
  await browser?.close();
  // The encrypted conversations this file made (a pair has one beside its plain one): later
  // files find each contact once in the list, whatever order the files run in.
  await sql`delete from conversations where encrypted`;
  await sql.end();
});

describe.sequential('encrypted direct conversation in the panel', () => {
  it('alice starts an encrypted chat with carol, who has no keys yet: sending waits for them', async () => {
    await signIn(alice, webUrl, 'alice', '/products/ceramic-mug');
    await alice.page.getByRole('button', { name: 'Start encrypted chat' }).click();
    const ap = panel(alice.page);
    await ap.getByTestId('conversation').filter({ has: alice.page.getByTestId('e2e-lock') }).waitFor(poll);
    conversationId = (await ap.getByTestId('conversation').getAttribute('data-conversation-id'))!;
    await ap.getByTestId('e2e-waiting').getByText('Waiting for Carol Seller’s keys — they need to open the chat once').waitFor(poll);
    expect(await composer(ap).isDisabled()).toBe(true);
    await screenshot(alice.page, 'e2e-01-waiting-for-keys.png');

    // carol signs in: her browser publishes its keys, alice's panel learns it from keys.changed.
    await signIn(carol, webUrl, 'carol', '/');
    await ap.getByTestId('e2e-waiting').waitFor({ state: 'detached', ...poll });
    await expect.poll(() => composer(ap).isDisabled(), poll).toBe(false);
  });

  it('they exchange messages both ways, a reply and a file; both see plaintext, the lock and the same safety number', async () => {
    const ap = panel(alice.page);
    await sendMessage(ap, FIRST);
    await bubbles(ap, FIRST).waitFor(poll);
    await messageWith(alice.page, FIRST).locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]').waitFor(poll);
    await sendMessage(ap, SECOND);

    const cp = await openEncrypted(carol.page, 'Alice Shopper');
    await bubbles(cp, FIRST).waitFor(poll);
    await bubbles(cp, SECOND).waitFor(poll);
    // The list row and the header both carry the lock, with a name.
    await cp.getByRole('button', { name: 'Back to conversations' }).click();
    const row = lockedRow(cp, 'Alice Shopper');
    await row.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await row.getByText(SECOND).waitFor(poll); // the list preview is plaintext too
    await row.click();

    // carol replies to the first message: the quote travels inside the ciphertext.
    const first = messageWith(carol.page, FIRST);
    await first.hover();
    await first.getByRole('button', { name: 'Reply' }).click();
    await cp.getByTestId('reply-bar').getByText(FIRST).waitFor();
    await sendMessage(cp, REPLY);
    const reply = messageWith(alice.page, REPLY);
    await reply.waitFor(poll);
    await reply.locator('.quote-text').getByText(FIRST).waitFor(poll);

    // alice sends a file: encrypted in her browser, carol downloads and opens it under its real name.
    await ap.getByTestId('file-input').setInputFiles({ name: FILE_NAME, mimeType: 'text/plain', buffer: Buffer.from(FILE_TEXT) });
    await ap.getByRole('list', { name: 'Attachments to send' }).getByText('ready', { exact: true }).waitFor(poll);
    await ap.getByRole('button', { name: 'Send', exact: true }).click();
    await ap.getByRole('list', { name: 'Attachments to send' }).waitFor({ state: 'detached', ...poll });
    const download = cp.getByRole('button', { name: new RegExp(`^Download ${FILE_NAME}`) });
    const refused = ap.getByRole('alert');
    // A refusal shows in alice's composer; say it rather than time out.
    await expect.poll(async () => ((await refused.count()) > 0 ? `refused: ${(await refused.allTextContents()).join(' | ')}` : (await download.count()) > 0 ? 'shown' : 'waiting'), poll).toBe('shown');
    const [file] = await Promise.all([carol.page.waitForEvent('download'), download.click()]);
    expect(file.suggestedFilename()).toBe(FILE_NAME);
    expect(await readFile((await file.path())!, 'utf8')).toBe(FILE_TEXT);

    for (const session of [alice, carol]) {
      const p = panel(session.page);
      expect(await p.getByTestId('conversation').getByRole('img', { name: 'End-to-end encrypted' }).count()).toBe(1);
      expect(await p.getByTestId('history').textContent()).not.toContain('"ciphertext"');
    }
    const mine = await safetyNumberOf(alice.page);
    const theirs = await safetyNumberOf(carol.page);
    expect(mine).toBe(theirs);
    expect(mine).toMatch(/^(\d{5} ){11}\d{5}$/);
    await screenshot(alice.page, 'e2e-02-safety-number.png');

    const violations = await axeAudit(alice.page);
    expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
    await closeSafety(alice.page);
    await closeSafety(carol.page);
    expect([...alice.errors, ...carol.errors]).toEqual([]);
  });

  it('leaves no plaintext on the server: database rows, bus payloads, attachment blobs, the service log', async () => {
    await tap.stop();
    expect(tap.payloads.length).toBeGreaterThan(0);
    // Positive control: the tap saw this conversation's own events.
    expect(tap.payloads.some((p) => p.includes(conversationId))).toBe(true);
    expect(tap.payloads.flatMap((p) => find('bus', p, NEEDLES))).toEqual([]);

    const db = await scanDatabase(databaseUrl, NEEDLES);
    expect(db.rows).toBeGreaterThan(0);
    expect(db.hits).toEqual([]);
    // Positive control: the same scan finds text the server does hold in clear (a user's name).
    const [carolRow] = await sql<{ name: string }[]>`select name from users where id = 'carol'`;
    expect((await scanDatabase(databaseUrl, [carolRow!.name])).hits.length).toBeGreaterThan(0);
    // The envelopes are there (the scan saw the sealed rows).
    const [sealed] = await sql<{ n: number }[]>`select count(*)::int as n from messages where conversation_id = ${conversationId} and body like '{"v":1,"alg":%'`;
    expect(sealed!.n).toBeGreaterThanOrEqual(4);

    const blobs = await scanFiles(inject('attachmentsDir'), NEEDLES);
    expect(blobs.files).toBeGreaterThan(0);
    expect(blobs.hits).toEqual([]);
    const log = await readFile(inject('serviceLogFile'), 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect(find('service.log', log, NEEDLES)).toEqual([]);
  });

  it('a second device of carol reads new messages, not older ones; both panels warn of the new device', async () => {
    carol2 = await newSession(browser, 'carol2');
    await signIn(carol2, webUrl, 'carol', '/');
    // alice (the contact) and carol's first browser (her own devices) are both told.
    await panel(alice.page).getByTestId('key-warning').getByText('Carol Seller’s keys changed: a new device was added').waitFor(poll);
    await panel(carol.page).getByTestId('key-warning').getByText('Your keys changed: a new device was added').waitFor(poll);
    await screenshot(alice.page, 'e2e-03-key-change-warning.png');

    const c2 = await openEncrypted(carol2.page, 'Alice Shopper');
    const old = c2.getByTestId('message-body').filter({ hasText: 'Can’t decrypt this message on this device' });
    await expect.poll(() => old.count(), poll).toBeGreaterThanOrEqual(4);
    expect(await c2.getByTestId('history').textContent()).not.toContain(FIRST);

    await sendMessage(panel(alice.page), LATER);
    await bubbles(c2, LATER).waitFor(poll);
    await bubbles(panel(carol.page), LATER).waitFor(poll);
    await screenshot(carol2.page, 'e2e-04-new-device.png');

    await panel(alice.page).getByRole('button', { name: 'Accept new keys' }).click();
    await panel(alice.page).getByTestId('key-warning').waitFor({ state: 'detached', ...poll });
  });

  it('shows what the server forged as forged: a changed ciphertext, a replay, a re-addressed envelope, a swapped key', async () => {
    const rows = await sql<{ id: string; body: string; client_msg_id: string; sender_id: string }[]>`
      select id, body, client_msg_id, sender_id from messages where conversation_id = ${conversationId} order by seq`;
    const byText = async (text: string) => {
      return (await messageWith(alice.page, text).getAttribute('data-message-id'))!;
    };
    const firstId = await byText(FIRST);
    const replyId = await byText(REPLY);
    const secondId = await byText(SECOND);
    const row = (id: string) => rows.find((r) => r.id === id)!;

    // 1. One character of FIRST's ciphertext changed.
    const envelope = JSON.parse(row(firstId).body) as { ciphertext: string };
    const c = envelope.ciphertext;
    envelope.ciphertext = `${c.slice(0, 10)}${c[10] === 'A' ? 'B' : 'A'}${c.slice(11)}`;
    await sql`update messages set body = ${JSON.stringify(envelope)} where id = ${firstId}`;

    // 2. REPLY's envelope stored again as a new message at a later seq (the unique (sender, clientMsgId) index is the server's to drop).
    await sql`drop index messages_sender_client_msg_uq`;
    indexDropped = true;
    const [replayed] = await sql.begin(async (tx) => {
      const [{ seq }] = (await tx<{ seq: number }[]>`update conversations set last_seq = last_seq + 1 where id = ${conversationId} returning last_seq::int as seq`) as unknown as [{ seq: number }];
      return tx<{ id: string }[]>`insert into messages (conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, attachments)
        select conversation_id, ${seq}, sender_id, client_msg_id, body, reply_to_id, attachments from messages where id = ${replyId} returning id`;
    });

    // 3. SECOND's envelope moved into another encrypted conversation of alice's (with bob).
    const token = await alice.page.evaluate(async () => ((await (await fetch('/api/chat-token')).json()) as { token: string }).token);
    const other = (await (await fetch(`${serviceUrl}/v1/conversations/direct`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'bob', encrypted: true }) })).json()) as { id: string };
    const [moved] = await sql.begin(async (tx) => {
      const [{ seq }] = (await tx<{ seq: number }[]>`update conversations set last_seq = last_seq + 1 where id = ${other.id} returning last_seq::int as seq`) as unknown as [{ seq: number }];
      return tx<{ id: string }[]>`insert into messages (conversation_id, seq, sender_id, client_msg_id, body)
        select ${other.id}, ${seq}, sender_id, client_msg_id, body from messages where id = ${secondId} returning id`;
    });

    forged.push(replayed!.id, moved!.id);

    // 4. carol's first device served with another identity key (alice's) in the directory.
    const [aliceKey] = await sql<{ identity_key: string }[]>`select identity_key from device_keys where user_id = 'alice' limit 1`;
    const carolDeviceId = await carol.page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('chat-e2e:carol');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const names = [...db.objectStoreNames];
      const value = await new Promise<{ deviceId: string }>((resolve, reject) => {
        const r = db.transaction(names[0]!).objectStore(names[0]!).get('device:carol');
        r.onsuccess = () => resolve(r.result as { deviceId: string });
        r.onerror = () => reject(r.error);
      });
      return value.deviceId;
    });
    await sql`update device_keys set identity_key = ${aliceKey!.identity_key}, bundle = jsonb_set(bundle, '{identityKey}', to_jsonb(${aliceKey!.identity_key}::text))
      where user_id = 'carol' and device_id = ${carolDeviceId}`;

    // alice reloads: the panel reads the altered rows fresh.
    await alice.page.reload();
    const ap = await openEncrypted(alice.page, 'Carol Seller');
    await expect.poll(() => problemOf(ap, firstId).getAttribute('data-e2e'), poll).toBe('unverified');
    await problemOf(ap, firstId).getByText('This message could not be verified').waitFor();
    expect(await bubbles(ap, FIRST).count()).toBe(0);
    await expect.poll(() => problemOf(ap, replayed!.id).getAttribute('data-e2e'), poll).toBe('replay');
    await bubbles(ap, REPLY).waitFor(); // the original still reads
    await ap.getByTestId('key-warning').getByText('Carol Seller’s keys could not be verified', { exact: false }).waitFor(poll);
    await screenshot(alice.page, 'e2e-05-tampered.png');

    // Sealing to the swapped key is refused.
    await sendMessage(ap, 'not to a forged key');
    await ap.getByRole('alert').getByText(/^Not sent:/).waitFor(poll);

    await ap.getByRole('button', { name: 'Back to conversations' }).click();
    await lockedRow(ap, 'Bob Buyer').click();
    await expect.poll(() => problemOf(ap, moved!.id).getAttribute('data-e2e'), poll).toBe('misaddressed');
    expect(await bubbles(ap, SECOND).count()).toBe(0);
    expect(alice.errors).toEqual([]);
  });
});
