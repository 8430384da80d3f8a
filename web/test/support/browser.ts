/** Chromium from Debian (never a downloaded browser), driven by playwright-core. */
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Screenshots: test-artifacts/ (git-ignored), or SCREENSHOT_DIR (e.g. a folder under /tmp). */
export const ARTIFACTS = process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A fake microphone (a beep) that needs no permission prompt: voice messages are recorded for real.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ARGS });
}

export interface UserSession {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Every alert/confirm/prompt the page opened (an XSS would show up here). */
  dialogs: string[];
  /** Uncaught page errors. */
  errors: string[];
}

/** A phone: 390×844 (iPhone 12–15), touch, a mobile user agent's viewport meta handling. */
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } as const;
export const DESKTOP = { viewport: { width: 1280, height: 820 } } as const;

export async function newSession(browser: Browser, name: string, options: { viewport: { width: number; height: number }; isMobile?: boolean; hasTouch?: boolean; deviceScaleFactor?: number } = DESKTOP): Promise<UserSession> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const session: UserSession = { name, context, page, dialogs: [], errors: [] };
  page.on('dialog', (dialog) => {
    session.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => session.errors.push(error.message));
  if (process.env.DEBUG_CONSOLE) page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && console.log(`[${name} console.${m.type()}] ${m.text()}`));
  return session;
}

export async function signIn(session: UserSession, webUrl: string, username: string, landing = '/'): Promise<void> {
  const { page } = session;
  await page.goto(`${webUrl}/login?callbackUrl=${encodeURIComponent(landing)}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').waitFor();
}

export function panel(page: Page): Locator {
  return page.getByTestId('chat-panel');
}

export async function openPanel(page: Page): Promise<Locator> {
  const p = panel(page);
  // After hydration, when a reload has restored the panel's saved state (open or closed).
  const launcher = page.locator('[data-testid="chat-launcher"][data-ready="true"]');
  await launcher.waitFor({ state: 'attached' }); // hidden under the open sheet on a phone
  if ((await launcher.getAttribute('aria-expanded')) !== 'true') await launcher.click();
  await p.waitFor();
  return p;
}

/** Shows a conversation in the panel, from wherever the panel is (a reload restores the last one). */
export async function openConversation(p: Locator, name: string): Promise<void> {
  const heading = p.getByRole('heading', { name, exact: true });
  const back = p.getByRole('button', { name: 'Back to conversations' });
  const item = p.getByRole('button', { name: new RegExp(`^${escapeRegExp(name)}`) });
  await heading.or(back).or(item).first().waitFor();
  if (!(await heading.isVisible())) {
    if (await back.isVisible()) await back.click();
    await item.click();
    await heading.waitFor();
  }
  // Its first page of history is in.
  await p.locator('[data-testid="history"][data-loaded="true"]').waitFor();
}

/** The composer of the open conversation. */
export function composer(scope: Page | Locator): Locator {
  return scope.getByRole('textbox', { name: 'Message', exact: true });
}

export async function sendMessage(scope: Page | Locator, text: string): Promise<void> {
  const box = composer(scope);
  await box.fill(text);
  await box.press('Enter');
}

/** Bubbles whose text is exactly `text`. */
export function bubbles(scope: Page | Locator, text: string): Locator {
  return scope.getByTestId('message-body').filter({ hasText: new RegExp(`^${escapeRegExp(text)}$`) });
}

/** The message items (bubble, actions, reactions) whose text is exactly `text`. */
export function messageWith(page: Page, text: string): Locator {
  return page.getByTestId('message').filter({ has: bubbles(page, text) });
}

export async function screenshot(page: Page, file: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, file) });
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
