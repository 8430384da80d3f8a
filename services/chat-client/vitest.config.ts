import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The service's own setup: a real PostgreSQL (TEST_DATABASE_URL, testcontainers or embedded)
    // and a migrated template database that each test file clones.
    globalSetup: ['@chat/test-support/global-setup'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
  },
});
