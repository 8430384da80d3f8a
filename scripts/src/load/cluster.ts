/**
 * Starts the system under test for a load run and tears it down afterwards:
 *   pnpm bench:cluster [--instances 2] [--system ours|socketio|socketio-persist|raw]
 *                      [--database-url URL] [--run "shell command"] [--max-lifetime S]
 *                      [--cpu-prof DIR]   (V8 CPU profile of each instance, written when it stops;
 *                                          summarise with `pnpm profile:top DIR/*.cpuprofile`)
 * An embedded PostgreSQL in a temporary folder (unless --database-url), migrated; then N
 * instances as child processes on free loopback ports:
 *   ours:              services/chat/src/server.ts with PORT, DATABASE_URL, AUTH_SECRET, high
 *                      SEND_RATE_PER_SEC/SEND_BURST/DB_WORK_PER_SEC/DB_WORK_BURST/MAX_CONNECTIONS_PER_USER,
 *                      LOG_LEVEL=warn
 *   socketio[-persist] scripts/src/peer/socketio-server.ts (the Socket.IO 4 peer, postgres adapter)
 *   raw:               scripts/src/peer/raw-server.ts (one process, no database: the upper bound)
 * Children run as `node --import tsx <file>` (what the `tsx` CLI does, minus its wrapper
 * process), so each printed pid is the server itself: /proc/<pid>/status and kill -9 hit it.
 * Prints targets, pids and the database URL; with --run, runs the command with LOAD_TARGETS,
 * LOAD_PIDS and LOAD_DATABASE_URL set and stops when it exits; else waits for Ctrl-C.
 */
import { migrate } from '@chat/db';
import { freePort, startEmbeddedPostgres } from '@chat/db/embedded';
import { loadConfig } from '@chat/service/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError, assertLoopbackUrl, repoRoot, sleep } from './common.ts';

export type SystemName = 'ours' | 'socketio' | 'socketio-persist' | 'raw';
export const SYSTEMS: SystemName[] = ['ours', 'socketio', 'socketio-persist', 'raw'];

export interface ClusterOptions {
  system: SystemName;
  instances: number;
  databaseUrl?: string | undefined;
  quiet?: boolean;
  /** Extra environment for our instances (e.g. DB_POOL_SIZE). */
  env?: Record<string, string>;
  /** Write a V8 CPU profile per instance into this folder at exit (node --cpu-prof). */
  cpuProfDir?: string | undefined;
}

export interface Cluster {
  system: SystemName;
  targets: string[];
  pids: number[];
  databaseUrl: string | null;
  stop(): Promise<void>;
}

