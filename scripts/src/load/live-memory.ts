/**
 * Live memory per idle connection: one instance in this process (run with --expose-gc),
 * N subscribed sockets opened by a child process, a full GC before both readings. The
 * `idle` scenario reads RSS deltas of busy processes, which include whatever garbage the
 * handshakes left; this reads what the sockets keep alive.
 *
 *   pnpm bench:live-memory [--clients 10000] [--room-size 10] [--database-url URL]
 *
 * Without --database-url it starts an embedded PostgreSQL in a temporary folder. Loopback only.
 */
import { migrate } from '@chat/db';
import { buildApp, createLogger } from '@chat/service';
import { loadConfig } from '@chat/service/config';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startThrowawayPostgres } from './cluster.ts';
import { LIMITS, assertLoopbackUrl, clamp, sleep } from './common.ts';
import { createPopulation } from './setup.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc (pnpm bench:live-memory does)');
  process.exit(2);
}
const { values } = parseArgs({ options: { clients: { type: 'string' }, 'room-size': { type: 'string' }, 'database-url': { type: 'string' } } });
const clients = clamp(Number(values.clients ?? 10_000), 1, LIMITS.maxClients);
const roomSize = clamp(Number(values['room-size'] ?? 10), 0, LIMITS.maxRoomSize);
const CLIENT = fileURLToPath(new URL('./live-memory-client.ts', import.meta.url));

function collect(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage();
}

/** Opens `tokens.length` sockets in a child process; resolves once all are resumed. */
function openSockets(url: string, tokens: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = fork(CLIENT, [url], { execArgv: ['--import', 'tsx'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`client process exited with ${code}`)));
    child.once('message', () => resolve(child));
    child.send(tokens);
  });
}

function closeSockets(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.send('close');
  });
}

let cleanup = async () => {};
try {
  let databaseUrl = values['database-url'];
  if (databaseUrl) assertLoopbackUrl(databaseUrl, '--database-url');
  else {
    const server = await startThrowawayPostgres('chat-live-memory-');
    cleanup = server.stop;
    databaseUrl = server.url;
  }
  await migrate(databaseUrl);
  const config = loadConfig(
    { LOG_LEVEL: 'warn' },
    { databaseUrl, host: '127.0.0.1', port: 0, connectsPerIpPerMin: 10_000_000, maxConnectionsPerUser: 10_000, seedDemo: false, migrateOnStart: false },
  );
  const chat = await buildApp(config, createLogger(config));
  const url = `${(await chat.app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http/, 'ws')}/ws`;
  const population = await createPopulation({ clients, roomSize, targets: [url], mode: 'db', databaseUrl });
  const tokens = population.users.map((u) => u.token);

  // Warm up (code paths, pools, caches), then measure from a collected heap.
  await closeSockets(await openSockets(url, tokens.slice(0, 200)));
  await sleep(1000);
  const before = collect();
  const child = await openSockets(url, tokens);
  await sleep(1000);
  const after = collect();
  const kib = (key: 'heapUsed' | 'external' | 'rss') => Math.round(((after[key] - before[key]) / clients / 1024) * 100) / 100;
  const result = { clients, roomSize, heapUsedKib: kib('heapUsed'), externalKib: kib('external'), rssKib: kib('rss'), connected: chat.gateway.registry.size };
  console.log(`live memory per idle connection at ${clients} (rooms of ${roomSize}), after a full GC: heap ${result.heapUsedKib} KiB, external ${result.externalKib} KiB, RSS ${result.rssKib} KiB`);
  console.log(JSON.stringify(result));
  await closeSockets(child);
  // Let the server finish each socket's close (presence clean-up) before the database goes.
  for (let i = 0; i < 100 && chat.gateway.registry.size > 0; i++) await sleep(50);
  await chat.app.close();
  await sleep(1000); // late presence clean-ups finish before the database stops
} finally {
  await cleanup();
}
process.exit(0);
