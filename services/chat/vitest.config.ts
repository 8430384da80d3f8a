import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['@chat/test-support/global-setup'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each file gets its own database cloned from a migrated template, so files run in parallel.
    fileParallelism: true,
  },
});
