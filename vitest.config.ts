import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['gateway/test/**/*.test.ts', 'web/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    globalSetup: ['gateway/test/harness/build.ts'],
    pool: 'forks',
    // Two cores: integration files start their own redis-server and gateway processes.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
