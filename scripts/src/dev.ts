/**
 * `make dev` / `pnpm dev`: the chat service on the embedded PostgreSQL (migrated and
 * seeded with demo users) and, beside it, the storefront with the chat panel.
 * Ctrl-C stops both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chatPort = process.env.PORT ?? '4000';
const webPort = process.env.WEB_PORT ?? '3000';
const chatUrl = `http://127.0.0.1:${chatPort}`;
const webOrigins = [`http://localhost:${webPort}`, `http://127.0.0.1:${webPort}`];
const children: ChildProcess[] = [];

/**
 * Each child leads a process group of its own (pnpm → next / tsx → node → postgres), so
 * stopping signals the whole group: a SIGTERM to `make dev` from outside a terminal (no
 * Ctrl-C reaching the foreground group) must not leave the grandchildren running.
 */
function run(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn('pnpm', args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env }, detached: true });
  child.on('exit', (code, signal) => {
    console.log(`[dev] ${name} exited (${signal ?? code}); stopping everything`);
    stop(code ?? 1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) signalGroup(child.pid, 'SIGTERM');
  setTimeout(() => process.exit(code), 12_000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r))))).then(() => process.exit(code));
}
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

run('chat service', ['--filter', '@chat/service', 'dev'], {
  PORT: chatPort,
  ALLOWED_ORIGINS: process.env.ALLOWED_ORIGINS ?? webOrigins.join(','),
});

const hasWeb = existsSync(new URL('../../web/package.json', import.meta.url));
if (hasWeb) {
  run('web', ['--filter', '@chat/web', 'dev', '--port', webPort], { NEXT_PUBLIC_CHAT_URL: process.env.NEXT_PUBLIC_CHAT_URL ?? chatUrl });
}

// Print where to go once both answer.
const deadline = Date.now() + 120_000;
async function announce(): Promise<void> {
  for (;;) {
    const chatUp = await fetch(`${chatUrl}/readyz`).then((r) => r.ok, () => false);
    const webUp = !hasWeb || (await fetch(`http://127.0.0.1:${webPort}/`).then((r) => r.status < 500, () => false));
    if (chatUp && webUp) break;
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`
  ┌──────────────────────────────────────────────────────────────┐
    Storefront:    ${hasWeb ? `http://localhost:${webPort}` : '(web/ not present)'}
    Chat service:  ${chatUrl}   (WebSocket ${chatUrl.replace('http', 'ws')}/ws)
    Demo logins:   alice / demo, bob / demo, carol / demo (seller), support / demo (admin)
    Open two browser windows (one private) and chat between two users.
    API token:     pnpm -s token alice
  └──────────────────────────────────────────────────────────────┘
`);
}
void announce();
