/**
 * Brings up the whole stack once for the browser tests:
 * 1. PostgreSQL and a migrated template (the chat service's own test setup);
 * 2. a database cloned from it, with the demo users and lobby (seedDemo);
 * 3. the real chat service (buildApp) on a free port, trusting the storefront's origin;
 * 4. the storefront: `next build` (skipped when nothing changed since the last build), then `next start`;
 * 5. a small control server the tests use to stop, start and cut the service.
 */
import { connect } from '@chat/db';
import { freePort } from '@chat/db/embedded';
import { seedDemo } from '@chat/db/seed';
import { buildApp, createLogger, type ChatApp } from '@chat/service';
import { loadConfig } from '@chat/service/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import databaseSetup, { withDatabase } from '@chat/test-support/global-setup';
import { TEST_SECRET } from './secret.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    webUrl: string;
    serviceUrl: string;
    databaseUrl: string;
    controlUrl: string;
    /** The service's log (debug level), scanned for plaintext by e2e-chat.test.ts. */
    serviceLogFile: string;
    attachmentsDir: string;
  }
}

const webDir = fileURLToPath(new URL('../../', import.meta.url));
const repoDir = path.resolve(webDir, '..');
const distDir = '.next-test';
const artifacts = path.join(webDir, 'test-artifacts');
const nextBin = path.join(path.dirname(createRequire(import.meta.url).resolve('next/package.json')), 'dist/bin/next');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error('teardown step failed', error));
  };
  try {
    await mkdir(artifacts, { recursive: true });
    const started = Date.now();
    const lap = (what: string) => console.log(`[web tests] ${what} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // 1–2. Database.
    const dropDatabases = await databaseSetup(project);
    cleanups.push(dropDatabases);
    const adminUrl = project.getProvidedContext().adminUrl;
    const template = project.getProvidedContext().templateDatabase;
    const name = `web_test_${process.pid}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name} template ${template}`);
    await admin.end();
    const databaseUrl = withDatabase(adminUrl, name);
    cleanups.push(async () => {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${name} with (force)`);
      await sql.end();
    });
    const seeding = connect(databaseUrl, { max: 1 });
    await seedDemo(seeding.db);
    await seeding.end();
    lap('database ready');

    // 3. Ports: the service's is baked into the storefront build, so a reusable build keeps its port.
    const sourceHash = hashSources();
    const stampFile = path.join(webDir, distDir, 'test-build-stamp.json');
    const stamp = readStamp(stampFile);
    const reuse = stamp !== null && stamp.hash === sourceHash && (await portIsFree(stamp.servicePort));
    const servicePort = reuse ? stamp.servicePort : await freePort();
    const webPort = await freePort();
    const webUrl = `http://127.0.0.1:${webPort}`;
    const serviceUrl = `http://127.0.0.1:${servicePort}`;

    const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-web-test-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const service = new ServiceControl(databaseUrl, servicePort, webUrl, dataDir);
    await service.start();
    cleanups.push(() => service.stop());
    lap(`chat service on ${serviceUrl}`);

    // 4. Storefront.
    const env = nextEnv({ NEXT_PUBLIC_CHAT_URL: serviceUrl, NEXTAUTH_URL: webUrl });
    if (reuse) {
      lap('next build skipped (sources unchanged)');
    } else {
      await run(process.execPath, [nextBin, 'build'], env, path.join(artifacts, 'next-build.log'));
      writeFileSync(stampFile, JSON.stringify({ hash: sourceHash, servicePort }));
      lap('next build done');
    }
    const next = spawn(process.execPath, [nextBin, 'start', '-p', String(webPort), '-H', '127.0.0.1'], { cwd: webDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(path.join(artifacts, 'next-start.log'));
    next.stdout!.pipe(log);
    next.stderr!.pipe(log);
    cleanups.push(() => stopProcessGroup(next));
    await waitForHttp(`${webUrl}/login`, next);
    lap(`storefront on ${webUrl}`);

    // 5. Control.
    const control = await controlServer(service);
    cleanups.push(() => new Promise<void>((resolve) => control.server.close(() => resolve())));

    project.provide('webUrl', webUrl);
    project.provide('serviceUrl', serviceUrl);
    project.provide('databaseUrl', databaseUrl);
    project.provide('controlUrl', control.url);
    project.provide('serviceLogFile', service.logFile);
    project.provide('attachmentsDir', service.attachmentsDir);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}

/** The chat service instance, which tests may stop and start again on the same port. */
class ServiceControl {
  private app: ChatApp | null = null;
  readonly logFile = path.join(artifacts, 'service.log');
  private readonly log = createWriteStream(this.logFile);

  constructor(
    private readonly databaseUrl: string,
    private readonly port: number,
    private readonly webOrigin: string,
    private readonly dataDir: string,
  ) {}

  async start(): Promise<void> {
    if (this.app) return;
    const config = loadConfig(
      // Debug level, to a file: the end-to-end tests check no plaintext reaches the service's log.
      { AUTH_SECRET: TEST_SECRET, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug', ALLOWED_ORIGINS: this.webOrigin },
      { databaseUrl: this.databaseUrl, host: '127.0.0.1', port: this.port, dataDir: this.dataDir, attachmentsDir: this.attachmentsDir },
    );
    const app = await buildApp(config, createLogger(config, this.log));
    await app.app.listen({ host: '127.0.0.1', port: this.port });
    this.app = app;
  }

  /** Drops every socket as a network failure would (no close frame), then closes the instance. */
  async stop(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.app = null;
    this.cut(app);
    await app.app.close();
  }

  /** Drops every socket; the instance keeps running, so clients reconnect at once. */
  cut(app = this.app): number {
    if (!app) return 0;
    const connections = [...app.gateway.registry.all()];
    for (const connection of connections) connection.socket.terminate();
    return connections.length;
  }

  get attachmentsDir(): string {
    return path.join(this.dataDir, 'attachments');
  }

  get running(): boolean {
    return this.app !== null;
  }
}

async function controlServer(service: ServiceControl): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method !== 'POST') return reply(405, { error: 'POST only' });
    const action =
      request.url === '/service/stop' ? service.stop().then(() => ({ running: false }))
      : request.url === '/service/start' ? service.start().then(() => ({ running: true }))
      : request.url === '/service/cut' ? Promise.resolve({ cut: service.cut() })
      : null;
    if (!action) return reply(404, { error: 'unknown action' });
    action.then(
      (body) => reply(200, body),
      (error: unknown) => reply(500, { error: String(error) }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** The environment of `next build` / `next start`: the test secret, a one-minute chat credential and a dist folder of their own. */
function nextEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Vitest sets NODE_ENV=test; next picks production itself. AUTH_SECRET would shadow nothing but confuse.
  const { NODE_ENV: _nodeEnv, AUTH_SECRET: _authSecret, ...inherited } = process.env;
  // Chat credentials live a minute (the default is ten), so the panel renews them during the run.
  return { ...inherited, ...extra, NEXTAUTH_SECRET: TEST_SECRET, CHAT_CREDENTIAL_TTL_SEC: '60', NEXT_DIST_DIR: distDir, NEXT_TELEMETRY_DISABLED: '1' } as unknown as NodeJS.ProcessEnv;
}

/** Everything the client bundle is built from: a change means a new build. */
function hashSources(): string {
  const hash = createHash('sha256');
  const roots = [
    'web/app',
    'web/components',
    'web/lib',
    'web/next.config.ts',
    'web/package.json',
    'web/tsconfig.json',
    'web/tsconfig.build.json',
    'services/chat-client/src',
    'services/protocol/src',
    'pnpm-lock.yaml',
  ];
  const files: string[] = [];
  const walk = (p: string) => {
    const stat = statSync(p);
    if (stat.isDirectory()) for (const entry of readdirSync(p).sort()) walk(path.join(p, entry));
    else files.push(p);
  };
  for (const root of roots) {
    const full = path.join(repoDir, root);
    if (existsSync(full)) walk(full);
  }
  for (const file of files) {
    hash.update(path.relative(repoDir, file));
    hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

function readStamp(file: string): { hash: string; servicePort: number } | null {
  try {
    const stamp = JSON.parse(readFileSync(file, 'utf8')) as { hash?: unknown; servicePort?: unknown };
    if (typeof stamp.hash === 'string' && typeof stamp.servicePort === 'number') return { hash: stamp.hash, servicePort: stamp.servicePort };
  } catch {
    // no usable stamp: build
  }
  return null;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: webDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(args[1] ?? command)} ${args.slice(1).join(' ')} exited with ${code}; see ${logFile}`))));
  });
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited with ${child.exitCode}; see test-artifacts/next-start.log`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops `next start` and anything it spawned (it runs in its own process group). */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}
