import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The chat service's own test database setup: TEST_DATABASE_URL, else testcontainers, else
    // an embedded PostgreSQL; it migrates a template database that each test file clones.
    globalSetup: ['@chat/test-support/global-setup'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
  },
});
