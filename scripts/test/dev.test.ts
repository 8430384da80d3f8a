/**
 * `make dev`'s runner (src/dev.ts), service only (DEV_WEB=0), on its embedded PostgreSQL:
 * - the service killed on its own is restarted, on the same data;
 * - SIGTERM to the runner drains the service (a live socket gets 1012), then stops the
 *   database, then the runner exits 0 with nothing of its left running.
 * Every process is signalled by the PID this test started or read from its own output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '@chat/db/embedded';
import { mintV4, SECRET } from '@chat/test-support/tokens';

const scriptsDir = fileURLToPath(new URL('../', import.meta.url));
let dir = '';
let runner: ChildProcess;
let output = '';
let port = 0;
const exited = () => runner.exitCode !== null || runner.signalCode !== null;

beforeAll(async () => {
  // World-traversable, so that as root the postgres user reaches the data where it is asked for.
  dir = await mkdtemp(path.join(tmpdir(), 'chat-dev-runner-'));
  await chmod(dir, 0o755);
  port = await freePort();
  runner = spawn(process.execPath, ['--import', 'tsx', 'src/dev.ts'], {
    cwd: scriptsDir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', DEV_WEB: '0', PORT: String(port), CHAT_DATA_DIR: dir, AUTH_SECRET: SECRET, DRAIN_MS: '3000', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  runner.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
}, 10_000);

afterAll(async () => {
  if (runner && !exited()) {
    runner.kill('SIGTERM');
    await until(() => exited(), 30_000).catch(() => runner.kill('SIGKILL'));
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.slice(-3000)}`);
    if (exited()) throw new Error(`the runner exited (${runner.exitCode ?? runner.signalCode}):\n${output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ready = () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);

/** The service's pid, from its latest "listening" log line (INSTANCE_ID defaults to `<pid>-<random>`). */
function servicePid(): number {
  const lines = output.split('\n').filter((l) => l.includes('"msg":"chat service listening"'));
  return Number(JSON.parse(lines.at(-1)!).instance.split('-')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('restarts the service when it is killed, then drains, stops the database and exits 0 on SIGTERM', async () => {
  await until(ready, 90_000, 'the service to be ready');
  const first = servicePid();
  process.kill(first, 'SIGKILL');
  await until(() => output.includes('[dev] chat service exited (SIGKILL); restarting in 1 s'), 10_000, 'the restart notice');
  await until(async () => output.split('"msg":"chat service listening"').length === 3 && (await ready()), 90_000, 'the restarted service');
  const second = servicePid();
  expect(second).not.toBe(first);
  // The same data folder, so the same server picks up after the stale one was stopped.
  const postmaster = Number(readFileSync(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  expect(alive(postmaster)).toBe(true);

  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${await mintV4({ sub: 'dev-runner' })}` } });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
  });

  const marker = output.length;
  runner.kill('SIGTERM');
  expect(await closed).toBe(1012);
  await new Promise((resolve, reject) => {
    if (exited()) return resolve(null);
    const timer = setTimeout(() => reject(new Error(`the runner did not exit:\n${output.slice(-3000)}`)), 30_000);
    runner.once('exit', () => resolve(clearTimeout(timer)));
  });
  expect({ code: runner.exitCode, signal: runner.signalCode }).toEqual({ code: 0, signal: null });
  const after = output.slice(marker);
  expect(after.indexOf('"msg":"draining"')).toBeGreaterThan(-1);
  expect(after.indexOf('"msg":"stopped"')).toBeGreaterThan(after.indexOf('"msg":"draining"'));
  expect(after).not.toContain('CONNECTION_CLOSED');
  expect(alive(second)).toBe(false);
  expect(alive(postmaster)).toBe(false);
}, 240_000);
