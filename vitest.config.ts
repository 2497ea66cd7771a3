import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests by kind, one vitest project each (`vitest run --project unit`; `npm test` runs all):
 * - unit: pure logic and in-process memory twins; no child process, no redis-server, no build.
 * - contract: the stores against a real redis-server (started by the test on a free port).
 * - integration, faults, ops: gateways spawned from dist/, so these build first (globalSetup).
 * - browser: the page and demos in Chromium through nginx; bench: the benchmark's smoke run.
 */
const BUILD = ['gateway/test/harness/build.ts'];
const BROWSER = ['web/test/e2e.test.ts', 'web/test/demos.test.ts', 'web/test/server-removal-page.test.ts', 'web/test/large-presence-page.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Two cores, shared by every project: integration files start their own redis-server and gateway processes.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['gateway/test/unit/**/*.test.ts', 'web/test/*.test.ts'], exclude: [...configDefaults.exclude, ...BROWSER] } },
      { extends: true, test: { name: 'contract', include: ['gateway/test/contract/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['gateway/test/integration/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'faults', include: ['gateway/test/faults/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'ops', include: ['gateway/test/ops/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'browser', include: BROWSER, globalSetup: BUILD } },
      { extends: true, test: { name: 'bench', include: ['bench/test/**/*.test.ts'], globalSetup: BUILD } },
    ],
  },
});
