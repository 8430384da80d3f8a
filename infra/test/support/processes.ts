/** Real processes for the infra tests: nginx from the rendered config, promtool, free ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderNginxConfig, TEMPLATE_PATH } from '../../nginx/render.ts';

export const INFRA_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const REPO_ROOT = path.resolve(INFRA_DIR, '..');

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? findOnPath('promtool') ?? '/usr/bin/promtool';

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** Fails (never skips) with an install hint when a required binary is missing. */
export function requireBinary(bin: string, aptPackage: string): void {
  if (!existsSync(bin)) {
    throw new Error(`${bin} is not installed. These infra tests run the real binary: apt-get install -y ${aptPackage}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (with optional stdin), with a time limit. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // a command that does not read its input
    child.stdin.end(options.input ?? '');
  });
}

/** Waits for a child to exit, up to timeoutMs; resolves with its exit code or signal. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

export interface Nginx {
  port: number;
  http: string;
  ws: string;
  pid: number;
  dir: string;
  config: string;
  output(): string;
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Renders infra/nginx/nginx.conf for this machine (listen port, upstreams, temp and log
 * paths in a temporary prefix) and runs Debian's nginx in the foreground as a child.
 * Stopped by its own PID (SIGQUIT: graceful), never by name.
 */
export async function startNginx(options: { chatServers: string[]; webServers: string[] }): Promise<Nginx> {
  requireBinary(NGINX_BIN, 'nginx');
  const dir = await mkdtemp(path.join(tmpdir(), 'chat-infra-nginx-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const config = renderNginxConfig(await readFile(TEMPLATE_PATH, 'utf8'), {
    listen: `127.0.0.1:${port}`,
    chatServers: options.chatServers,
    webServers: options.webServers,
    // As root, workers would switch to the template's `nginx` user (absent on Debian).
    user: asRoot ? userInfo().username : null,
    accessLog: path.join(dir, 'access.log'),
    tempDir: dir,
    resolver: null,
  });
  const configPath = path.join(dir, 'nginx.conf');
  await writeFile(configPath, config);
  const pidFile = path.join(dir, 'nginx.pid');
  const args = ['-c', configPath, '-p', `${dir}/`, '-g', `daemon off; pid ${pidFile}; error_log stderr;`];

  const check = await run(NGINX_BIN, ['-t', ...args]);
  if (check.code !== 0) throw new Error(`nginx -t failed for the rendered config:\n${check.stderr}\n--- config ---\n${config}`);

  const child = spawn(NGINX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const http = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${http}/nginx-health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not answer on ${http}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pidInFile = Number((await readFile(pidFile, 'utf8')).trim());
  if (pidInFile !== child.pid) throw new Error(`nginx pid file says ${pidInFile}, child is ${child.pid}`);

  let stopped = false;
  return {
    port,
    http,
    ws: `ws://127.0.0.1:${port}/ws`,
    pid: child.pid!,
    dir,
    config,
    output: () => output,
    accessLog: () => readFile(path.join(dir, 'access.log'), 'utf8').catch(() => ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        // Graceful shutdown of this master (and so its workers), by PID.
        process.kill(child.pid!, 'SIGQUIT');
        try {
          await waitExit(child, 10_000);
        } catch {
          process.kill(child.pid!, 'SIGKILL');
          await waitExit(child, 5_000);
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
