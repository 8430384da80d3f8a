/**
 * `pnpm migrate`: applies the migrations to DATABASE_URL; without it, to the embedded
 * server's data folder, the one the service uses: <CHAT_DATA_DIR>/postgres (CHAT_DATA_DIR
 * defaults to <repo>/.data).
 */
import path from 'node:path';
import { startEmbeddedPostgres } from './embedded.ts';
import { migrate } from './index.ts';

const url = process.env.DATABASE_URL;
if (url) {
  await migrate(url);
  console.log('migrated', url.replace(/\/\/[^@]*@/, '//***@'));
} else {
  const dataDir = path.join(process.env.CHAT_DATA_DIR ?? path.resolve(import.meta.dirname, '../../.data'), 'postgres');
  const server = await startEmbeddedPostgres({ dataDir }).catch((error: Error & { code?: string }) => {
    if (error.code !== 'EMBEDDED_POSTGRES_UNAVAILABLE') throw error;
    console.error(error.message);
    process.exit(2);
  });
  try {
    await migrate(server.url);
    console.log('migrated embedded database in', server.dataDir);
  } finally {
    await server.stop();
  }
}
