import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The service's own: TEST_DATABASE_URL, else testcontainers, else an embedded PostgreSQL; a migrated template database.
    globalSetup: ['@chat/test-support/global-setup'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
