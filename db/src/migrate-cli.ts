/** `pnpm migrate`: applies migrations to DATABASE_URL, or to the embedded server's data folder. */
import path from 'node:path';
import { startEmbeddedPostgres } from './embedded.ts';
import { migrate } from './index.ts';

const url = process.env.DATABASE_URL;
if (url) {
  await migrate(url);
  console.log('migrated', url.replace(/\/\/[^@]*@/, '//***@'));
} else {
  // The same folder the service uses: <CHAT_DATA_DIR>/postgres, CHAT_DATA_DIR defaulting to .data.
  const dataDir = path.join(process.env.CHAT_DATA_DIR ?? path.resolve(import.meta.dirname, '../../.data'), 'postgres');
  const server = await startEmbeddedPostgres({ dataDir });
  await migrate(server.url);
  console.log('migrated embedded database in', dataDir);
  await server.stop();
}