/** `--import tsx` resolves from the working directory; an absolute URL works from anywhere. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json').replace(/package\.json$/, 'dist/loader.mjs')).href;
const SERVER = path.join(repoRoot, 'services/chat/src/server.ts');
const PEER = fileURLToPath(new URL('../peer/socketio-server.ts', import.meta.url));
const RAW = fileURLToPath(new URL('../peer/raw-server.ts', import.meta.url));

async function waitReady(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

/** An embedded PostgreSQL in a temporary folder, with a database `chat`; `stop` removes both. */
export async function startThrowawayPostgres(prefix: string): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  // Under /tmp, world-traversable: as root, Postgres runs as the `postgres` user.
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), database: 'chat' });
  return {
    url: server.url,
    port: server.port,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const say = (line: string) => {
    if (!options.quiet) process.stderr.write(`${line}\n`);
  };
  const cleanups: (() => Promise<void>)[] = [];
  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };

  try {
    let databaseUrl: string | null = options.databaseUrl ?? null;
    if (databaseUrl) assertLoopbackUrl(databaseUrl, '--database-url');
    if (options.system !== 'raw' && !databaseUrl) {
      const started = Date.now();
      const server = await startThrowawayPostgres('chat-bench-pg-');
      cleanups.push(server.stop);
      databaseUrl = server.url;
      say(`embedded PostgreSQL on port ${server.port} (${Date.now() - started} ms)`);
    }
    if (databaseUrl) await migrate(databaseUrl);

    const secret = loadConfig().authSecrets[0]!;
    const count = options.system === 'raw' ? 1 : options.instances;
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    const targets: string[] = [];
    for (let i = 0; i < count; i++) {
      const port = ports[i]!;
      let args: string[];
      let env: Record<string, string | undefined> = { ...process.env };
      let ready: string;
      if (options.system === 'ours') {
        args = ['--import', TSX, SERVER];
        env = {
          ...env,
          HOST: '127.0.0.1',
          PORT: String(port),
          DATABASE_URL: databaseUrl!,
          AUTH_SECRET: secret,
          MIGRATE_ON_START: 'false',
          SEED_DEMO: 'false',
          SEND_RATE_PER_SEC: '100000',
          SEND_BURST: '100000',
          DB_WORK_PER_SEC: '10000000',
          DB_WORK_BURST: '10000000',
          GROUP_CREATES_PER_HOUR: '10000000',
          MAX_CONNECTIONS_PER_USER: '10000',
          // Every load client comes from 127.0.0.1: per-IP limits would throttle the generator, not users.
          CONNECTS_PER_IP_PER_MIN: '10000000',
          HTTP_RATE_PER_MIN: '10000000',
          LOG_LEVEL: 'warn',
          INSTANCE_ID: `bench-${i}`,
          ...options.env,
        };
        targets.push(`ws://127.0.0.1:${port}/ws`);
        ready = `http://127.0.0.1:${port}/readyz`;
      } else if (options.system === 'raw') {
        args = ['--import', TSX, RAW, '--port', String(port)];
        targets.push(`ws://127.0.0.1:${port}/ws`);
        ready = `http://127.0.0.1:${port}/healthz`;
      } else {
        args = ['--import', TSX, PEER, '--port', String(port), '--database-url', databaseUrl!, ...(options.system === 'socketio-persist' ? ['--persist'] : [])];
        env = { ...env, AUTH_SECRET: secret };
        targets.push(`ws://127.0.0.1:${port}/`);
        ready = `http://127.0.0.1:${port}/healthz`;
      }
      if (options.cpuProfDir) args = ['--cpu-prof', '--cpu-prof-dir', path.resolve(options.cpuProfDir), ...args];
      const child = spawn(process.execPath, args, { cwd: repoRoot, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      await waitReady(ready, child);
    }
    const pids = children.map((c) => c.pid!);
    return { system: options.system, targets, pids, databaseUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string', default: '2' },
      system: { type: 'string', default: 'ours' },
      'database-url': { type: 'string' },
      run: { type: 'string' },
      'max-lifetime': { type: 'string', default: '3600' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: pnpm bench:cluster [--instances N] [--system ours|socketio|socketio-persist|raw] [--database-url URL] [--run "cmd"] [--max-lifetime S] [--cpu-prof DIR]');
    return;
  }
  const system = values.system as SystemName;
  if (!SYSTEMS.includes(system)) throw new UsageError(`--system: one of ${SYSTEMS.join(', ')}`);
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 8) throw new UsageError('--instances: 1..8');
  const cluster = await startCluster({ system, instances, databaseUrl: values['database-url'], cpuProfDir: values['cpu-prof'] });
  let exiting = false;
  const finish = async (code: number) => {
    if (exiting) return;
    exiting = true;
    process.stderr.write('\nstopping the cluster…\n');
    await cluster.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void finish(130));
  process.on('SIGTERM', () => void finish(143));
  console.log(`system:    ${system}`);
  console.log(`targets:   ${cluster.targets.join(',')}`);
  console.log(`pids:      ${cluster.pids.join(',')}`);
  if (cluster.databaseUrl) console.log(`database:  ${cluster.databaseUrl}`);
  const maxLifetime = Number(values['max-lifetime']) * 1000;
  setTimeout(() => {
    process.stderr.write(`max lifetime reached\n`);
    void finish(0);
  }, maxLifetime).unref();
  if (values.run) {
    const child = spawn('sh', ['-c', values.run], {
      stdio: 'inherit',
      env: { ...process.env, LOAD_TARGETS: cluster.targets.join(','), LOAD_PIDS: cluster.pids.join(','), LOAD_DATABASE_URL: cluster.databaseUrl ?? '' },
    });
    child.on('exit', (code) => void finish(code ?? 1));
    return;
  }
  console.log('Ctrl-C stops everything.');
  // Keep the process alive until a signal or the max lifetime.
  setInterval(() => {}, 1 << 30);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof UsageError ? `error: ${error.message}` : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
