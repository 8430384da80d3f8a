/**
 * `make dev` / `pnpm dev`: the chat service on the embedded PostgreSQL (migrated and
 * seeded with demo users) and, beside it, the storefront with the chat panel.
 *
 * - The service is restarted when it exits on its own (a crash, or someone killing it),
 *   with a backoff of 1, 2, 4 … 30 s that starts over once it has run for a minute; the
 *   storefront keeps running meanwhile. A configuration error (exit 2) is not retried.
 *   The storefront exiting stops everything.
 * - Ctrl-C or SIGTERM: every child's process group gets SIGTERM; the service drains, then
 *   stops its database; once every group is empty this exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devVapidEnv } from './dev-vapid.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chatPort = process.env.PORT ?? '4000';
const webPort = process.env.WEB_PORT ?? '3000';
const chatUrl = `http://127.0.0.1:${chatPort}`;
const webOrigins = [`http://localhost:${webPort}`, `http://127.0.0.1:${webPort}`];
/** Everything there is to wait for when stopping: the process group of each child started. */
const groups = new Set<number>();
/** A child gets this long to finish after SIGTERM (the service: DRAIN_MS + 5 s at most, then its database). */
const STOP_TIMEOUT_MS = Number(process.env.DRAIN_MS ?? 10_000) + 20_000;
const RESTART_DELAYS_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];
/** Uptime after which a restarted service counts as healthy again (the backoff starts over). */
const HEALTHY_AFTER_MS = 60_000;
/** How to run pnpm when it may not be installed: the pinned version of package.json, through npx. */
const pnpm = `npx -y ${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).packageManager}`;

/**
 * Each child leads a process group of its own (next → its workers; node → its helpers), so
 * stopping signals the whole group; a Ctrl-C in the terminal reaches only this process,
 * which then stops the children in order.
 */
function start(command: string, args: string[], cwd: string, env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env }, detached: true });
  if (child.pid !== undefined) groups.add(child.pid);
  return child;
}

let stopping = false;

let restarts = 0;
function startService(): void {
  const startedAt = Date.now();
  // node itself, not pnpm → tsx → node: the pid a developer sees is the service, and its exit code is ours.
  const child = start(process.execPath, ['--import', 'tsx', 'src/server.ts'], `${root}services/chat`, {
    PORT: chatPort,
    ALLOWED_ORIGINS: process.env.ALLOWED_ORIGINS ?? webOrigins.join(','),
    // Web Push on: a development VAPID pair kept under the data folder (dev-vapid.ts).
    ...devVapidEnv(root),
  });
  child.on('exit', (code, signal) => {
    if (stopping) return;
    if (code === 2) {
      console.log('[dev] chat service: configuration error (exit 2); stopping everything');
      void stop(1);
      return;
    }
    if (Date.now() - startedAt > HEALTHY_AFTER_MS) restarts = 0;
    const delay = RESTART_DELAYS_MS[Math.min(restarts++, RESTART_DELAYS_MS.length - 1)]!;
    console.log(`[dev] chat service exited (${signal ?? code}); restarting in ${delay / 1000} s`);
    const pid = child.pid!;
    void waitForGroup(pid, STOP_TIMEOUT_MS).then((gone) => gone && groups.delete(pid));
    setTimeout(() => !stopping && startService(), delay);
  });
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const group of groups) signalGroup(group, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  const left = await Promise.all([...groups].map((group) => waitForGroup(group, deadline - Date.now())));
  if (left.some((gone) => !gone)) {
    console.log(`[dev] still running after ${STOP_TIMEOUT_MS / 1000} s: killing`);
    for (const group of groups) signalGroup(group, 'SIGKILL');
    process.exit(1);
  }
  process.exit(code);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}

/** Resolves true once no process of the group is left, false after `timeoutMs`. */
async function waitForGroup(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

startService();

// DEV_WEB=0: the service alone.
const hasWeb = process.env.DEV_WEB !== '0' && existsSync(new URL('../../web/package.json', import.meta.url));
if (hasWeb) {
  // `next dev` itself (what `pnpm --filter @chat/web dev` runs), without pnpm's wrapper in between.
  const next = path.join(path.dirname(createRequire(`${root}web/package.json`).resolve('next/package.json')), 'dist/bin/next');
  const web = start(process.execPath, [next, 'dev', '--port', webPort], `${root}web`, { NEXT_PUBLIC_CHAT_URL: process.env.NEXT_PUBLIC_CHAT_URL ?? chatUrl });
  web.on('exit', (code, signal) => {
    if (stopping) return;
    console.log(`[dev] storefront exited (${signal ?? code}); stopping everything`);
    void stop(code ?? 1);
  });
}

// Print where to go once both answer.
const deadline = Date.now() + 120_000;
async function announce(): Promise<void> {
  for (;;) {
    const chatUp = await fetch(`${chatUrl}/readyz`).then((r) => r.ok, () => false);
    const webUp = !hasWeb || (await fetch(`http://127.0.0.1:${webPort}/`).then((r) => r.status < 500, () => false));
    if (chatUp && webUp) break;
    if (Date.now() > deadline || stopping) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`
  ┌──────────────────────────────────────────────────────────────┐
    Storefront:    ${hasWeb ? `http://localhost:${webPort}   (WEB_PORT)` : '(not started: DEV_WEB=0)'}
    Chat service:  ${chatUrl}   (PORT; WebSocket ${chatUrl.replace('http', 'ws')}/ws)
    Demo logins:   alice / demo, bob / demo, carol / demo (seller), support / demo (admin)
    Open two browser windows (one private) and chat between two users.
    API token, in this folder:
      ${pnpm} -s run token alice
      curl -H "Authorization: Bearer $(${pnpm} -s run token alice)" ${chatUrl}/v1/conversations
    Stop: Ctrl-C (drains the service, then stops its database)
  └──────────────────────────────────────────────────────────────┘
`);
}
void announce();
