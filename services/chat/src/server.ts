/** Entry point: database (given or embedded), migrations, listen, graceful shutdown. */
import { connect, migrate } from '@chat/db';
import { seedDemo } from '@chat/db/seed';
import path from 'node:path';
import { buildApp, createLogger, type ChatApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`configuration error: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
const log = createLogger(config);
if (config.usingDevSecret) log.warn('AUTH_SECRET is not set: using the development secret (refused when NODE_ENV=production)');

let chat: ChatApp | null = null;
let stopEmbedded: (() => Promise<void>) | null = null;
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'draining');
  const hardStop = setTimeout(() => {
    log.error('drain took too long; exiting');
    process.exit(1);
  }, config.drainMs + 5000);
  hardStop.unref();
  await chat?.drain();
  // Only now: the drain still writes (queued sends, presence).
  await stopEmbedded?.();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

let databaseUrl = config.databaseUrl;
if (!databaseUrl) {
  const dataDir = path.join(config.dataDir, 'postgres');
  log.info({ dataDir }, 'DATABASE_URL not set: starting embedded PostgreSQL');
  try {
    // A development dependency, imported only here; the production build has a stand-in that refuses.
    const { startEmbeddedPostgres } = await import('@chat/db/embedded');
    // In a process group of its own, so Ctrl-C or `make dev`'s SIGTERM to ours reaches it
    // only through shutdown(), after the drain.
    const embedded = await startEmbeddedPostgres({ dataDir, port: config.embeddedPgPort, detached: true });
    stopEmbedded = embedded.stop;
    databaseUrl = embedded.url;
    if (embedded.dataDir !== dataDir) log.info({ dataDir: embedded.dataDir }, 'embedded PostgreSQL data placed where the postgres user can reach it');
  } catch (error) {
    if ((error as { code?: string }).code !== 'EMBEDDED_POSTGRES_UNAVAILABLE') throw error;
    console.error(`configuration error: ${(error as Error).message}`);
    process.exit(2);
  }
}
if (config.migrateOnStart) {
  await migrate(databaseUrl);
  log.info('migrations applied');
}
if (config.seedDemo) {
  const seeding = connect(databaseUrl, { max: 1 });
  await seedDemo(seeding.db);
  await seeding.end();
  log.info('demo users and lobby present (alice, bob, carol, support)');
}

chat = await buildApp({ ...config, databaseUrl }, log);
const address = await chat.app.listen({ host: config.host, port: config.port });
log.info({ address, websocket: `${address.replace(/^http/, 'ws')}/ws` }, 'chat service listening');
if (!config.databaseUrl) {
  console.log(
    `\n  Chat service ready on ${address} (WebSocket ${address.replace(/^http/, 'ws')}/ws)\n` +
      `  Demo token (in the repository):  npx -y pnpm@10.34.9 -s run token alice\n` +
      `  then  curl -H "Authorization: Bearer $(npx -y pnpm@10.34.9 -s run token alice)" ${address}/v1/conversations\n`,
  );
}

