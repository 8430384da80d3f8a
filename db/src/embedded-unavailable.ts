/**
 * Stands in for `embedded.ts` in the production build (services/chat/build.mjs bundles
 * this file instead): the embedded PostgreSQL is a development tool, and production
 * without DATABASE_URL must refuse to start with a clear message.
 */
import type { EmbeddedOptions, EmbeddedServer } from './embedded.ts';

export type { EmbeddedOptions, EmbeddedServer };

export async function startEmbeddedPostgres(_options: EmbeddedOptions): Promise<EmbeddedServer> {
  throw Object.assign(
    new Error('DATABASE_URL is not set. The production build has no embedded PostgreSQL (it is for `make dev` and the tests): set DATABASE_URL to your PostgreSQL server.'),
    { code: 'EMBEDDED_POSTGRES_UNAVAILABLE' },
  );
}
